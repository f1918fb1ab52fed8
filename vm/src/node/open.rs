//! Opening a chain at Initialize: the chain config, the database, the genesis (written when the
//! database is new, checked against the stored one otherwise), and every part of a running chain.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use kvvm_genesis::{genesis_hash, Genesis};
use kvvm_storage::lattice::LtHash;
use kvvm_storage::store::account_access_element;
use kvvm_storage::{Account, ChainStore, Entry, GenesisState, Role, StoreOptions, Usage};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::block::Block;
use crate::builder::Builder;
use crate::chain::{Chain, ChainParams, Clock};
use crate::chain_config::ChainConfig;
use crate::engine_state::EngineState;
use crate::execute::lattice_of;
use crate::gossip::{Gossip, GossipContext};
use crate::ids::BlockId;
use crate::mempool::{Admission, AdmissionParts, FateLog, Mempool};
use crate::metrics::Metrics;
use crate::node::state_sync::{genesis_summary, ChainSync};
use crate::node::{ChainIdentity, OpenChain, VmError};
use crate::peers::Peers;
use crate::state_sync::fetch::SyncClient;
use crate::state_sync::serve::SummaryServer;
use crate::tip::{Tip, TipSnapshot};
use crate::tx::{AccountId, VerifiedSignatures};

/// What Initialize hands the VM, already decoded from protobuf.
pub struct InitParams {
    pub network_id: u32,
    pub chain_id: [u8; 32],
    pub node_id: Vec<u8>,
    pub chain_data_dir: PathBuf,
    pub genesis_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
    /// The node's callback server (AppSender and friends).
    pub server_addr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("this chain's data directory was created with a different genesis (stored genesis hash {}, given {}); use the original genesis or an empty data directory", hex::encode(.stored), hex::encode(.given))]
    GenesisMismatch { stored: [u8; 32], given: [u8; 32] },
    #[error("the chain database is missing metadata it should have")]
    MissingMetadata,
    #[error("the stored last accepted block {0} does not decode")]
    UndecodableTip(BlockId),
    #[error(
        "the last accepted pointer ({pointer} at height {height}) disagrees with the stored block"
    )]
    TipMismatch { pointer: BlockId, height: u64 },
    #[error("the stored state lattice does not match the last accepted block's state root")]
    LatticeMismatch,
    #[error("the stored entries and nonces do not add up to the stored state lattice")]
    StateMismatch,
    /// Any of the findings above, or RocksDB's report of a damaged file, with the way out.
    #[error("the chain database at {path} is damaged ({reason}); restore the data directory from a backup, or empty it so the node fetches the chain from its peers")]
    Damaged { path: String, reason: String },
    #[error("the chain marker {path}: {reason}")]
    Marker { path: String, reason: String },
    #[error("storage: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
}

