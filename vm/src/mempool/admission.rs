//! Admission: the checks a new transaction passes before it waits in the pool, whether it was
//! submitted here or gossiped by a peer, and the broadcast of each admitted one for gossip to push.
//!
//! Admission never waits on consensus work: it checks against the tip snapshot's preferred state.

use std::sync::Arc;
use std::time::Instant;

use kvvm_storage::{ChainStore, StorageError};
use tokio::sync::broadcast;

use crate::chain::ChainParams;
use crate::error::TxError;
use crate::execute::{ApplyError, BlockExecutor};
use crate::ids::{BlockId, TxId};
use crate::mempool::fate::{Fate, FateLog, WAITED_TOO_LONG};
use crate::mempool::pool::{AddError, Mempool};
use crate::metrics::Metrics;
use crate::tip::Tip;
use crate::tx::{AccountId, Transaction, VerifiedSignatures};

/// How many admissions gossip may fall behind before it misses some; periodic regossip covers the
/// missed ones.
const ADMITTED_BACKLOG: usize = 4096;

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

/// Why a transaction was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Pool(#[from] AddError),
    #[error("transaction is already accepted at height {0}")]
    AlreadyAccepted(u64),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// What admission reads and writes; the pieces are shared with the rest of the node.
pub struct AdmissionParts {
    pub params: ChainParams,
    pub mempool: Arc<Mempool>,
    pub store: ChainStore,
    pub tip: Tip,
    pub signatures: Arc<VerifiedSignatures>,
    pub fates: Arc<FateLog>,
    pub metrics: Arc<Metrics>,
}

/// A cheap-to-clone handle: the JSON-RPC server and gossip each hold one.
#[derive(Clone)]
pub struct Admission {
    parts: Arc<AdmissionParts>,
    admitted: broadcast::Sender<Admitted>,
}

impl Admission {
    pub fn new(parts: AdmissionParts) -> Self {
        Self {
            parts: Arc::new(parts),
            admitted: broadcast::channel(ADMITTED_BACKLOG).0,
        }
    }

    /// Every admission from now on. Lagging receivers miss events rather than slow admission.
    pub fn subscribe(&self) -> broadcast::Receiver<Admitted> {
        self.admitted.subscribe()
    }

    /// Checks a new transaction against the preferred state and keeps it for a block; `source` is
    /// the peer that gossiped it. A refusal is remembered as the transaction's fate, except for a
    /// duplicate, which is no verdict on the transaction.
    pub fn admit(&self, tx: Transaction, source: Option<Vec<u8>>) -> Result<TxId, AdmitError> {
        let id = tx.id;
        let parts = &self.parts;
        let result = self.check_and_pool(tx);
        match &result {
            Ok(()) => {
                parts.fates.forget(&id);
                let _ = self.admitted.send(Admitted { id, source });
            }
            Err(AdmitError::Pool(AddError::Duplicate)) | Err(AdmitError::AlreadyAccepted(_)) => {}
            Err(e) => parts.fates.record(id, Fate::Rejected, e.to_string()),
        }
        parts.metrics.mempool_txs.set(parts.mempool.len() as i64);
        result.map(|()| id)
    }

    fn check_and_pool(&self, tx: Transaction) -> Result<(), AdmitError> {
        let parts = &self.parts;
        if parts.mempool.contains(&tx.id) {
            return Err(AddError::Duplicate.into());
        }
        if let Some((height, _)) = parts.store.tx_location(tx.id.as_bytes())? {
            return Err(AdmitError::AlreadyAccepted(height));
        }
        tx.check_format(&parts.params.chain_id, &parts.params.limits)?;
        let view = parts.tip.preferred_view();
        let sender = *tx.sender();
        // Before the signature: on a restricted chain a stranger's transaction then costs one
        // read, not a signature check, however many it sends. An open chain skips the read.
        let access = &parts.params.access;
        if access.restricted {
            access.check_sender(view.account(&sender)?.role)?;
        }
        parts.signatures.verify(&tx)?;
        let next = view.nonce(&sender)?;
        match BlockExecutor::new(view, 0, parts.params.access).check_admissible(&tx) {
            Ok(()) => {}
            Err(ApplyError::Invalid(e)) => return Err(e.into()),
            Err(ApplyError::Storage(e)) => return Err(e.into()),
        }
        // Admissions are what fill the waiting budget, so they are also what empties it of the
        // transactions that waited too long.
        for expired in parts.mempool.expire_waiting(Instant::now()) {
            parts.fates.record(expired, Fate::Dropped, WAITED_TOO_LONG);
        }
        for gone in parts.mempool.add(tx, next)? {
            parts
                .fates
                .record(gone.id, Fate::Dropped, "evicted: the mempool was full");
        }
        Ok(())
    }

    /// The next nonce per the last accepted state, and the one a new transaction should carry.
    pub fn nonces(&self, account: &AccountId) -> Result<(u64, u64), StorageError> {
        let parts = &self.parts;
        let accepted = parts.store.nonce(account)?;
        let preferred = parts.tip.preferred_view().nonce(account)?;
        Ok((accepted, parts.mempool.next_nonce(account, preferred)))
    }

    pub fn tx_state(&self, id: &TxId) -> Result<TxState, StorageError> {
        let parts = &self.parts;
        if let Some((height, block)) = parts.store.tx_location(id.as_bytes())? {
            let block = BlockId(block);
            return Ok(TxState::Accepted { height, block });
        }
        if parts.mempool.contains(id) {
            return Ok(TxState::Pending);
        }
        Ok(match parts.fates.get(id) {
            Some(o) if o.fate == Fate::Rejected => TxState::Rejected { reason: o.reason },
            Some(o) => TxState::Dropped { reason: o.reason },
            None => TxState::Unknown,
        })
    }
}
