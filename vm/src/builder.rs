//! Building the next block: pool candidates, executed in order on the preferred state, until the
//! block limits; and build readiness, which WaitForEvent reports to the node.
//!
//! Building reads the tip snapshot, never the chain lock: the preferred state there is exactly
//! what the block must be built on, and consensus calls need not wait for a build. The block built
//! is not kept: the node verifies it next, like any other block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::block::Block;
use crate::chain::{BuildBase, ChainParams, Clock};
use crate::engine_state::EngineState;
use crate::error::{ChainError, TxError};
use crate::execute::{ApplyError, BlockExecutor, StateDiff};
use crate::mempool::Mempool;
use crate::tip::Tip;
use crate::tx::{Transaction, VerifiedSignatures};

/// Bytes a block spends on everything but its transactions (parent, height, timestamp, tx count,
/// state root).
const BLOCK_OVERHEAD_BYTES: usize = 32 + 8 + 8 + 4 + 32;

/// The outcome of building: the block (none when no candidate could go in), and pending
/// transactions found invalid on the way. Those are reported even without a block, so that a
/// pool holding only dead transactions is cleared rather than asked to build forever.
pub struct Built {
    pub block: Option<Arc<Block>>,
    /// The block's writes and the lattice after them, as executing it here produced them: `Some`
    /// exactly when `block` is.
    pub diff: Option<Arc<StateDiff>>,
    pub invalid: Vec<(Transaction, TxError)>,
}

/// A block on `parent` from `candidates` (in the order given): each is checked and executed on the
/// state so far; what is invalid there is skipped and reported, and assembly stops at the block
/// limits. The timestamp is `now_ms`, or the parent's if that is later.
pub fn assemble(
    params: &ChainParams,
    signatures: &VerifiedSignatures,
    now_ms: u64,
    parent: BuildBase,
    candidates: impl IntoIterator<Item = Transaction>,
) -> Result<Built, ChainError> {
    let limits = &params.limits;
    let height = parent.block.height + 1;
    let mut executor = BlockExecutor::new(parent.view, height, params.access);
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
            .check_format(&params.chain_id, limits)
            .and_then(|_| signatures.verify(&tx));
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
            Err(ApplyError::Invalid(TxError::WrongNonce { expected, got })) if got > expected => {}
            Err(ApplyError::Invalid(e)) => invalid.push((tx, e)),
            Err(ApplyError::Storage(e)) => return Err(e.into()),
        }
    }
    if included.is_empty() {
        return Ok(Built {
            block: None,
            diff: None,
            invalid,
        });
    }
    let timestamp_ms = now_ms.max(parent.block.timestamp_ms);
    let root = executor.state_root();
    let block = Block::new(parent.block.id, height, timestamp_ms, included, root);
    Ok(Built {
        block: Some(Arc::new(block)),
        diff: Some(Arc::new(executor.finish())),
        invalid,
    })
}

/// The chain was shut down while waiting.
#[derive(Debug, thiserror::Error)]
#[error("the chain is shut down")]
pub struct ShutDown;

pub struct Builder {
    params: ChainParams,
    mempool: Arc<Mempool>,
    tip: Tip,
    signatures: Arc<VerifiedSignatures>,
    clock: Clock,
    min_block_gap_ms: u64,
    /// Mempool version at the last build that found nothing to build, so readiness does not
    /// announce the same unbuildable pool again (that would loop build/poll).
    failed_build_version: AtomicU64,
    /// The last block built, with its execution's diff: the node verifies a block it built right
    /// after building it, and that verify need not decode and execute the block again.
    last_built: Mutex<Option<(Arc<Block>, Arc<StateDiff>)>>,
}

impl Builder {
    pub fn new(
        params: ChainParams,
        mempool: Arc<Mempool>,
        tip: Tip,
        signatures: Arc<VerifiedSignatures>,
        clock: Clock,
        min_block_gap_ms: u64,
    ) -> Self {
        Self {
            params,
            mempool,
            tip,
            signatures,
            clock,
            min_block_gap_ms,
            failed_build_version: AtomicU64::new(u64::MAX),
            last_built: Mutex::new(None),
        }
    }

    /// Builds a block on the preferred tip from the pool's candidates (in their order), skipping
    /// what is invalid there and stopping at the block limits. Found nothing (or failed): not
    /// ready again until the pool changes.
    pub fn build(&self) -> Result<Built, ChainError> {
        let pool_version = *self.mempool.subscribe().borrow();
        let built = self.build_on_preferred();
        match &built {
            Ok(Built {
                block: Some(block),
                diff: Some(diff),
                ..
            }) => *self.last_built.lock() = Some((block.clone(), diff.clone())),
            _ => self
                .failed_build_version
                .store(pool_version, Ordering::Release),
        }
        built
    }

    /// The last block built and its diff, if `bytes` are that block's (and it was not taken yet).
    pub fn take_built(&self, bytes: &[u8]) -> Option<(Arc<Block>, Arc<StateDiff>)> {
        let mut last = self.last_built.lock();
        match &*last {
            Some((block, _)) if block.bytes == bytes => last.take(),
            _ => None,
        }
    }

    fn build_on_preferred(&self) -> Result<Built, ChainError> {
        let snapshot = self.tip.load();
        let max_candidates = self.params.limits.max_txs_per_block as usize * 2;
        let view = &snapshot.preferred_view;
        // An account whose nonce cannot be read yields no candidates; the build reports the
        // storage error below, when it reads the same state.
        let candidates = self.mempool.candidates(max_candidates, |sender| {
            view.nonce(sender).unwrap_or(u64::MAX)
        });
        assemble(
            &self.params,
            &self.signatures,
            (self.clock)(),
            BuildBase {
                block: snapshot.preferred.clone(),
                view: view.clone(),
            },
            candidates,
        )
    }

    /// Whether some pending transaction could go into a block on the preferred tip now.
    pub fn has_executable(&self) -> bool {
        let view = self.tip.preferred_view();
        self.mempool
            .has_executable(|sender| view.nonce(sender).unwrap_or(u64::MAX))
    }

    /// Resolves when a block can be built in NORMAL_OP: executable transactions wait and the
    /// minimum gap since the preferred block has passed. The caller cancels by dropping the future.
    pub async fn ready(
        &self,
        mut state: watch::Receiver<EngineState>,
        mut shut_down: watch::Receiver<bool>,
    ) -> Result<(), ShutDown> {
        let mut pool = self.mempool.subscribe();
        loop {
            let version = *pool.borrow_and_update();
            let normal = *state.borrow_and_update() == EngineState::NormalOp;
            let fresh = self.failed_build_version.load(Ordering::Acquire) != version;
            let mut gap_wait = None;
            if normal && fresh && self.has_executable() {
                let preferred_ms = self.tip.load().preferred.timestamp_ms;
                let ready_at = preferred_ms.saturating_add(self.min_block_gap_ms);
                let now = (self.clock)();
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
                r = state.changed() => if r.is_err() { return Err(ShutDown) },
                r = pool.changed() => if r.is_err() { return Err(ShutDown) },
                _ = gap => {}
                _ = shut_down.wait_for(|down| *down) => return Err(ShutDown),
            }
        }
    }
}
