//! The VM as the node drives it, in domain types: one handle that owns the chain, the mempool, the
//! engine state and the metrics. `plugin::vm_service` adapts it to gRPC.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use kvvm_genesis::{genesis_hash, Genesis};
use kvvm_storage::{ChainStore, StoreOptions};
use tokio::sync::watch;

use crate::block::{short_hex, Block, BlockId};
use crate::chain::{system_clock_ms, Chain, ChainParams, Clock, OpenError};
use crate::chain_config::ChainConfig;
use crate::error::{ChainError, TxError};
use crate::execute::StateView;
use crate::gossip::Gossip;
use crate::mempool::{AddError, Mempool};
use crate::metrics::Metrics;
use crate::status::{Fate, FateLog};
use crate::tx::{Transaction, TxId, VerifiedSignatures};

/// The node's engine state (`snow.State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineState {
    Starting,
    StateSyncing,
    Bootstrapping,
    NormalOp,
}

impl EngineState {
    fn as_str(self) -> &'static str {
        match self {
            EngineState::Starting => "starting",
            EngineState::StateSyncing => "state_syncing",
            EngineState::Bootstrapping => "bootstrapping",
            EngineState::NormalOp => "normal_op",
        }
    }
}

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

/// A summary of a block as the node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSummary {
    pub id: BlockId,
    pub parent: BlockId,
    pub height: u64,
    pub timestamp_ms: u64,
    pub bytes: Vec<u8>,
}

