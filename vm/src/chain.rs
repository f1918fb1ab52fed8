//! The tree of processing blocks over the last accepted block: verify, accept, reject, preference,
//! and building a block on the preferred tip.
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
use kvvm_storage::{AcceptBatch, BlockStatus, ChainStore, Entry, GenesisState};

use crate::block::{short_hex, Block, BlockId};
use crate::error::{ChainError, TxError};
use crate::execute::{lattice_of, ApplyError, BlockExecutor, StateDiff, StateView};
use crate::tx::{Transaction, VerifiedSignatures};

/// How far ahead of this node's clock a block timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 10_000;

/// Bytes a block spends on everything but its transactions (parent, height, timestamp, tx count,
/// state root).
const BLOCK_OVERHEAD_BYTES: usize = 32 + 8 + 8 + 4 + 32;

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
}

struct ProcessingBlock {
    block: Arc<Block>,
    diff: Arc<StateDiff>,
}

/// What an accept changed, for the mempool and metrics.
pub struct Accepted {
    pub block: Arc<Block>,
}

/// The outcome of building: the block (none when no candidate could go in), and pending
/// transactions found invalid on the way. Those are reported even without a block, so that a
/// pool holding only dead transactions is cleared rather than asked to build forever.
pub struct Built {
    pub block: Option<Arc<Block>>,
    pub invalid: Vec<(Transaction, TxError)>,
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
}

