//! One node as the benchmark drives it: a real chain on RocksDB in a temporary directory, and the
//! pipeline stages a node runs, each in a function of its own so that an instruction counter can
//! be limited to it (`valgrind --tool=callgrind --toggle-collect='*bench::node::stage_admit*'`).
//! Every stage runs on the calling thread, so callgrind's per-thread toggle sees all of its work
//! but RocksDB's background flushes and compactions.

use std::sync::Arc;

use kvvm_genesis::Genesis;
use kvvm_storage::MemoryUsage;
use tempfile::TempDir;

use crate::block::Block;
use crate::error::ChainError;
use crate::ids::BlockId;
use crate::mempool::AdmitError;
use crate::node::open::InitParams;
use crate::node::{KvVm, OpenChain, VmError};
use crate::tx::Transaction;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("creating the runtime or a temporary data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("a benchmark transaction was refused: {0}")]
    Refused(#[from] AdmitError),
    #[error("a benchmark transaction does not decode: {0}")]
    Decode(#[from] crate::error::TxError),
    #[error("the pool still holds {0} transactions but no block can be built from it")]
    Stuck(usize),
    #[error("the replaying node ended with another state root than the building node")]
    Diverged,
    #[error("reading the store's memory: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
}

/// The chain ID every benchmark node uses; any fixed value will do.
pub(crate) const BENCH_CHAIN_ID: [u8; 32] = [0xbe; 32];

pub(crate) struct BenchNode {
    vm: KvVm,
    chain: Arc<OpenChain>,
    // Dropped after `vm` and `chain` (field order), so RocksDB is closed before its files go.
    _dir: TempDir,
}

impl BenchNode {
    /// A new chain from `genesis`, its pool sized to hold `pool_txs` at once.
    pub(crate) fn open(
        runtime: &tokio::runtime::Runtime,
        genesis: &Genesis,
        pool_txs: usize,
    ) -> Result<Self, BenchError> {
        let dir = tempfile::Builder::new().prefix("kvvm-bench-").tempdir()?;
        let vm = KvVm::new();
        let config = serde_json::json!({
            "mempoolMaxTxs": pool_txs,
            "mempoolMaxBytes": 4u64 << 30,
            "mempoolMaxTxsPerSender": 10_000,
        });
        let init = InitParams {
            network_id: 1337,
            chain_id: BENCH_CHAIN_ID,
            node_id: b"bench".to_vec(),
            chain_data_dir: dir.path().to_path_buf(),
            genesis_bytes: genesis.to_json_pretty().into_bytes(),
            config_bytes: config.to_string().into_bytes(),
            // No node to gossip to: an empty address starts no gossip tasks.
            server_addr: String::new(),
        };
        runtime.block_on(vm.initialize(init))?;
        let chain = vm.open_chain()?;
        Ok(Self {
            vm,
            chain,
            _dir: dir,
        })
    }

    pub(crate) fn pool_len(&self) -> usize {
        self.chain.pending_txs()
    }

    /// Decodes and admits each encoded transaction, as `kvvm_submitTxs` does.
    #[inline(never)]
    pub(crate) fn stage_admit(&self, encoded: &[Vec<u8>]) -> Result<(), BenchError> {
        let max_tx_bytes = self.chain.identity().params.limits.max_tx_bytes as usize;
        for bytes in encoded {
            let tx = Transaction::decode(bytes, max_tx_bytes)?;
            self.chain.admission().admit(tx, None)?;
        }
        Ok(())
    }

    #[inline(never)]
    pub(crate) fn stage_build(&self) -> Result<Arc<Block>, BenchError> {
        Ok(self.chain.build()?)
    }

    /// Verifies a block and prefers it, as the node does before accepting.
    #[inline(never)]
    pub(crate) fn stage_verify(&self, bytes: &[u8]) -> Result<BlockId, BenchError> {
        let block = self.chain.verify(bytes.to_vec())?;
        self.vm.set_preference(block.id)?;
        Ok(block.id)
    }

    #[inline(never)]
    pub(crate) fn stage_accept(&self, id: &BlockId) -> Result<(), BenchError> {
        self.chain.accept(id)?;
        Ok(())
    }

    /// Verifies, prefers and accepts a block built elsewhere: a node's whole work on a block
    /// whose transactions it never admitted. Calls the chain directly rather than the stages
    /// above, so that an instruction counter toggled on those does not toggle here too.
    #[inline(never)]
    pub(crate) fn stage_replay(&self, bytes: &[u8]) -> Result<(), BenchError> {
        let block = self.chain.verify(bytes.to_vec())?;
        self.vm.set_preference(block.id)?;
        self.chain.accept(&block.id)?;
        Ok(())
    }

    /// RocksDB's own account of this node's store memory.
    pub(crate) fn store_memory(&self) -> Result<MemoryUsage, BenchError> {
        Ok(self.chain.store().memory_usage()?)
    }

    pub(crate) fn state_root(&self) -> [u8; 32] {
        self.chain.tip().last_accepted().state_root
    }
}
