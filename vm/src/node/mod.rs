//! The VM as the node drives it, in domain types: [`KvVm`] opens a chain at Initialize
//! ([`open`]), answers the consensus calls with their pool, fate and metric side effects
//! ([`consensus`]), and closes the database at Shutdown. `plugin::vm_service` adapts it to gRPC.

mod consensus;
pub mod open;
mod state_sync;

pub use state_sync::{SummaryMode, VmEvent};

use std::sync::Arc;

use kvvm_storage::ChainStore;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::block::Block;
use crate::builder::Builder;
use crate::chain::{system_clock_ms, Chain, ChainParams, Clock};
use crate::chain_config::ChainConfig;
use crate::engine_state::EngineState;
use crate::error::ChainError;
use crate::gossip::Gossip;
use crate::mempool::{Admission, FateLog, Mempool};
use crate::metrics::Metrics;
use crate::node::open::{InitParams, OpenError};
use crate::peers::Peers;
use crate::tip::Tip;

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
    #[error("a worker thread failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("state sync: {0}")]
    Sync(#[from] crate::state_sync::fetch::SyncError),
}

/// Who this chain is: fixed at Initialize.
pub struct ChainIdentity {
    pub params: ChainParams,
    pub network_id: u32,
    pub genesis_hash: [u8; 32],
}

/// A chain opened by Initialize, every part of it a handle. Dropping it stops its gossip tasks.
pub struct OpenChain {
    identity: ChainIdentity,
    config: ChainConfig,
    /// Consensus calls (verify, accept, reject, preference). A `parking_lot::Mutex`: the node
    /// issues these one at a time under its chain lock, so it is uncontended there; it is held
    /// across accept's synced disk write on purpose (nothing may see a half-accepted chain), and
    /// nothing that must stay responsive takes it — readers use `tip` and `store` instead. Chain
    /// methods leave the tree consistent before any fallible step, so there is no poisoned state.
    chain: Mutex<Chain>,
    store: ChainStore,
    tip: Tip,
    mempool: Arc<Mempool>,
    admission: Admission,
    builder: Builder,
    fates: Arc<FateLog>,
    metrics: Arc<Metrics>,
    peers: Peers,
    state: watch::Sender<EngineState>,
    gossip: Arc<Gossip>,
    sync: state_sync::ChainSync,
    /// Kept to rebuild `chain` when a state sync replaces the state under it.
    signatures: Arc<crate::tx::VerifiedSignatures>,
    clock: Clock,
}

impl OpenChain {
    pub fn identity(&self) -> &ChainIdentity {
        &self.identity
    }

    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The last accepted state, for reads that must not wait on consensus.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Publishes the chain's tip to readers; called with the chain lock held.
    fn publish_tip(&self, chain: &Chain) -> Result<(), ChainError> {
        let snapshot = crate::tip::TipSnapshot::of(chain)?;
        self.metrics
            .last_accepted_height
            .set(snapshot.last_accepted.height as i64);
        self.metrics
            .processing_blocks
            .set(snapshot.processing.len() as i64);
        self.tip.publish(snapshot);
        Ok(())
    }

    /// Replaces the chain with the one the store now holds (after a sync ended or was given up).
    pub(crate) fn reload(&self) -> Result<(), VmError> {
        let (last_accepted, lattice) = crate::node::open::load_tip(&self.store)?;
        let chain = crate::chain::Chain::new(
            self.store.clone(),
            last_accepted,
            lattice,
            self.identity.params.clone(),
            self.signatures.clone(),
            self.clock.clone(),
        )
        .keeping_blocks(self.config.keep_blocks);
        let mut tree = self.chain.lock();
        *tree = chain;
        self.publish_tip(&tree)?;
        Ok(())
    }

    /// Transactions in the pool, pending and waiting.
    pub(crate) fn pending_txs(&self) -> usize {
        self.mempool.len()
    }

    fn count_pool(&self) {
        self.metrics.mempool_txs.set(self.mempool.len() as i64);
        self.metrics
            .mempool_waiting_txs
            .set(self.mempool.waiting_count() as i64);
    }
}

