//! What the fuzz targets share: a fixed chain (its ID, clock, signers and genesis), a small state
//! in a real RocksDB in a temporary directory, and an initialized VM with its JSON-RPC bridge.
//!
//! Everything is built once per fuzzing process and never changed by a target: an input's verdict
//! must depend on the input alone, or a crash could not be replayed.

use std::sync::{Arc, OnceLock};

use ed25519_dalek::SigningKey;
use kvvm::chain::{Chain, ChainParams, Clock};
use kvvm::node::open::{open_chain, InitParams};
use kvvm::node::KvVm;
use kvvm::tx::VerifiedSignatures;
use kvvm_genesis::{
    genesis_hash, Access, AccessMode, ChainLimits, Genesis, GenesisEntry, QuotaLimits,
};
use kvvm_rpc::HttpBridge;
use kvvm_storage::ChainStore;

pub const CHAIN_ID: [u8; 32] = [7; 32];
/// The fixed "now" of every target, so no verdict depends on the wall clock.
pub const NOW_MS: u64 = 1_800_000_000_000;
/// The genesis block's time: a minute before [`NOW_MS`].
pub const GENESIS_UNIX: u64 = NOW_MS / 1000 - 60;
/// Signers a structured input picks from; the first two own genesis keys.
pub const SIGNERS: usize = 4;
/// The protocol version the bridge reports (any value: it is only echoed by `chainInfo`).
pub const PROTOCOL: u32 = 42;

/// Small limits, so structured inputs reach every limit's edge.
pub fn limits() -> ChainLimits {
    ChainLimits {
        max_key_bytes: 16,
        max_value_bytes: 64,
        max_ops_per_tx: 4,
        max_tx_bytes: 512,
        max_txs_per_block: 8,
        max_block_bytes: 4096,
    }
}

pub fn signer(index: usize) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        (1..=SIGNERS as u8)
            .map(|seed| SigningKey::from_bytes(&[seed; 32]))
            .collect()
    });
    &keys[index % SIGNERS]
}

/// The keys the genesis writes, each owned by signer `index % 2`.
pub const GENESIS_KEYS: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];

/// The quota of every account on the restricted chain: one key past what signer 0 owns at
/// genesis, so a structured input reaches the limit in a transaction or two.
pub const RESTRICTED_QUOTA: QuotaLimits = QuotaLimits {
    max_keys: 3,
    max_bytes: 40,
};

/// The genesis of the chain in `mode`. Open: anyone writes, no quota (what strangers send, which
/// an open chain lets in). Restricted: signer 0 is the only admin, and every account has
/// [`RESTRICTED_QUOTA`], so role and quota operations meet their rules.
pub fn genesis(mode: AccessMode) -> Genesis {
    let access = match mode {
        AccessMode::Open => Access::default(),
        AccessMode::Restricted => Access {
            mode,
            admins: vec![signer(0).verifying_key().to_bytes()],
            default_quota: Some(RESTRICTED_QUOTA),
        },
    };
    Genesis {
        timestamp: GENESIS_UNIX,
        limits: limits(),
        entries: GENESIS_KEYS
            .iter()
            .enumerate()
            .map(|(index, key)| GenesisEntry {
                key: key.to_vec(),
                value: format!("value-{index}").into_bytes(),
                owner: signer(index % 2).verifying_key().to_bytes(),
            })
            .collect(),
        access,
    }
}

pub fn clock() -> Clock {
    Arc::new(|| NOW_MS)
}

pub fn params(mode: AccessMode) -> ChainParams {
    ChainParams::new(CHAIN_ID, &genesis(mode))
}

/// A RocksDB holding the genesis state, opened once. Targets only read it: verify writes nothing.
struct GenesisStore {
    store: ChainStore,
    genesis: Genesis,
    hash: [u8; 32],
    _dir: tempfile::TempDir,
}

fn genesis_store(mode: AccessMode) -> &'static GenesisStore {
    static OPEN: OnceLock<GenesisStore> = OnceLock::new();
    static RESTRICTED: OnceLock<GenesisStore> = OnceLock::new();
    let cell = match mode {
        AccessMode::Open => &OPEN,
        AccessMode::Restricted => &RESTRICTED,
    };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = ChainStore::open(&dir.path().join("db"), Default::default())
            .expect("opening RocksDB in a fresh directory");
        let genesis = genesis(mode);
        let hash = genesis_hash(genesis.to_json_pretty().as_bytes());
        // Writes the genesis state; later chains only load it.
        open_chain(
            store.clone(),
            &genesis,
            hash,
            params(mode),
            Arc::new(VerifiedSignatures::new(16, 16)),
            clock(),
        )
        .expect("writing the genesis");
        GenesisStore {
            store,
            genesis,
            hash,
            _dir: dir,
        }
    })
}

/// The store under [`fresh_chain`], to check that verify left it as it was.
pub fn genesis_store_handle(mode: AccessMode) -> &'static ChainStore {
    &genesis_store(mode).store
}

/// A chain with nothing processing over the genesis state, as Initialize opens it.
pub fn fresh_chain(mode: AccessMode, signatures: Arc<VerifiedSignatures>) -> Chain {
    let fixture = genesis_store(mode);
    open_chain(
        fixture.store.clone(),
        &fixture.genesis,
        fixture.hash,
        params(mode),
        signatures,
        clock(),
    )
    .expect("opening the genesis chain")
}

/// The runtime the async targets run on; one worker, like one fuzzing core.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// A VM initialized as the node does it (no peers, no AppSender), and its JSON-RPC bridge. The
/// gossip and JSON-RPC targets may add validly signed transactions to its pool, never blocks.
pub struct ServedVm {
    pub vm: Arc<KvVm>,
    pub bridge: HttpBridge,
    /// The wire names of the JSON-RPC methods the bridge serves, sorted.
    pub methods: Vec<&'static str>,
    _dir: tempfile::TempDir,
}

pub fn served_vm() -> &'static ServedVm {
    static VM: OnceLock<ServedVm> = OnceLock::new();
    VM.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let vm = Arc::new(KvVm::with_clock(clock()));
        let init = InitParams {
            network_id: 12345,
            chain_id: CHAIN_ID,
            node_id: vec![1; 20],
            chain_data_dir: dir.path().to_path_buf(),
            genesis_bytes: genesis(AccessMode::Open).to_json_pretty().into_bytes(),
            // A fuzzer is one peer sending as fast as it can: the per-peer throttle would drop
            // nearly every message before it is read.
            config_bytes:
                br#"{"gossipPeerMsgsPerSec": 1000000, "gossipPeerBytesPerSec": 1073741824}"#
                    .to_vec(),
            server_addr: String::new(),
        };
        runtime()
            .block_on(vm.initialize(init))
            .expect("initializing the VM");
        let (bridge, methods) = runtime()
            .block_on(async { kvvm::fuzzing::rpc_bridge(vm.clone(), PROTOCOL) })
            .expect("building the JSON-RPC bridge");
        ServedVm {
            vm,
            bridge,
            methods,
            _dir: dir,
        }
    })
}