impl From<&Block> for BlockSummary {
    fn from(b: &Block) -> Self {
        Self {
            id: b.id,
            parent: b.parent,
            height: b.height,
            timestamp_ms: b.timestamp_ms,
            bytes: b.bytes.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("the VM is not initialized")]
    NotInitialized,
    #[error("the VM is already initialized")]
    AlreadyInitialized,
    #[error("the VM is shut down")]
    ShutDown,
    #[error("genesis: {0}")]
    Genesis(#[from] kvvm_genesis::GenesisError),
    #[error("chain config: {0}")]
    Config(#[from] crate::chain_config::ConfigError),
    #[error("opening the chain: {0}")]
    Open(#[from] OpenError),
    #[error("storage: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("ID must be 32 bytes, got {0}")]
    BadId(usize),
    #[error("a worker thread failed: {0}")]
    Join(String),
}

/// Everything that exists once Initialize succeeded.
pub struct Running {
    pub params: ChainParams,
    pub network_id: u32,
    pub config: ChainConfig,
    pub genesis_hash: [u8; 32],
    /// Consensus calls (verify, accept, reject, build, preference). A std `Mutex`: the node issues
    /// these one at a time under its chain lock, so the lock is uncontended there; it is held across
    /// accept's synced disk write on purpose (nothing may see a half-accepted chain), and nothing that
    /// must stay responsive takes it — reads go to `store`, `tip` and the mempool instead.
    chain: Mutex<Chain>,
    pub store: ChainStore,
    pub mempool: Arc<Mempool>,
    pub metrics: Arc<Metrics>,
    pub signatures: Arc<VerifiedSignatures>,
    pub fates: FateLog,
    pub node_id: Vec<u8>,
    pub server_addr: String,
    /// Every admitted transaction, for the gossip layer to push to peers. Lagging receivers miss
    /// events; periodic regossip covers them.
    pub admitted: tokio::sync::broadcast::Sender<Admitted>,
    clock: Clock,
    /// Last accepted block, processing blocks and the preferred state, refreshed after every
    /// consensus call, for readers that must not wait on `chain`.
    tip: RwLock<TipSnapshot>,
    state: watch::Sender<EngineState>,
    /// Mempool version at the last BuildBlock that found nothing to build, so WaitForEvent does not
    /// announce the same unbuildable pool again (that would loop build/poll).
    failed_build_version: AtomicU64,
    peers: Mutex<HashSet<Vec<u8>>>,
}

#[derive(Clone)]
struct TipSnapshot {
    last_accepted: BlockSummary,
    processing: Vec<Arc<Block>>,
    preferred: Arc<Block>,
    preferred_view: StateView,
}

/// A transaction that entered the mempool, and the peer it came from (`None`: submitted here).
#[derive(Clone, Debug)]
pub struct Admitted {
    pub id: TxId,
    pub source: Option<Vec<u8>>,
}

/// Where a transaction stands, as far as this node knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxState {
    Pending,
    Accepted { height: u64, block: BlockId },
    Rejected { reason: String },
    Dropped { reason: String },
    Unknown,
}

/// Why a submitted transaction was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Pool(#[from] AddError),
    #[error("transaction is already accepted at height {0}")]
    AlreadyAccepted(u64),
    #[error("storage: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
}

impl Running {
    fn chain(&self) -> MutexGuard<'_, Chain> {
        // Chain methods leave the tree consistent before any fallible step, so a panic in one call
        // does not leave it half-updated; keep serving rather than poisoning every later call.
        self.chain.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn last_accepted(&self) -> BlockSummary {
        self.tip
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last_accepted
            .clone()
    }

    pub fn processing_count(&self) -> usize {
        self.snapshot().processing.len()
    }

    fn snapshot(&self) -> TipSnapshot {
        self.tip.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A processing block by ID, without waiting on consensus.
    pub fn processing_block(&self, id: &BlockId) -> Option<Arc<Block>> {
        self.snapshot().processing.into_iter().find(|b| b.id == *id)
    }

    /// The preferred tip and the state as of it.
    pub fn preferred(&self) -> (Arc<Block>, StateView) {
        let snapshot = self.snapshot();
        (snapshot.preferred, snapshot.preferred_view)
    }

    fn refresh_tip(&self, chain: &Chain) -> Result<(), ChainError> {
        let (preferred, preferred_view) = chain.preferred_view()?;
        let snapshot = TipSnapshot {
            last_accepted: BlockSummary::from(chain.last_accepted().as_ref()),
            processing: chain.processing_blocks(),
            preferred,
            preferred_view,
        };
        self.metrics
            .last_accepted_height
            .set(snapshot.last_accepted.height as i64);
        self.metrics
            .processing_blocks
            .set(snapshot.processing.len() as i64);
        *self.tip.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
        Ok(())
    }

    /// Checks a transaction submitted to this node and keeps it for a block.
    pub fn admit(&self, tx: Transaction) -> Result<TxId, AdmitError> {
        self.admit_from(tx, None)
    }

    /// Checks a new transaction against the preferred state and keeps it for a block; `source` is
    /// the peer that gossiped it. Admission never waits on consensus work: it reads the
    /// preferred-state snapshot.
    pub fn admit_from(&self, tx: Transaction, source: Option<Vec<u8>>) -> Result<TxId, AdmitError> {
        let id = tx.id;
        let result = self.try_admit(tx);
        match &result {
            Ok(()) => {
                self.fates.forget(&id);
                let _ = self.admitted.send(Admitted { id, source });
            }
            // A duplicate is not a verdict on the transaction: keep whatever status it has.
            Err(AdmitError::Pool(AddError::Duplicate)) | Err(AdmitError::AlreadyAccepted(_)) => {}
            Err(e) => self.fates.record(id, Fate::Rejected, e.to_string()),
        }
        self.metrics.mempool_txs.set(self.mempool.len() as i64);
        result.map(|()| id)
    }

    fn try_admit(&self, tx: Transaction) -> Result<(), AdmitError> {
        if self.mempool.contains(&tx.id) {
            return Err(AddError::Duplicate.into());
        }
        if let Some((height, _)) = self.store.tx_location(&tx.id)? {
            return Err(AdmitError::AlreadyAccepted(height));
        }
        tx.check_format(&self.params.chain_id, &self.params.limits)?;
        self.signatures.verify(&tx)?;
        let (_, view) = self.preferred();
        let sender = *tx.sender();
        for op in tx.ops() {
            if let Some(entry) = view.entry(op.key())? {
                if entry.owner != sender {
                    return Err(TxError::NotOwner {
                        key: crate::execute::display_key(op.key()),
                    }
                    .into());
                }
            }
        }
        let next = view.nonce(&sender)?;
        let evicted = self.mempool.add(tx, next)?;
        for gone in evicted {
            self.fates
                .record(gone.id, Fate::Dropped, "evicted: the mempool was full");
        }
        Ok(())
    }

    /// The next nonce per the last accepted state, and the one a new transaction should carry.
    pub fn nonces(&self, account: &[u8; 32]) -> Result<(u64, u64), VmError> {
        let accepted = self.store.nonce(account)?;
        let (_, view) = self.preferred();
        let preferred = view.nonce(account)?;
        Ok((accepted, self.mempool.next_nonce(account, preferred)))
    }

    pub fn tx_state(&self, id: &TxId) -> Result<TxState, VmError> {
        if let Some((height, block)) = self.store.tx_location(id)? {
            return Ok(TxState::Accepted { height, block });
        }
        if self.mempool.contains(id) {
            return Ok(TxState::Pending);
        }
        Ok(match self.fates.get(id) {
            Some(o) if o.fate == Fate::Rejected => TxState::Rejected { reason: o.reason },
            Some(o) => TxState::Dropped { reason: o.reason },
            None => TxState::Unknown,
        })
    }

    /// How many pending transactions could go into a block on the preferred tip now.
    pub fn executable_count(&self) -> usize {
        let (_, view) = self.preferred();
        self.mempool
            .executable_count(|sender| view.nonce(sender).unwrap_or(u64::MAX))
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    pub fn engine_state(&self) -> EngineState {
        *self.state.borrow()
    }

    /// Node IDs the node reported connected (this node's own included), for gossip.
    pub fn peers(&self) -> Vec<Vec<u8>> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The VM handle the gRPC service holds.
pub struct KvVm {
    running: RwLock<Option<Arc<Running>>>,
    /// Transaction gossip of the running chain; started by Initialize, stopped by Shutdown.
    gossip: RwLock<Option<Arc<Gossip>>>,
    shut_down: watch::Sender<bool>,
    clock: Clock,
}

impl Default for KvVm {
    fn default() -> Self {
        Self::new()
    }
}

impl KvVm {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(system_clock_ms))
    }

    pub fn with_clock(clock: Clock) -> Self {
        Self {
            running: RwLock::new(None),
            gossip: RwLock::new(None),
            shut_down: watch::channel(false).0,
            clock,
        }
    }

    pub fn running(&self) -> Result<Arc<Running>, VmError> {
        if *self.shut_down.borrow() {
            return Err(VmError::ShutDown);
        }
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(VmError::NotInitialized)
    }

    /// The gossip layer, once initialized and until shut down.
    pub fn gossip(&self) -> Option<Arc<Gossip>> {
        if *self.shut_down.borrow() {
            return None;
        }
        self.gossip
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A receiver that turns true once Shutdown has run.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shut_down.subscribe()
    }

    /// Opens (or creates) the chain. Slow work (RocksDB) runs on a blocking thread.
    pub async fn initialize(&self, init: InitParams) -> Result<BlockSummary, VmError> {
        if self
            .running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Err(VmError::AlreadyInitialized);
        }
        let clock = self.clock.clone();
        let running = tokio::task::spawn_blocking(move || open_running(init, clock))
            .await
            .map_err(|e| VmError::Join(e.to_string()))??;
        let summary = running.last_accepted();
        tracing::info!(
            height = summary.height,
            block = %short_hex(&summary.id),
            "chain initialized"
        );
        let running = Arc::new(running);
        let gossip = Gossip::start(running.clone(), self.shutdown_signal());
        *self.gossip.write().unwrap_or_else(|e| e.into_inner()) = Some(gossip);
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = Some(running);
        Ok(summary)
    }

    pub fn set_state(&self, state: EngineState) -> Result<BlockSummary, VmError> {
        let running = self.running()?;
        running.state.send_replace(state);
        tracing::info!(state = state.as_str(), "engine state changed");
        Ok(running.last_accepted())
    }

    /// Closes the database cleanly. Safe before Initialize and when called twice.
    pub async fn shutdown(&self) {
        let running = self
            .running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.shut_down.send_replace(true);
        if let Some(gossip) = self
            .gossip
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            gossip.stop();
        }
        if let Some(running) = running {
            let store = running.store.clone();
            drop(running);
            let closed = tokio::task::spawn_blocking(move || store.close()).await;
            match closed {
                Ok(Ok(())) => tracing::info!("database flushed; shutdown complete"),
                Ok(Err(e)) => tracing::error!(error = %e, "flushing the database at shutdown"),
                Err(e) => tracing::error!(error = %e, "flush task failed"),
            }
        }
    }

    /// Resolves when a block can be built in NORMAL_OP: executable transactions wait and the
    /// minimum gap since the preferred block has passed. The caller cancels by dropping the future.
    pub async fn wait_for_build(&self) -> Result<(), VmError> {
        let running = self.running()?;
        let mut state = running.state.subscribe();
        let mut pool = running.mempool.subscribe();
        let mut shut_down = self.shut_down.subscribe();
        loop {
            let version = *pool.borrow_and_update();
            let normal = *state.borrow_and_update() == EngineState::NormalOp;
            let fresh = running.failed_build_version.load(Ordering::Acquire) != version;
            let mut gap_wait = None;
            if normal && fresh && running.executable_count() > 0 {
                let (preferred, _) = running.preferred();
                let ready_at = preferred
                    .timestamp_ms
                    .saturating_add(running.config.min_block_gap_ms);
                let now = running.now_ms();
                if now >= ready_at {
                    return Ok(());
                }
                gap_wait = Some(Duration::from_millis(ready_at - now));
            }
            let gap = async {
                match gap_wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = state.changed() => if r.is_err() { return Err(VmError::ShutDown) },
                r = pool.changed() => if r.is_err() { return Err(VmError::ShutDown) },
                _ = gap => {}
                _ = shut_down.wait_for(|down| *down) => return Err(VmError::ShutDown),
            }
        }
    }

    pub async fn build_block(&self) -> Result<BlockSummary, VmError> {
        let running = self.running()?;
        let pool_version = *running.mempool.subscribe().borrow();
        let worker = running.clone();
        let result = tokio::task::spawn_blocking(move || {
            let candidates = worker
                .mempool
                .candidates(worker.params.limits.max_txs_per_block as usize * 2);
            let built = worker.chain().build(candidates);
            built
        })
        .await
        .map_err(|e| VmError::Join(e.to_string()))?;
        let built = match result {
            Ok(built) => built,
            Err(e) => {
                running
                    .failed_build_version
                    .store(pool_version, Ordering::Release);
                return Err(e.into());
            }
        };
        for (tx, reason) in &built.invalid {
            tracing::debug!(tx = %short_hex(&tx.id), %reason, "dropping invalid transaction");
            running
                .fates
                .record(tx.id, Fate::Dropped, reason.to_string());
        }
        running
            .mempool
            .remove(built.invalid.iter().map(|(tx, _)| tx.id));
        running
            .metrics
            .mempool_txs
            .set(running.mempool.len() as i64);
        let Some(block) = built.block else {
            // Not again until the pool changes (the version the candidates came from).
            running
                .failed_build_version
                .store(pool_version, Ordering::Release);
            return Err(ChainError::NothingToBuild.into());
        };
        tracing::debug!(
            block = %short_hex(&block.id),
            height = block.height,
            txs = block.txs.len(),
            "built block"
        );
        Ok(BlockSummary::from(block.as_ref()))
    }

    pub fn parse_block(&self, bytes: &[u8]) -> Result<BlockSummary, VmError> {
        let running = self.running()?;
        let block = Block::decode(bytes, running.params.limits.max_block_bytes as usize)?;
        Ok(BlockSummary::from(&block))
    }

    pub fn get_block(&self, id: &[u8]) -> Result<Option<BlockSummary>, VmError> {
        let running = self.running()?;
        let Ok(id) = <[u8; 32]>::try_from(id) else {
            // Not an ID this VM could have produced.
            return Ok(None);
        };
        let chain = running.chain();
        Ok(chain.block(&id)?.map(|b| BlockSummary::from(b.as_ref())))
    }

    pub fn block_id_at_height(&self, height: u64) -> Result<Option<BlockId>, VmError> {
        let running = self.running()?;
        Ok(running.store.block_id_at_height(height)?)
    }

    pub async fn verify_block(&self, bytes: Vec<u8>) -> Result<BlockSummary, VmError> {
        let running = self.running()?;
        let worker = running.clone();
        let started = Instant::now();
        let verified = tokio::task::spawn_blocking(move || {
            let block = Block::decode(&bytes, worker.params.limits.max_block_bytes as usize)?;
            let mut chain = worker.chain();
            let was_processing = chain.block(&block.id)?.is_some();
            let block = chain.verify(block)?;
            if !was_processing {
                worker.mempool.mark_included(block.txs.iter().map(|t| t.id));
            }
            worker.refresh_tip(&chain)?;
            Ok::<_, ChainError>(block)
        })
        .await
        .map_err(|e| VmError::Join(e.to_string()))?;
        running
            .metrics
            .block_verify_seconds
            .observe(started.elapsed().as_secs_f64());
        match verified {
            Ok(block) => Ok(BlockSummary::from(block.as_ref())),
            Err(e) => {
                tracing::debug!(error = %e, "block failed verification");
                Err(e.into())
            }
        }
    }

    pub async fn accept_block(&self, id: &[u8]) -> Result<(), VmError> {
        let running = self.running()?;
        let id: BlockId = id.try_into().map_err(|_| VmError::BadId(id.len()))?;
        let worker = running.clone();
        let started = Instant::now();
        let accepted = tokio::task::spawn_blocking(move || {
            let mut chain = worker.chain();
            let accepted = chain.accept(&id)?;
            let block = accepted.block;
            worker.mempool.remove(block.txs.iter().map(|t| t.id));
            let senders: HashSet<[u8; 32]> = block.txs.iter().map(|t| *t.sender()).collect();
            for sender in senders {
                let next = worker.store.nonce(&sender)?;
                for stale in worker.mempool.remove_stale(&sender, next) {
                    worker
                        .fates
                        .record(stale, Fate::Dropped, "an accepted block used its nonce");
                }
            }
            worker.refresh_tip(&chain)?;
            Ok::<_, ChainError>(block)
        })
        .await
        .map_err(|e| VmError::Join(e.to_string()))??;
        let metrics = &running.metrics;
        metrics
            .block_accept_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.blocks_accepted.inc();
        metrics.txs_accepted.inc_by(accepted.txs.len() as u64);
        metrics.mempool_txs.set(running.mempool.len() as i64);
        tracing::debug!(block = %short_hex(&accepted.id), height = accepted.height, txs = accepted.txs.len(), "accepted block");
        Ok(())
    }

    pub async fn reject_block(&self, id: &[u8]) -> Result<(), VmError> {
        let running = self.running()?;
        let id: BlockId = id.try_into().map_err(|_| VmError::BadId(id.len()))?;
        let worker = running.clone();
        let rejected = tokio::task::spawn_blocking(move || {
            let mut chain = worker.chain();
            let rejected = chain.reject(&id)?;
            worker.refresh_tip(&chain)?;
            Ok::<_, ChainError>(rejected)
        })
        .await
        .map_err(|e| VmError::Join(e.to_string()))??;
        if let Some(block) = rejected {
            let returned = running.mempool.return_rejected(block.txs.iter().cloned());
            running.metrics.blocks_rejected.inc();
            running.metrics.txs_rejected.inc_by(block.txs.len() as u64);
            running
                .metrics
                .mempool_txs
                .set(running.mempool.len() as i64);
            tracing::debug!(block = %short_hex(&block.id), returned, "rejected block");
        }
        Ok(())
    }

    pub fn set_preference(&self, id: &[u8]) -> Result<(), VmError> {
        let running = self.running()?;
        let id: BlockId = id.try_into().map_err(|_| VmError::BadId(id.len()))?;
        let mut chain = running.chain();
        chain.set_preference(id);
        running.refresh_tip(&chain)?;
        Ok(())
    }

    /// `blk_id` first, then its ancestors, within the node's count, byte and time limits.
    pub fn ancestors(
        &self,
        id: &[u8],
        max_blocks: usize,
        max_bytes: usize,
        max_time: Duration,
    ) -> Result<Vec<Vec<u8>>, VmError> {
        let running = self.running()?;
        let Ok(mut cursor) = <[u8; 32]>::try_from(id) else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let chain = running.chain();
        let mut out = Vec::new();
        let mut total = 0usize;
        while out.len() < max_blocks {
            let Some(block) = chain.block(&cursor)? else {
                break;
            };
            // The node frames each block with a 4-byte length; count it as the node does.
            let size = block.bytes.len() + 4;
            if total + size > max_bytes {
                break;
            }
            total += size;
            out.push(block.bytes.clone());
            if block.height == 0 || started.elapsed() >= max_time {
                break;
            }
            cursor = block.parent;
        }
        Ok(out)
    }

    pub fn connected(&self, node_id: Vec<u8>) {
        if let Ok(running) = self.running() {
            running
                .peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node_id);
        }
    }