/// Opens (or creates) the chain. Blocking: RocksDB work; `runtime` runs the gossip tasks.
pub fn open(
    init: InitParams,
    clock: Clock,
    runtime: &tokio::runtime::Handle,
) -> Result<OpenChain, VmError> {
    let config = ChainConfig::parse(&init.config_bytes)?;
    let hash = genesis_hash(&init.genesis_bytes);
    let db_path = init.chain_data_dir.join("kvvm-db");
    let marker = init.chain_data_dir.join(CHAIN_MARKER);
    let had_chain = marker.try_exists().map_err(|e| OpenError::Marker {
        path: marker.display().to_string(),
        reason: e.to_string(),
    })?;
    let store = ChainStore::open(
        &db_path,
        StoreOptions {
            lock_wait: Duration::from_millis(config.db_lock_wait_ms),
            block_cache_bytes: config.db_cache_bytes,
            write_buffer_bytes: config.db_write_buffer_bytes,
            ..StoreOptions::default()
        },
    )
    .map_err(|e| named_if_damage(&db_path, e.into()))?;
    if had_chain && !store.is_initialized()? {
        return Err(OpenError::Damaged {
            path: db_path.display().to_string(),
            reason: format!(
                "the file {CHAIN_MARKER} beside it says it held a chain, and it holds none"
            ),
        }
        .into());
    }
    // A genesis timestamp is only checked against the clock when the chain is created: once
    // accepted, the same bytes must keep opening on any later day.
    let genesis_now = if store.is_initialized()? {
        u64::MAX
    } else {
        clock() / 1000
    };
    let genesis = Genesis::parse(&init.genesis_bytes, genesis_now)?;
    let params = ChainParams::new(init.chain_id, &genesis);
    let metrics = Arc::new(Metrics::new());
    let signatures = Arc::new(
        VerifiedSignatures::new(config.verified_signature_cache, config.sender_key_cache)
            .counting_checks_in(metrics.signature_checks.clone()),
    );
    let chain = open_chain(
        store.clone(),
        &genesis,
        hash,
        params.clone(),
        signatures.clone(),
        clock.clone(),
    )
    .map_err(|e| named_if_damage(&db_path, e))?
    .keeping_blocks(config.keep_blocks);
    // Mid-sync, the store holds part of a summary's state under a genesis tip: nothing to check
    // until the sync ends (each bucket was checked as it came in).
    let syncing = store.state_sync_progress()?.is_some();
    if config.verify_state_on_start && !syncing {
        verify_state(&store).map_err(|e| named_if_damage(&db_path, e))?;
    }
    if !had_chain {
        write_marker(&marker)?;
    }
    let tip = Tip::new(TipSnapshot::of(&chain)?);
    metrics
        .last_accepted_height
        .set(chain.last_accepted().height as i64);
    let mempool = Arc::new(Mempool::new(config.mempool));
    let fates = Arc::new(FateLog::new(config.fate_log_capacity));
    let admission = Admission::new(AdmissionParts {
        params: params.clone(),
        mempool: mempool.clone(),
        store: store.clone(),
        tip: tip.clone(),
        signatures: signatures.clone(),
        fates: fates.clone(),
        metrics: metrics.clone(),
    });
    let (signatures_kept, clock_kept) = (signatures.clone(), clock.clone());
    let builder = Builder::new(
        params.clone(),
        mempool.clone(),
        tip.clone(),
        signatures,
        clock,
        config.min_block_gap_ms,
    );
    let peers = Peers::default();
    let outbound = crate::gossip::outbound_for(&init.server_addr);
    let (_, initial_state) = genesis_state(&genesis, hash);
    let sync = ChainSync {
        config: config.state_sync,
        server: Arc::new(
            SummaryServer::open(
                &init.chain_data_dir.join(SNAPSHOT_DIR),
                config.state_sync,
                metrics.clone(),
            )
            .map_err(OpenError::from)?,
        ),
        client: Arc::new(SyncClient::new(
            outbound.clone(),
            peers.clone(),
            init.node_id.clone(),
            metrics.clone(),
        )),
        outbound,
        genesis_summary: genesis_summary(&initial_state)?,
        genesis: initial_state,
        finished: watch::channel(false).0,
        running: AtomicBool::new(false),
        runtime: runtime.clone(),
    };
    sync.summarize_in_background();
    let gossip = Gossip::start(
        GossipContext {
            config: config.gossip,
            max_tx_bytes: params.limits.max_tx_bytes as usize,
            admission: admission.clone(),
            mempool: mempool.clone(),
            tip: tip.clone(),
            peers: peers.clone(),
            metrics: metrics.clone(),
            node_id: init.node_id,
            server_addr: init.server_addr,
        },
        runtime,
    );
    Ok(OpenChain {
        identity: ChainIdentity {
            params,
            network_id: init.network_id,
            genesis_hash: hash,
        },
        config,
        chain: Mutex::new(chain),
        store,
        tip,
        mempool,
        admission,
        builder,
        fates,
        metrics,
        peers,
        state: watch::channel(EngineState::Starting).0,
        gossip: Arc::new(gossip),
        sync,
        signatures: signatures_kept,
        clock: clock_kept,
    })
}

/// A file beside the database, written once the database holds a chain. RocksDB opens a database
/// whose manifest lost its tail (or whose files were lost) as an older or an empty one; an empty
/// one would quietly become a new chain at genesis. The marker makes that a refusal instead.
const CHAIN_MARKER: &str = "kvvm-chain";

/// Where state snapshots and their summaries live, beside the database.
const SNAPSHOT_DIR: &str = "kvvm-snapshots";