impl Chain {
    /// Opens the chain on `store`, writing the genesis block first if the store is new.
    pub fn open(
        store: ChainStore,
        genesis: &Genesis,
        genesis_hash: [u8; 32],
        params: ChainParams,
        signatures: Arc<VerifiedSignatures>,
        clock: Clock,
    ) -> Result<Self, OpenError> {
        if store.is_initialized()? {
            let stored = store.genesis_hash()?.ok_or(OpenError::MissingMetadata)?;
            if stored != genesis_hash {
                return Err(OpenError::GenesisMismatch {
                    stored: hex::encode(stored),
                    given: hex::encode(genesis_hash),
                });
            }
        } else {
            let (block, state) = genesis_state(genesis, genesis_hash);
            tracing::info!(block = %short_hex(&block.id), entries = state.entries.len(), "writing genesis");
            store.write_genesis(state)?;
        }
        let (id, height) = store.last_accepted()?.ok_or(OpenError::MissingMetadata)?;
        let bytes = store.block(&id)?.ok_or(OpenError::MissingMetadata)?;
        let last_accepted = Arc::new(
            Block::decode(&bytes, usize::MAX).map_err(|e| OpenError::Corrupt(e.to_string()))?,
        );
        if last_accepted.id != id || last_accepted.height != height {
            return Err(OpenError::Corrupt(
                "last accepted pointer disagrees with the stored block".into(),
            ));
        }
        let last_accepted_lattice = store.lattice()?;
        if last_accepted_lattice.checksum() != last_accepted.state_root {
            return Err(OpenError::Corrupt(
                "stored state lattice does not match the last accepted block's state root".into(),
            ));
        }
        Ok(Self {
            store,
            params,
            signatures,
            clock,
            preferred: id,
            last_accepted,
            last_accepted_lattice,
            processing: HashMap::new(),
        })
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn last_accepted(&self) -> &Arc<Block> {
        &self.last_accepted
    }

    pub fn preferred(&self) -> BlockId {
        self.preferred
    }

    pub fn processing_count(&self) -> usize {
        self.processing.len()
    }

    /// Stateless parse, bounded by the chain's block size limit.
    pub fn parse(&self, bytes: &[u8]) -> Result<Block, ChainError> {
        Block::decode(bytes, self.params.limits.max_block_bytes as usize)
    }

    /// A processing or accepted block. Rejected blocks are not served.
    pub fn block(&self, id: &BlockId) -> Result<Option<Arc<Block>>, ChainError> {
        if *id == self.last_accepted.id {
            return Ok(Some(self.last_accepted.clone()));
        }
        if let Some(p) = self.processing.get(id) {
            return Ok(Some(p.block.clone()));
        }
        match self.store.block(id)? {
            Some(bytes) => Ok(Some(Arc::new(Block::decode(&bytes, usize::MAX)?))),
            None => Ok(None),
        }
    }

    pub fn block_id_at_height(&self, height: u64) -> Result<Option<BlockId>, ChainError> {
        Ok(self.store.block_id_at_height(height)?)
    }

    /// Verifies a block against its parent's state and keeps it as processing.
    pub fn verify(&mut self, block: Block) -> Result<Arc<Block>, ChainError> {
        if let Some(p) = self.processing.get(&block.id) {
            return Ok(p.block.clone());
        }
        if block.height <= self.last_accepted.height {
            return match self.store.block_id_at_height(block.height)? {
                Some(id) if id == block.id => Ok(Arc::new(block)),
                _ => Err(ChainError::ConflictsWithAccepted(short_hex(&block.id))),
            };
        }
        let (parent_height, parent_ts, view) = self.view_at(&block.parent)?;
        if block.height != parent_height + 1 {
            return Err(ChainError::WrongHeight {
                expected: parent_height + 1,
                got: block.height,
            });
        }
        if block.timestamp_ms < parent_ts {
            return Err(ChainError::TimestampBeforeParent {
                parent_ms: parent_ts,
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
        let mut seen = HashSet::with_capacity(block.txs.len());
        let mut executor = BlockExecutor::new(view, block.height);
        for (index, tx) in block.txs.iter().enumerate() {
            if !seen.insert(tx.id) {
                return Err(ChainError::DuplicateTx(short_hex(&tx.id)));
            }
            let invalid = |source| ChainError::InvalidTx {
                index,
                id: short_hex(&tx.id),
                source,
            };
            tx.check_format(&self.params.chain_id, limits)
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
                expected: hex::encode(root),
                got: hex::encode(block.state_root),
            });
        }
        let block = Arc::new(block);
        self.processing.insert(
            block.id,
            ProcessingBlock {
                block: block.clone(),
                diff: Arc::new(executor.finish()),
            },
        );
        Ok(block)
    }

    /// Height, timestamp and state view of a block that can be built on: the last accepted block
    /// or a processing one.
    fn view_at(&self, id: &BlockId) -> Result<(u64, u64, StateView), ChainError> {
        if *id == self.last_accepted.id {
            return Ok((
                self.last_accepted.height,
                self.last_accepted.timestamp_ms,
                StateView::new(
                    Vec::new(),
                    self.store.clone(),
                    self.last_accepted_lattice.clone(),
                ),
            ));
        }
        let tip = self
            .processing
            .get(id)
            .ok_or_else(|| ChainError::UnknownParent(short_hex(id)))?;
        let mut layers = vec![tip.diff.clone()];
        let mut cursor = tip.block.parent;
        while cursor != self.last_accepted.id {
            // A processing block whose ancestry does not reach the last accepted block sits on a
            // branch that lost; it will be rejected, and nothing may build on it.
            let ancestor = self
                .processing
                .get(&cursor)
                .ok_or_else(|| ChainError::UnknownParent(short_hex(&cursor)))?;
            layers.push(ancestor.diff.clone());
            cursor = ancestor.block.parent;
        }
        Ok((
            tip.block.height,
            tip.block.timestamp_ms,
            StateView::new(layers, self.store.clone(), tip.diff.lattice.clone()),
        ))
    }

    /// Writes the block and its diff durably and makes it the last accepted block.
    pub fn accept(&mut self, id: &BlockId) -> Result<Accepted, ChainError> {
        if *id == self.last_accepted.id {
            return Ok(Accepted {
                block: self.last_accepted.clone(),
            });
        }
        let Some(pending) = self.processing.get(id) else {
            // Accepting an already accepted block again (the node may replay after a restart) is
            // a no-op; anything else is a block this node never verified.
            if let Some(BlockStatus::Accepted { .. }) = self.store.block_status(id)? {
                if let Some(block) = self.block(id)? {
                    return Ok(Accepted { block });
                }
            }
            return Err(ChainError::UnknownBlock(short_hex(id)));
        };
        if pending.block.parent != self.last_accepted.id {
            return Err(ChainError::ParentNotAccepted {
                id: short_hex(id),
                parent: short_hex(&pending.block.parent),
            });
        }
        let block = pending.block.clone();
        let diff = pending.diff.clone();
        self.store.accept(AcceptBatch {
            block_id: block.id,
            height: block.height,
            block_bytes: block.bytes.clone(),
            entry_writes: diff
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            nonce_writes: diff.nonces.iter().map(|(a, n)| (*a, *n)).collect(),
            tx_ids: block.txs.iter().map(|t| t.id).collect(),
            lattice: diff.lattice.clone(),
        })?;
        self.processing.remove(id);
        self.last_accepted = block.clone();
        self.last_accepted_lattice = diff.lattice.clone();
        Ok(Accepted { block })
    }

    /// Drops a processing block. Unknown IDs are not an error: the node only rejects blocks it
    /// verified, and an error here would stop the chain.
    pub fn reject(&mut self, id: &BlockId) -> Result<Option<Arc<Block>>, ChainError> {
        let Some(rejected) = self.processing.remove(id) else {
            return Ok(None);
        };
        self.store
            .record_rejected(&rejected.block.id, rejected.block.height)?;
        if self.preferred == *id {
            self.preferred = rejected.block.parent;
        }
        Ok(Some(rejected.block))
    }

    pub fn set_preference(&mut self, id: BlockId) {
        self.preferred = id;
    }

    pub fn status(&self, id: &BlockId) -> Result<Option<BlockStatus>, ChainError> {
        Ok(self.store.block_status(id)?)
    }

    /// Builds a block on the preferred tip from `candidates` (in the order given), skipping what is
    /// invalid there and stopping at the block limits.
    pub fn build(&self, candidates: Vec<Transaction>) -> Result<Built, ChainError> {
        let parent = if self.preferred == self.last_accepted.id
            || self.processing.contains_key(&self.preferred)
        {
            self.preferred
        } else {
            self.last_accepted.id
        };
        let (parent_height, parent_ts, view) = self.view_at(&parent)?;
        let height = parent_height + 1;
        let limits = &self.params.limits;
        let mut executor = BlockExecutor::new(view, height);
        let mut included = Vec::new();
        let mut invalid = Vec::new();
        let mut bytes = BLOCK_OVERHEAD_BYTES;
        for tx in candidates {
            if included.len() >= limits.max_txs_per_block as usize {
                break;
            }
            if bytes + tx.encoded_len > limits.max_block_bytes as usize {
                continue;
            }
            let checked = tx
                .check_format(&self.params.chain_id, limits)
                .and_then(|_| self.signatures.verify(&tx));
            if let Err(e) = checked {
                invalid.push((tx, e));
                continue;
            }
            match executor.apply(&tx) {
                Ok(()) => {
                    bytes += tx.encoded_len;
                    included.push(tx);
                }
                // A nonce ahead of the account's next one may become valid later: not invalid.
                Err(ApplyError::Invalid(TxError::WrongNonce { expected, got }))
                    if got > expected => {}
                Err(ApplyError::Invalid(e)) => invalid.push((tx, e)),
                Err(ApplyError::Storage(e)) => return Err(e.into()),
            }
        }
        if included.is_empty() {
            return Ok(Built {
                block: None,
                invalid,
            });
        }
        let timestamp_ms = (self.clock)().max(parent_ts);
        let block = Block::new(
            parent,
            height,
            timestamp_ms,
            included,
            executor.state_root(),
        );
        Ok(Built {
            block: Some(Arc::new(block)),
            invalid,
        })
    }

    /// The state as of the preferred tip (the last accepted block if the preference is unknown):
    /// what new transactions are checked against.
    pub fn preferred_view(&self) -> Result<(Arc<Block>, StateView), ChainError> {
        if let Some(p) = self.processing.get(&self.preferred) {
            // A preferred block on a branch that lost falls back to the accepted state.
            if let Ok((_, _, view)) = self.view_at(&p.block.id) {
                return Ok((p.block.clone(), view));
            }
        }
        let (_, _, view) = self.view_at(&self.last_accepted.id)?;
        Ok((self.last_accepted.clone(), view))
    }

    /// Every processing block, for readers that keep a snapshot.
    pub fn processing_blocks(&self) -> Vec<Arc<Block>> {
        self.processing.values().map(|p| p.block.clone()).collect()
    }

    /// The state of the last accepted block, for reads that must not wait on consensus.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("this chain's data directory was created with a different genesis (stored genesis hash {stored}, given {given}); use the original genesis or an empty data directory")]
    GenesisMismatch { stored: String, given: String },
    #[error("the chain database is missing metadata it should have")]
    MissingMetadata,
    #[error("the chain database is inconsistent: {0}")]
    Corrupt(String),
    #[error("storage: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
}

/// The genesis block and the state it starts.
pub fn genesis_state(genesis: &Genesis, genesis_hash: [u8; 32]) -> (Block, GenesisState) {
    let entries: Vec<(Vec<u8>, Entry)> = genesis
        .entries
        .iter()
        .map(|e| {
            (
                e.key.clone(),
                Entry {
                    value: e.value.clone(),
                    owner: e.owner,
                    height: 0,
                },
            )
        })
        .collect();
    let lattice = lattice_of(
        entries.iter().map(|(k, e)| (k.as_slice(), e)),
        std::iter::empty(),
    );
    // The parent of genesis is the genesis hash: 32 bytes, never all zeros, and different for
    // every genesis document.
    let block = Block::new(
        genesis_hash,
        0,
        genesis.timestamp * 1000,
        Vec::new(),
        lattice.checksum(),
    );
    let state = GenesisState {
        genesis_hash,
        block_id: block.id,
        block_bytes: block.bytes.clone(),
        entries,
        lattice,
    };
    (block, state)
}
