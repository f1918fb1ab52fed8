//! The tree of processing blocks over the last accepted block: verify, accept, reject and
//! preference, and the state as of any block that can be built on.
//!
//! Processing blocks live in memory as [`StateDiff`]s layered on their parent's, so forks verify
//! independently and verify never writes to disk. Accept writes the block and its diff in one synced
//! RocksDB batch; the accepted block's children then read through the new last accepted state on
//! disk, which is exactly the state their removed parent layer described (re-basing is implicit).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kvvm_genesis::{ChainLimits, Genesis};
use kvvm_storage::lattice::LtHash;
use kvvm_storage::{AcceptBatch, BlockStatus, ChainStore, PrunedBlock};

use crate::access::AccessRules;
use crate::block::Block;
use crate::error::ChainError;
use crate::execute::{ApplyError, BlockExecutor, StateDiff, StateView};
use crate::ids::BlockId;
use crate::tx::VerifiedSignatures;

/// Block bodies one accept prunes at most: pruning turned on for a long chain spreads its
/// deletions over the following blocks instead of stalling one accept.
pub const MAX_PRUNED_PER_ACCEPT: u64 = 64;

/// How far ahead of this node's clock a block timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 10_000;

/// Milliseconds since the Unix epoch; a function so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Chain-wide facts fixed at Initialize.
#[derive(Clone)]
pub struct ChainParams {
    pub chain_id: [u8; 32],
    pub limits: ChainLimits,
    pub access: AccessRules,
}

impl ChainParams {
    /// The facts of the chain `chain_id` that `genesis` starts.
    pub fn new(chain_id: [u8; 32], genesis: &Genesis) -> Self {
        Self {
            chain_id,
            limits: genesis.limits,
            access: AccessRules::from_genesis(&genesis.access),
        }
    }
}

struct ProcessingBlock {
    block: Arc<Block>,
    diff: Arc<StateDiff>,
}

/// A block that can be built on, with the state after it.
pub struct BuildBase {
    pub block: Arc<Block>,
    pub view: StateView,
}

pub struct Chain {
    store: ChainStore,
    params: ChainParams,
    signatures: Arc<VerifiedSignatures>,
    clock: Clock,
    last_accepted: Arc<Block>,
    last_accepted_lattice: LtHash,
    processing: HashMap<BlockId, ProcessingBlock>,
    preferred: BlockId,
    /// Accepted block bodies kept behind the last accepted one; 0 keeps every body.
    keep_blocks: u64,
}

