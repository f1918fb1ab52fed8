//! The chain's tip as readers see it — last accepted block, processing blocks, preferred block and
//! the state after it — without taking the consensus lock.
//!
//! Consensus calls publish a new [`TipSnapshot`] after every change, while they still hold the
//! chain lock, so snapshots appear in the order the chain changed. Readers (admission, the
//! builder, the JSON-RPC API, health) load the current one: an `ArcSwap` makes that a pointer
//! copy, never a wait on a slow accept, and never a copy of the snapshot itself.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::block::Block;
use crate::chain::{BuildBase, Chain};
use crate::error::ChainError;
use crate::execute::StateView;
use crate::ids::BlockId;

pub struct TipSnapshot {
    pub last_accepted: Arc<Block>,
    pub processing: Vec<Arc<Block>>,
    /// The preferred block, or the last accepted one when the preference cannot be built on.
    pub preferred: Arc<Block>,
    /// The state after `preferred`.
    pub preferred_view: StateView,
}

impl TipSnapshot {
    /// The tip of `chain` as it stands.
    pub fn of(chain: &Chain) -> Result<Self, ChainError> {
        let BuildBase { block, view } = chain.preferred_base()?;
        Ok(Self {
            last_accepted: chain.last_accepted().clone(),
            processing: chain.processing_blocks(),
            preferred: block,
            preferred_view: view,
        })
    }
}

/// A cheap-to-clone handle to the current snapshot.
#[derive(Clone)]
pub struct Tip {
    current: Arc<ArcSwap<TipSnapshot>>,
}

impl Tip {
    pub fn new(snapshot: TipSnapshot) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
        }
    }

    pub fn load(&self) -> Arc<TipSnapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot; call with the chain lock held, so publications keep their order.
    pub fn publish(&self, snapshot: TipSnapshot) {
        self.current.store(Arc::new(snapshot));
    }

    pub fn last_accepted(&self) -> Arc<Block> {
        self.current.load().last_accepted.clone()
    }

    /// A processing block by ID.
    pub fn processing_block(&self, id: &BlockId) -> Option<Arc<Block>> {
        self.current
            .load()
            .processing
            .iter()
            .find(|b| b.id == *id)
            .cloned()
    }

    pub fn processing_count(&self) -> usize {
        self.current.load().processing.len()
    }

    /// The state new transactions are checked against.
    pub fn preferred_view(&self) -> StateView {
        self.current.load().preferred_view.clone()
    }
}
