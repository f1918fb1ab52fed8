//! The consensus calls, each with its side effects on the pool, the fate log, the tip and the
//! metrics. CPU and disk work runs on blocking threads so it never stalls the async workers that
//! also serve the node's other calls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::block::Block;
use crate::error::ChainError;
use crate::ids::BlockId;
use crate::mempool::{Fate, WAITED_TOO_LONG};
use crate::node::{KvVm, OpenChain, VmError};

impl KvVm {
    /// Resolves when a block can be built (see `Builder::ready`). The caller cancels by dropping
    /// the future.
    pub async fn wait_for_build(&self) -> Result<(), VmError> {
        let chain = self.open_chain()?;
        let state = chain.state.subscribe();
        chain
            .builder
            .ready(state, self.shut_down.subscribe())
            .await
            .map_err(|_| VmError::ShutDown)
    }

    pub async fn build_block(&self) -> Result<Arc<Block>, VmError> {
        let chain = self.open_chain()?;
        let block = tokio::task::spawn_blocking(move || chain.build()).await??;
        tracing::debug!(block = %block.id, height = block.height, txs = block.txs.len(), "built block");
        Ok(block)
    }

    /// Stateless parse, bounded by the chain's block size limit.
    pub fn parse_block(&self, bytes: &[u8]) -> Result<Block, VmError> {
        let chain = self.open_chain()?;
        let limit = chain.identity.params.limits.max_block_bytes as usize;
        Ok(Block::decode(bytes, limit)?)
    }

    pub fn get_block(&self, id: &BlockId) -> Result<Option<Arc<Block>>, VmError> {
        let chain = self.open_chain()?;
        let found = chain.chain.lock().block(id)?;
        Ok(found)
    }

    pub fn block_id_at_height(&self, height: u64) -> Result<Option<BlockId>, VmError> {
        let chain = self.open_chain()?;
        Ok(chain.store.block_id_at_height(height)?.map(BlockId))
    }

    pub async fn verify_block(&self, bytes: Vec<u8>) -> Result<Arc<Block>, VmError> {
        let chain = self.open_chain()?;
        let worker = chain.clone();
        let started = Instant::now();
        let verified = tokio::task::spawn_blocking(move || worker.verify(bytes)).await?;
        chain
            .metrics
            .block_verify_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &verified {
            tracing::debug!(error = %e, "block failed verification");
        }
        Ok(verified?)
    }

    pub async fn accept_block(&self, id: BlockId) -> Result<(), VmError> {
        let chain = self.open_chain()?;
        let worker = chain.clone();
        let started = Instant::now();
        let accepted = tokio::task::spawn_blocking(move || worker.accept(&id)).await?;
        let block = accepted.inspect_err(|e| {
            // The node stops the chain on a failed accept; this line says why to the operator.
            if let ChainError::Storage(storage) = e {
                tracing::error!(block = %id, error = %storage, "accepting a block failed to write; the chain cannot go on until the node restarts with the disk fixed");
            }
        })?;
        let metrics = &chain.metrics;
        metrics
            .block_accept_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.blocks_accepted.inc();
        metrics.txs_accepted.inc_by(block.txs.len() as u64);
        chain.count_pool();
        tracing::debug!(block = %block.id, height = block.height, txs = block.txs.len(), "accepted block");
        Ok(())
    }

    pub async fn reject_block(&self, id: BlockId) -> Result<(), VmError> {
        let chain = self.open_chain()?;
        let worker = chain.clone();
        // Both steps read RocksDB, so both run off the async workers.
        let rejected = tokio::task::spawn_blocking(move || {
            let Some(block) = worker.reject(&id)? else {
                return Ok::<_, ChainError>(None);
            };
            let returned = worker.return_rejected(&block)?;
            Ok(Some((block, returned)))
        })
        .await??;
        let Some((block, returned)) = rejected else {
            return Ok(());
        };
        chain.metrics.blocks_rejected.inc();
        chain.metrics.txs_rejected.inc_by(block.txs.len() as u64);
        chain.count_pool();
        tracing::debug!(block = %block.id, returned, "rejected block");
        Ok(())
    }

    pub fn set_preference(&self, id: BlockId) -> Result<(), VmError> {
        let chain = self.open_chain()?;
        let mut tree = chain.chain.lock();
        tree.set_preference(id);
        chain.publish_tip(&tree)?;
        Ok(())
    }