    pub fn disconnected(&self, node_id: &[u8]) {
        if let Ok(running) = self.running() {
            running
                .peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(node_id);
        }
    }

    /// Health details as JSON; an error when the database does not answer.
    pub fn health(&self) -> Result<serde_json::Value, VmError> {
        let running = self.running()?;
        running.store.health()?;
        let tip = running.last_accepted();
        let peers = running
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        Ok(serde_json::json!({
            "lastAccepted": { "id": hex::encode(tip.id), "height": tip.height },
            "processingBlocks": running.processing_count(),
            "mempoolTxs": running.mempool.len(),
            "connectedPeers": peers,
            "engineState": running.engine_state().as_str(),
            "database": "ok",
        }))
    }

    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        match self.running() {
            Ok(running) => {
                if let Ok(size) = running.store.approximate_size_bytes() {
                    running.metrics.db_size_bytes.set(size as i64);
                }
                running
                    .metrics
                    .mempool_txs
                    .set(running.mempool.len() as i64);
                running.metrics.gather()
            }
            Err(_) => Vec::new(),
        }
    }
}

fn open_running(init: InitParams, clock: Clock) -> Result<Running, VmError> {
    let now_unix = clock() / 1000;
    let config = ChainConfig::parse(&init.config_bytes)?;
    let hash = genesis_hash(&init.genesis_bytes);
    let store = ChainStore::open(
        &init.chain_data_dir.join("kvvm-db"),
        StoreOptions::default(),
    )?;
    // A genesis timestamp is only checked against the clock when the chain is created: once
    // accepted, the same bytes must keep opening on any later day.
    let genesis_now = if store.is_initialized()? {
        u64::MAX
    } else {
        now_unix
    };
    let genesis = Genesis::parse(&init.genesis_bytes, genesis_now)?;
    let params = ChainParams {
        chain_id: init.chain_id,
        limits: genesis.limits,
    };
    let signatures = Arc::new(VerifiedSignatures::new(config.verified_signature_cache));
    let chain = Chain::open(
        store.clone(),
        &genesis,
        hash,
        params.clone(),
        signatures.clone(),
        clock.clone(),
    )?;
    let (preferred, preferred_view) = chain.preferred_view()?;
    let tip = TipSnapshot {
        last_accepted: BlockSummary::from(chain.last_accepted().as_ref()),
        processing: Vec::new(),
        preferred,
        preferred_view,
    };
    let metrics = Arc::new(Metrics::new());
    metrics
        .last_accepted_height
        .set(tip.last_accepted.height as i64);
    Ok(Running {
        params,
        network_id: init.network_id,
        mempool: Arc::new(Mempool::new(config.mempool)),
        fates: FateLog::new(config.fate_log_capacity),
        signatures,
        node_id: init.node_id,
        server_addr: init.server_addr,
        admitted: tokio::sync::broadcast::channel(4096).0,
        clock,
        config,
        genesis_hash: hash,
        chain: Mutex::new(chain),
        store,
        metrics,
        tip: RwLock::new(tip),
        state: watch::channel(EngineState::Starting).0,
        failed_build_version: AtomicU64::new(u64::MAX),
        peers: Mutex::new(HashSet::new()),
    })
}