/// Writes the marker durably: the file and the directory entry naming it.
fn write_marker(path: &std::path::Path) -> Result<(), OpenError> {
    let failed = |e: std::io::Error| OpenError::Marker {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

/// Reads every entry and nonce back and checks them against the stored lattice (which
/// `open_chain` checked against the last accepted block's state root). The lattice only summarises
/// the state: this proves the state about to be served is the one the root commits to, and has
/// RocksDB check the checksum of every file block that holds it, so a damaged file fails here and
/// not at a client's read. It costs a scan of the state (`verifyStateOnStart` turns it off).
fn verify_state(store: &ChainStore) -> Result<(), OpenError> {
    let started = std::time::Instant::now();
    if store.recompute_lattice()?.checksum() != store.lattice()?.checksum() {
        return Err(OpenError::StateMismatch);
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "state read back and checked against its root"
    );
    Ok(())
}

/// `err` as [`OpenError::Damaged`] when it says the files under `path` are damaged.
fn named_if_damage(path: &std::path::Path, err: OpenError) -> OpenError {
    let damaged = match &err {
        OpenError::Storage(storage) => storage.is_damage(),
        OpenError::MissingMetadata
        | OpenError::UndecodableTip(_)
        | OpenError::TipMismatch { .. }
        | OpenError::LatticeMismatch
        | OpenError::StateMismatch => true,
        OpenError::GenesisMismatch { .. }
        | OpenError::Damaged { .. }
        | OpenError::Marker { .. } => false,
    };
    if !damaged {
        return err;
    }
    OpenError::Damaged {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

/// The chain `store` holds, writing the genesis first if the store is new: what the plugin runs on,
/// and what a test producing blocks as another validator would starts from.
pub fn open_chain(
    store: ChainStore,
    genesis: &Genesis,
    genesis_hash: [u8; 32],
    params: ChainParams,
    signatures: Arc<VerifiedSignatures>,
    clock: Clock,
) -> Result<Chain, OpenError> {
    let (last_accepted, lattice) = load_or_write_genesis(&store, genesis, genesis_hash)?;
    Ok(Chain::new(
        store,
        last_accepted,
        lattice,
        params,
        signatures,
        clock,
    ))
}

/// The last accepted block and the lattice of the state after it, writing the genesis block
/// first if the store is new.
fn load_or_write_genesis(
    store: &ChainStore,
    genesis: &Genesis,
    hash: [u8; 32],
) -> Result<(Arc<Block>, LtHash), OpenError> {
    if store.is_initialized()? {
        let stored = store.genesis_hash()?.ok_or(OpenError::MissingMetadata)?;
        if stored != hash {
            return Err(OpenError::GenesisMismatch {
                stored,
                given: hash,
            });
        }
    } else {
        let (block, state) = genesis_state(genesis, hash);
        tracing::info!(block = %block.id, entries = state.entries.len(), "writing genesis");
        store.write_genesis(state)?;
    }
    load_tip(store)
}

/// The last accepted block and the lattice of the state after it, checked against each other.
pub(crate) fn load_tip(store: &ChainStore) -> Result<(Arc<Block>, LtHash), OpenError> {
    let (id, height) = store.last_accepted()?.ok_or(OpenError::MissingMetadata)?;
    let id = BlockId(id);
    let bytes = store
        .block(id.as_bytes())?
        .ok_or(OpenError::MissingMetadata)?;
    let block = Block::decode(&bytes, usize::MAX).map_err(|_| OpenError::UndecodableTip(id))?;
    if block.id != id || block.height != height {
        return Err(OpenError::TipMismatch {
            pointer: id,
            height,
        });
    }
    let lattice = store.lattice()?;
    if lattice.checksum() != block.state_root {
        return Err(OpenError::LatticeMismatch);
    }
    Ok((Arc::new(block), lattice))
}

/// The genesis block and the state it starts.
pub fn genesis_state(genesis: &Genesis, genesis_hash: [u8; 32]) -> (Block, GenesisState) {
    let entries: Vec<(Vec<u8>, Entry)> = genesis
        .entries
        .iter()
        .map(|e| {
            let entry = Entry {
                value: e.value.clone(),
                owner: e.owner,
                height: 0,
            };
            (e.key.clone(), entry)
        })
        .collect();
    let accounts = genesis_accounts(genesis);
    let mut lattice = lattice_of(
        entries.iter().map(|(k, e)| (k.as_slice(), e)),
        std::iter::empty(),
    );
    for (account, record) in &accounts {
        if let Some(element) = account_access_element(account, record) {
            lattice.add(&element);
        }
    }
    // The parent of genesis is the genesis hash: 32 bytes, never all zeros, and different for
    // every genesis document.
    let block = Block::new(
        BlockId(genesis_hash),
        0,
        genesis.timestamp * 1000,
        Vec::new(),
        lattice.checksum(),
    );
    let state = GenesisState {
        genesis_hash,
        block_id: block.id.0,
        block_bytes: block.bytes.clone(),
        entries,
        accounts,
        lattice,
    };
    (block, state)
}

/// The account records genesis starts with: its admins, and each owner's usage of its entries.
/// A genesis without admins gives records with usage only, which the lattice does not cover, so
/// its state root is what it was before account records existed.
fn genesis_accounts(genesis: &Genesis) -> Vec<(AccountId, Account)> {
    let mut accounts: BTreeMap<AccountId, Account> = BTreeMap::new();
    for admin in &genesis.access.admins {
        accounts.entry(*admin).or_default().role = Role::Admin;
    }
    for entry in &genesis.entries {
        let record = accounts.entry(entry.owner).or_default();
        record.usage = record.usage.plus(Usage::of_entry(&entry.key, &entry.value));
    }
    accounts.into_iter().collect()
}