    /// `id` first, then its ancestors, within the node's count, byte and time limits.
    pub fn ancestors(
        &self,
        id: BlockId,
        max_blocks: usize,
        max_bytes: usize,
        max_time: Duration,
    ) -> Result<Vec<Vec<u8>>, VmError> {
        let chain = self.open_chain()?;
        let started = Instant::now();
        let tree = chain.chain.lock();
        let mut cursor = id;
        let mut out = Vec::new();
        let mut total = 0usize;
        while out.len() < max_blocks {
            let Some(block) = tree.block(&cursor)? else {
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
}

impl OpenChain {
    /// Builds a block on the preferred tip; the pending transactions found invalid on the way
    /// leave the pool with their fate recorded. Blocking: signature checks and RocksDB reads.
    pub(crate) fn build(&self) -> Result<Arc<Block>, ChainError> {
        let built = self.builder.build()?;
        for (tx, reason) in &built.invalid {
            tracing::debug!(tx = %tx.id, %reason, "dropping invalid transaction");
            self.fates.record(tx.id, Fate::Dropped, reason.to_string());
        }
        self.mempool
            .remove(built.invalid.iter().map(|(tx, _)| tx.id));
        self.count_pool();
        built.block.ok_or(ChainError::NothingToBuild)
    }

    /// Decodes and verifies a block; a block new to this node takes its transactions out of the
    /// build candidates.
    pub(crate) fn verify(&self, bytes: Vec<u8>) -> Result<Arc<Block>, ChainError> {
        // The block this node just built comes back here at once: its execution is reused.
        let (block, executed) = match self.builder.take_built(&bytes) {
            Some((block, diff)) => (block, Some(diff)),
            None => {
                let limit = self.identity.params.limits.max_block_bytes as usize;
                (Arc::new(Block::decode(&bytes, limit)?), None)
            }
        };
        let mut tree = self.chain.lock();
        let was_processing = tree.block(&block.id)?.is_some();
        let block = match executed {
            Some(diff) => tree.verify_assembled(block, diff)?,
            None => tree.verify(Arc::unwrap_or_clone(block))?,
        };
        if !was_processing {
            self.mempool.mark_included(block.txs.iter().map(|t| t.id));
        }
        self.publish_tip(&tree)?;
        Ok(block)
    }

    /// Accepts a block durably; its transactions leave the pool, and so does every pending
    /// transaction whose nonce the block used up.
    pub(crate) fn accept(&self, id: &BlockId) -> Result<Arc<Block>, ChainError> {
        let mut tree = self.chain.lock();
        let block = tree.accept(id)?;
        self.mempool.remove(block.txs.iter().map(|t| t.id));
        let senders: HashSet<[u8; 32]> = block.txs.iter().map(|t| *t.sender()).collect();
        for sender in senders {
            let next = self.store.nonce(&sender)?;
            for stale in self.mempool.remove_stale(&sender, next) {
                self.fates
                    .record(stale, Fate::Dropped, "an accepted block used its nonce");
            }
        }
        for expired in self.mempool.expire_waiting(Instant::now()) {
            self.fates.record(expired, Fate::Dropped, WAITED_TOO_LONG);
        }
        self.snapshot_if_due(block.height);
        self.publish_tip(&tree)?;
        Ok(block)
    }

    /// Puts a rejected block's transactions back in the pool, re-checked against the last
    /// accepted state: one an accepted block already holds, or whose nonce one used, stays out.
    fn return_rejected(&self, block: &Block) -> Result<usize, ChainError> {
        let mut back = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            if self.store.tx_location(tx.id.as_bytes())?.is_none() {
                back.push(tx.clone());
            }
        }
        let store = &self.store;
        // An account whose nonce cannot be read gets nothing back: u64::MAX is above every nonce.
        Ok(self
            .mempool
            .return_rejected(back, |sender| store.nonce(sender).unwrap_or(u64::MAX)))
    }

    fn reject(&self, id: &BlockId) -> Result<Option<Arc<Block>>, ChainError> {
        let mut tree = self.chain.lock();
        let rejected = tree.reject(id)?;
        self.publish_tip(&tree)?;
        Ok(rejected)
    }
}