/// The VM handle the gRPC service holds.
pub struct KvVm {
    /// The open chain, from Initialize until Shutdown. A `parking_lot::RwLock` over an `Arc`:
    /// every call clones the `Arc` and lets go at once, so the lock is never held for long.
    open: RwLock<Option<Arc<OpenChain>>>,
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
            open: RwLock::new(None),
            shut_down: watch::channel(false).0,
            clock,
        }
    }

    /// The open chain, once initialized and until shut down.
    pub fn open_chain(&self) -> Result<Arc<OpenChain>, VmError> {
        if *self.shut_down.borrow() {
            return Err(VmError::ShutDown);
        }
        self.open.read().clone().ok_or(VmError::NotInitialized)
    }

    /// The gossip layer, once initialized and until shut down.
    pub fn gossip(&self) -> Option<Arc<Gossip>> {
        self.open_chain().ok().map(|c| c.gossip.clone())
    }

    /// A receiver that turns true once Shutdown has run.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shut_down.subscribe()
    }

    /// Opens (or creates) the chain. Slow work (RocksDB) runs on a blocking thread.
    pub async fn initialize(&self, init: InitParams) -> Result<Arc<Block>, VmError> {
        if self.open.read().is_some() {
            return Err(VmError::AlreadyInitialized);
        }
        let clock = self.clock.clone();
        let runtime = tokio::runtime::Handle::current();
        let chain =
            tokio::task::spawn_blocking(move || open::open(init, clock, &runtime)).await??;
        let tip = chain.tip.last_accepted();
        tracing::info!(height = tip.height, block = %tip.id, "chain initialized");
        *self.open.write() = Some(Arc::new(chain));
        Ok(tip)
    }

    pub fn set_state(&self, state: EngineState) -> Result<Arc<Block>, VmError> {
        let chain = self.open_chain()?;
        if matches!(state, EngineState::Bootstrapping | EngineState::NormalOp) {
            self.settle_unfinished_sync(&chain)?;
        }
        chain.state.send_replace(state);
        tracing::info!(state = state.as_str(), "engine state changed");
        Ok(chain.tip.last_accepted())
    }

    /// Stops gossip and flushes the database. Safe before Initialize and when called twice.
    pub async fn shutdown(&self) {
        let chain = self.open.write().take();
        self.shut_down.send_replace(true);
        let Some(chain) = chain else {
            return;
        };
        let store = chain.store.clone();
        drop(chain);
        match tokio::task::spawn_blocking(move || store.close()).await {
            Ok(Ok(())) => tracing::info!("database flushed; shutdown complete"),
            Ok(Err(e)) => tracing::error!(error = %e, "flushing the database at shutdown"),
            Err(e) => tracing::error!(error = %e, "flush task failed"),
        }
    }

    pub fn connected(&self, node_id: Vec<u8>) {
        if let Ok(chain) = self.open_chain() {
            chain.peers.connect(node_id);
        }
    }

    pub fn disconnected(&self, node_id: &[u8]) {
        if let Ok(chain) = self.open_chain() {
            chain.peers.disconnect(node_id);
        }
    }

    /// Health details as JSON; an error when the database does not answer.
    pub fn health(&self) -> Result<serde_json::Value, VmError> {
        let chain = self.open_chain()?;
        chain.store.health()?;
        let tip = chain.tip.load();
        let syncing = chain.store.state_sync_progress()?.map(
            |p| serde_json::json!({ "height": p.summary.height, "bucketsLeft": p.buckets_left() }),
        );
        Ok(serde_json::json!({
            "lastAccepted": { "id": tip.last_accepted.id.to_string(), "height": tip.last_accepted.height },
            "processingBlocks": tip.processing.len(),
            "mempoolTxs": chain.mempool.len(),
            "connectedPeers": chain.peers.count(),
            "engineState": chain.state.borrow().as_str(),
            "database": "ok",
            "stateSync": syncing,
        }))
    }

    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let Ok(chain) = self.open_chain() else {
            return Vec::new();
        };
        if let Ok(size) = chain.store.approximate_size_bytes() {
            chain.metrics.db_size_bytes.set(size as i64);
        }
        if let Ok(memory) = chain.store.memory_usage() {
            chain.metrics.db_memory_bytes.set(memory.total() as i64);
        }
        if let Ok(height) = chain.store.oldest_block_height() {
            chain.metrics.oldest_block_height.set(height as i64);
        }
        chain.count_pool();
        chain.metrics.gather()
    }
}