impl Chain {
    /// The chain as `store` last accepted it, with nothing processing. `last_accepted` and its
    /// `lattice` come from the store (see `node::open`), which checked they agree.
    pub fn new(
        store: ChainStore,
        last_accepted: Arc<Block>,
        lattice: LtHash,
        params: ChainParams,
        signatures: Arc<VerifiedSignatures>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            params,
            signatures,
            clock,
            preferred: last_accepted.id,
            last_accepted,
            last_accepted_lattice: lattice,
            processing: HashMap::new(),
            keep_blocks: 0,
        }
    }

    /// This chain, pruning accepted block bodies more than `keep_blocks` heights behind the last
    /// accepted block (0 keeps them all; the operator's `keepBlocks`).
    pub fn keeping_blocks(mut self, keep_blocks: u64) -> Self {
        self.keep_blocks = keep_blocks;
        self
    }

    pub fn last_accepted(&self) -> &Arc<Block> {
        &self.last_accepted
    }

    /// A processing or accepted block. Rejected blocks are not served.
    pub fn block(&self, id: &BlockId) -> Result<Option<Arc<Block>>, ChainError> {
        if *id == self.last_accepted.id {
            return Ok(Some(self.last_accepted.clone()));
        }
        if let Some(p) = self.processing.get(id) {
            return Ok(Some(p.block.clone()));
        }
        match self.store.block(id.as_bytes())? {
            Some(bytes) => Ok(Some(Arc::new(Block::decode(&bytes, usize::MAX)?))),
            None => Ok(None),
        }
    }

    /// Verifies a block against its parent's state and keeps it as processing.
    pub fn verify(&mut self, block: Block) -> Result<Arc<Block>, ChainError> {
        self.verify_with(Arc::new(block), None)
    }

    /// Verifies a block this node assembled (`builder::assemble`) on its parent's state, where
    /// executing it produced `diff`: the header is checked as for any block, the execution is not
    /// repeated.
    pub fn verify_assembled(
        &mut self,
        block: Arc<Block>,
        diff: Arc<StateDiff>,
    ) -> Result<Arc<Block>, ChainError> {
        self.verify_with(block, Some(diff))
    }

    fn verify_with(
        &mut self,
        block: Arc<Block>,
        executed: Option<Arc<StateDiff>>,
    ) -> Result<Arc<Block>, ChainError> {
        if let Some(p) = self.processing.get(&block.id) {
            return Ok(p.block.clone());
        }
        if block.height <= self.last_accepted.height {
            return match self.store.block_id_at_height(block.height)? {
                Some(id) if id == block.id.0 => Ok(block),
                _ => Err(ChainError::ConflictsWithAccepted(block.id)),
            };
        }
        let parent = self.base(&block.parent)?;
        self.check_header(&block, &parent.block)?;
        let diff = match executed {
            Some(diff) => diff,
            None => Arc::new(self.execute(&block, parent.view)?),
        };
        self.processing.insert(
            block.id,
            ProcessingBlock {
                block: block.clone(),
                diff,
            },
        );
        Ok(block)
    }

    /// Everything about a block that needs its parent but no execution.
    fn check_header(&self, block: &Block, parent: &Block) -> Result<(), ChainError> {
        if block.height != parent.height + 1 {
            return Err(ChainError::WrongHeight {
                expected: parent.height + 1,
                got: block.height,
            });
        }
        if block.timestamp_ms < parent.timestamp_ms {
            return Err(ChainError::TimestampBeforeParent {
                parent_ms: parent.timestamp_ms,
                got_ms: block.timestamp_ms,
            });
        }
        let now_ms = (self.clock)();
        if block.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(ChainError::TimestampInFuture {
                now_ms,
                got_ms: block.timestamp_ms,
            });
        }
        let limits = &self.params.limits;
        if block.txs.len() > limits.max_txs_per_block as usize {
            return Err(ChainError::TooManyTxs {
                count: block.txs.len(),
                limit: limits.max_txs_per_block as usize,
            });
        }
        if block.bytes.len() > limits.max_block_bytes as usize {
            return Err(ChainError::BlockTooLarge {
                size: block.bytes.len(),
                limit: limits.max_block_bytes as usize,
            });
        }
        Ok(())
    }

    /// Runs the block's transactions on its parent's state; the result must match its root.
    fn execute(&self, block: &Block, parent_view: StateView) -> Result<StateDiff, ChainError> {
        let mut seen = HashSet::with_capacity(block.txs.len());
        let mut executor = BlockExecutor::new(parent_view, block.height, self.params.access);
        for (index, tx) in block.txs.iter().enumerate() {
            if !seen.insert(tx.id) {
                return Err(ChainError::DuplicateTx(tx.id));
            }
            let invalid = |source| ChainError::InvalidTx {
                index,
                id: tx.id,
                source,
            };
            tx.check_format(&self.params.chain_id, &self.params.limits)
                .map_err(invalid)?;
            self.signatures.verify(tx).map_err(invalid)?;
            match executor.apply(tx) {
                Ok(()) => {}
                Err(ApplyError::Invalid(e)) => return Err(invalid(e)),
                Err(ApplyError::Storage(e)) => return Err(e.into()),
            }
        }
        let root = executor.state_root();
        if root != block.state_root {
            return Err(ChainError::StateRootMismatch {
                expected: root,
                got: block.state_root,
            });
        }
        Ok(executor.finish())
    }

    /// The last accepted block or a processing one, with the state after it.
    fn base(&self, id: &BlockId) -> Result<BuildBase, ChainError> {
        if *id == self.last_accepted.id {
            return Ok(BuildBase {
                block: self.last_accepted.clone(),
                view: StateView::new(
                    Vec::new(),
                    self.store.clone(),
                    self.last_accepted_lattice.clone(),
                ),
            });
        }
        let tip = self
            .processing
            .get(id)
            .ok_or(ChainError::UnknownParent(*id))?;
        let mut layers = vec![tip.diff.clone()];
        let mut cursor = tip.block.parent;
        while cursor != self.last_accepted.id {
            // A processing block whose ancestry does not reach the last accepted block sits on a
            // branch that lost; it will be rejected, and nothing may build on it.
            let ancestor = self
                .processing
                .get(&cursor)
                .ok_or(ChainError::UnknownParent(cursor))?;
            layers.push(ancestor.diff.clone());
            cursor = ancestor.block.parent;
        }
        Ok(BuildBase {
            block: tip.block.clone(),
            view: StateView::new(layers, self.store.clone(), tip.diff.lattice.clone()),
        })
    }

    /// Writes the block and its diff durably and makes it the last accepted block.
    pub fn accept(&mut self, id: &BlockId) -> Result<Arc<Block>, ChainError> {
        if *id == self.last_accepted.id {
            return Ok(self.last_accepted.clone());
        }
        let Some(pending) = self.processing.get(id) else {
            // Accepting an already accepted block again (the node may replay after a restart) is
            // a no-op; anything else is a block this node never verified.
            if let Some(BlockStatus::Accepted { .. }) = self.store.block_status(id.as_bytes())? {
                if let Some(block) = self.block(id)? {
                    return Ok(block);
                }
            }
            return Err(ChainError::UnknownBlock(*id));
        };
        if pending.block.parent != self.last_accepted.id {
            return Err(ChainError::ParentNotAccepted {
                id: *id,
                parent: pending.block.parent,
            });
        }
        let block = pending.block.clone();
        let diff = pending.diff.clone();
        let pruned = self.blocks_to_prune(block.height)?;
        self.store.accept(accept_batch(&block, &diff, pruned))?;
        self.processing.remove(id);
        self.last_accepted = block.clone();
        self.last_accepted_lattice = diff.lattice.clone();
        Ok(block)
    }

    /// The oldest kept bodies that accepting a block at `accepting` leaves more than
    /// `keep_blocks` heights behind, at most [`MAX_PRUNED_PER_ACCEPT`]; genesis is always kept.
    fn blocks_to_prune(&self, accepting: u64) -> Result<Vec<PrunedBlock>, ChainError> {
        if self.keep_blocks == 0 {
            return Ok(Vec::new());
        }
        let oldest = self.store.oldest_block_height()?;
        let end = accepting
            .saturating_sub(self.keep_blocks)
            .min(oldest.saturating_add(MAX_PRUNED_PER_ACCEPT));
        (oldest..end)
            .map(|height| {
                let missing = |what: &str| ChainError::Prune {
                    height,
                    reason: format!("its {what} is missing"),
                };
                let id = self
                    .store
                    .block_id_at_height(height)?
                    .ok_or_else(|| missing("height record"))?;
                let bytes = self.store.block(&id)?.ok_or_else(|| missing("body"))?;
                let block = Block::decode(&bytes, usize::MAX).map_err(|e| ChainError::Prune {
                    height,
                    reason: e.to_string(),
                })?;
                Ok(PrunedBlock {
                    height,
                    block_id: id,
                    tx_ids: block.txs.iter().map(|t| t.id.0).collect(),
                })
            })
            .collect()
    }

    /// Drops a processing block. Unknown IDs are not an error: the node only rejects blocks it
    /// verified, and an error here would stop the chain.
    pub fn reject(&mut self, id: &BlockId) -> Result<Option<Arc<Block>>, ChainError> {
        let Some(rejected) = self.processing.remove(id) else {
            return Ok(None);
        };
        self.store
            .record_rejected(rejected.block.id.as_bytes(), rejected.block.height)?;
        if self.preferred == *id {
            self.preferred = rejected.block.parent;
        }
        Ok(Some(rejected.block))
    }

    pub fn set_preference(&mut self, id: BlockId) {
        self.preferred = id;
    }

    /// The preferred block and the state after it: what new transactions are checked against and
    /// the next block is built on. A preference that is unknown, or on a branch that lost, falls
    /// back to the last accepted block.
    pub fn preferred_base(&self) -> Result<BuildBase, ChainError> {
        if self.processing.contains_key(&self.preferred) {
            if let Ok(base) = self.base(&self.preferred) {
                return Ok(base);
            }
        }
        self.base(&self.last_accepted.id)
    }

    /// Every processing block, for readers that keep a snapshot.
    pub fn processing_blocks(&self) -> Vec<Arc<Block>> {
        self.processing.values().map(|p| p.block.clone()).collect()
    }
}

fn accept_batch(block: &Block, diff: &StateDiff, pruned: Vec<PrunedBlock>) -> AcceptBatch {
    AcceptBatch {
        block_id: block.id.0,
        height: block.height,
        block_bytes: block.bytes.clone(),
        entry_writes: diff
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        nonce_writes: diff.nonces.iter().map(|(a, n)| (*a, *n)).collect(),
        account_writes: diff.accounts.iter().map(|(a, r)| (*a, *r)).collect(),
        tx_ids: block.txs.iter().map(|t| t.id.0).collect(),
        lattice: diff.lattice.clone(),
        pruned,
    }
}

#[cfg(test)]
mod tests;
