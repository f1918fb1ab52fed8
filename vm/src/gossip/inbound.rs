//! Inbound: the App* handlers. Every message is size-capped and throttled before it is parsed,
//! and every transaction is checked against the seen cache and the pool before any signature
//! work. None of these handlers returns an error: an error from an App* call stops the chain
//! (HOST-SPEC §6.2), so problems are logged at debug and counted.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cache::BoundedSet;
use crate::gossip::wire::{self, PullResponse, WireError};
use crate::gossip::{Gossip, Shared};
use crate::ids::TxId;
use crate::mempool::{AddError, AdmitError};
use crate::tx::Transaction;

/// What became of the transactions in one inbound message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub admitted: usize,
    /// Already handled (seen cache) or already pending: no signature work was done.
    pub skipped: usize,
    /// Refused by admission (remembered when the refusal is final).
    pub refused: usize,
    /// Not a transaction at all.
    pub malformed: usize,
}

/// Whether a refusal is final for this transaction, so it may be remembered as handled. A full
/// pool, a busy sender, a nonce ahead of the window or a full waiting budget can clear; the rest
/// cannot.
fn refusal_is_final(e: &AdmitError) -> bool {
    !matches!(
        e,
        AdmitError::Pool(
            AddError::Full(_)
                | AddError::SenderFull(_)
                | AddError::NonceTooHigh { .. }
                | AddError::NonceTaken(_)
                | AddError::WaitingFull { .. }
        ) | AdmitError::Storage(_)
    )
}

/// The inbound pipeline for transaction bytes from a peer, once the message passed its size and
/// throttle checks: decode (size-capped) → seen cache / pool check → `admit`. The seen cache is
/// consulted, and claimed, before `admit` runs, so a transaction delivered again (or concurrently
/// by two peers) is verified at most once.
pub fn receive_txs(
    seen: &BoundedSet<TxId>,
    txs: Vec<Vec<u8>>,
    max_tx_bytes: usize,
    is_pending: impl Fn(&TxId) -> bool,
    mut admit: impl FnMut(Transaction) -> Result<(), AdmitError>,
) -> Received {
    let mut out = Received::default();
    for bytes in txs {
        let Ok(tx) = Transaction::decode(&bytes, max_tx_bytes) else {
            out.malformed += 1;
            continue;
        };
        let id = tx.id;
        if is_pending(&id) || !seen.insert(id) {
            out.skipped += 1;
            continue;
        }
        match admit(tx) {
            Ok(()) => out.admitted += 1,
            Err(e) => {
                out.refused += 1;
                if !refusal_is_final(&e) {
                    seen.remove(&id);
                }
                tracing::debug!(tx = %id, error = %e, "gossiped transaction refused");
            }
        }
    }
    out
}

impl Gossip {
    /// An AppGossip: a push of transactions.
    pub async fn on_gossip(&self, from: Vec<u8>, msg: Vec<u8>) {
        let shared = &self.shared;
        if !shared.may_read(&from, msg.len(), "gossip") {
            return;
        }
        match wire::decode_push(&msg, shared.ctx.max_tx_bytes) {
            Ok(push) => {
                let received = shared.receive(from.clone(), push.txs).await;
                tracing::trace!(peer = %hex::encode(&from), ?received, "push received");
            }
            Err(e) => shared.wire_error(&from, "gossip", e),
        }
    }

    /// An AppRequest: a pull. Answered with what the requester's filter lacks.
    pub async fn on_request(
        &self,
        from: Vec<u8>,
        request_id: u32,
        deadline: Option<SystemTime>,
        msg: Vec<u8>,
    ) {
        let shared = &self.shared;
        if !shared.may_read(&from, msg.len(), "request") {
            return;
        }
        let filter = match wire::decode_pull_request(&msg) {
            Ok(f) => f,
            Err(e) => return shared.wire_error(&from, "request", e),
        };
        if deadline.is_some_and(|d| d <= SystemTime::now()) {
            tracing::debug!(peer = %hex::encode(&from), request_id, "pull request expired before it was read");
            return;
        }
        let Some(outbound) = &shared.outbound else {
            return;
        };
        // The answer holds what the peer's outbound budget pays for now; what it does not use is
        // given back. A request over the peer's pull rate gets nothing, without a pool scan. An
        // empty answer still goes, so the asker is not left waiting for its timeout.
        let wanted = shared.ctx.config.pull_response_budget_bytes;
        let granted = if shared.may_answer(&from) {
            shared.out_budget.grant(&from, wanted, Instant::now())
        } else {
            0
        };
        if granted < wanted {
            shared.ctx.metrics.gossip_budget_deferred.inc();
        }
        let txs = if granted > wire::BATCH_OVERHEAD + wire::PER_TX_OVERHEAD {
            let answering = shared.clone();
            tokio::task::spawn_blocking(move || answering.missing_from(&filter, granted))
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let count = txs.len();
        let response = wire::encode_response(&PullResponse { txs });
        shared
            .out_budget
            .give_back(&from, granted.saturating_sub(response.len()));
        match outbound.respond(from, request_id, response).await {
            Ok(()) => {
                shared.ctx.metrics.gossip_messages_sent.inc();
                shared.ctx.metrics.gossip_txs_sent.inc_by(count as u64);
            }
            Err(e) => shared.send_failed("response", &e),
        }
    }

    /// An AppResponse: the answer to one of our pulls. Only answers to outstanding requests, from
    /// the peer asked, are read.
    pub async fn on_response(&self, from: Vec<u8>, request_id: u32, msg: Vec<u8>) {
        let shared = &self.shared;
        let metrics = &shared.ctx.metrics;
        metrics.gossip_messages_received.inc();
        if !shared.pulls.lock().answered(request_id, &from) {
            metrics.gossip_dropped_messages.inc();
            tracing::debug!(peer = %hex::encode(&from), request_id, "dropping unsolicited app response");
            return;
        }
        if msg.len() >= wire::MAX_PAYLOAD_BYTES {
            metrics.gossip_dropped_messages.inc();
            tracing::debug!(peer = %hex::encode(&from), len = msg.len(), "dropping oversized app response");
            return;
        }
        match wire::decode_pull_response(&msg, shared.ctx.max_tx_bytes) {
            Ok(response) => {
                let received = shared.receive(from.clone(), response.txs).await;
                tracing::trace!(peer = %hex::encode(&from), ?received, "pull answered");
            }
            Err(e) => shared.wire_error(&from, "response", e),
        }
    }

    /// An AppRequestFailed: the pull is over, unanswered (timed out, or the peer is gone), and
    /// that peer backs off.
    pub fn on_request_failed(&self, from: &[u8], request_id: u32) {
        let Some(wait) = self
            .shared
            .pulls
            .lock()
            .failed(request_id, from, Instant::now())
        else {
            return;
        };
        self.shared.ctx.metrics.gossip_pull_failures.inc();
        tracing::debug!(peer = %hex::encode(from), request_id, wait_ms = wait.as_millis() as u64, "pull failed; backing off from that peer");
    }
}

impl Shared {
    /// Size cap, then throttle. True if the message may be read.
    fn may_read(&self, from: &[u8], len: usize, kind: &'static str) -> bool {
        let metrics = &self.ctx.metrics;
        metrics.gossip_messages_received.inc();
        if len >= wire::MAX_PAYLOAD_BYTES {
            metrics.gossip_dropped_messages.inc();
            tracing::debug!(peer = %hex::encode(from), len, kind, "dropping oversized app message");
            return false;
        }
        if !self.throttle.allow(from, len, Instant::now()) {
            metrics.gossip_dropped_messages.inc();
            metrics.gossip_throttled_messages.inc();
            tracing::debug!(peer = %hex::encode(from), len, kind, "throttling app message");
            return false;
        }
        true
    }

    /// The pull-request throttle. True if the request may be answered with transactions.
    fn may_answer(&self, from: &[u8]) -> bool {
        if self.pull_requests.allow(from, Instant::now()) {
            return true;
        }
        self.ctx.metrics.gossip_throttled_messages.inc();
        tracing::debug!(peer = %hex::encode(from), "pull request over the peer's rate: answered empty");
        false
    }

    fn wire_error(&self, from: &[u8], kind: &'static str, e: WireError) {
        self.ctx.metrics.gossip_dropped_messages.inc();
        if e.is_foreign() {
            tracing::debug!(peer = %hex::encode(from), kind, reason = %e, "ignoring app message for another handler");
        } else {
            tracing::debug!(peer = %hex::encode(from), kind, error = %e, "dropping malformed app message");
        }
    }

    /// Decodes and admits transactions from `from` on a blocking thread (signature checks are CPU
    /// work), and counts what happened.
    async fn receive(self: &Arc<Self>, from: Vec<u8>, txs: Vec<Vec<u8>>) -> Received {
        let count = txs.len();
        let shared = self.clone();
        let received = tokio::task::spawn_blocking(move || {
            let ctx = &shared.ctx;
            receive_txs(
                &shared.seen,
                txs,
                ctx.max_tx_bytes,
                |id| ctx.mempool.contains(id),
                |tx| ctx.admission.admit(tx, Some(from.clone())).map(drop),
            )
        })
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, "gossip admission task failed");
            Received::default()
        });
        let metrics = &self.ctx.metrics;
        metrics.gossip_txs_received.inc_by(count as u64);
        metrics.gossip_txs_admitted.inc_by(received.admitted as u64);
        metrics
            .gossip_txs_seen_skipped
            .inc_by(received.skipped as u64);
        received
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::error::TxError;
    use crate::tx::{Operation, UnsignedTx};

    fn tx(seed: u8, nonce: u64) -> Transaction {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Transaction::new(
            UnsignedTx {
                chain_id: [1; 32],
                sender: key.verifying_key().to_bytes(),
                nonce,
                ops: vec![Operation::Put {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                }],
            }
            .sign(&key),
        )
    }

    fn junk_signature(seed: u8) -> Transaction {
        let mut t = tx(seed, 0);
        t.signed.signature = [0x5a; 64];
        Transaction::new(t.signed)
    }

    /// An `admit` that does the signature work and counts it.
    fn verifying(count: &Cell<usize>) -> impl FnMut(Transaction) -> Result<(), AdmitError> + '_ {
        move |tx| {
            count.set(count.get() + 1);
            tx.verify_signature().map_err(AdmitError::from)
        }
    }

    #[test]
    fn seen_cache_skips_signature_work_for_a_junk_transaction_seen_twice() {
        let seen = BoundedSet::new(100);
        let verified = Cell::new(0);
        let junk = junk_signature(3).encode();
        let first = receive_txs(
            &seen,
            vec![junk.clone()],
            1 << 20,
            |_| false,
            verifying(&verified),
        );
        assert_eq!(first.refused, 1);
        let again = receive_txs(
            &seen,
            vec![junk.clone(), junk],
            1 << 20,
            |_| false,
            verifying(&verified),
        );
        assert_eq!(again.skipped, 2);
        assert_eq!(verified.get(), 1, "the bad signature was checked once");
    }

    #[test]
    fn admitted_and_pending_transactions_are_not_admitted_again() {
        let seen = BoundedSet::new(100);
        let verified = Cell::new(0);
        let good = tx(4, 0);
        let r = receive_txs(
            &seen,
            vec![good.encode()],
            1 << 20,
            |_| false,
            verifying(&verified),
        );
        assert_eq!(r.admitted, 1);
        let r = receive_txs(
            &seen,
            vec![good.encode()],
            1 << 20,
            |_| false,
            verifying(&verified),
        );
        assert_eq!(r.skipped, 1);
        // Pending in the pool but never seen by gossip (submitted locally): skipped as well.
        let local = tx(5, 0);
        let r = receive_txs(
            &BoundedSet::new(100),
            vec![local.encode()],
            1 << 20,
            |id| *id == local.id,
            verifying(&verified),
        );
        assert_eq!(r.skipped, 1);
        assert_eq!(verified.get(), 1);
    }

    #[test]
    fn transient_refusals_are_not_remembered() {
        let seen = BoundedSet::new(100);
        let t = tx(6, 0);
        let calls = Cell::new(0);
        let full = |_: Transaction| {
            calls.set(calls.get() + 1);
            Err(AdmitError::Pool(AddError::Full("bytes")))
        };
        receive_txs(&seen, vec![t.encode()], 1 << 20, |_| false, full);
        receive_txs(&seen, vec![t.encode()], 1 << 20, |_| false, full);
        assert_eq!(calls.get(), 2, "a full pool may have room later");
        let bad = |_: Transaction| Err(AdmitError::Invalid(TxError::WrongChain));
        receive_txs(&seen, vec![t.encode()], 1 << 20, |_| false, bad);
        assert!(seen.contains(&t.id), "a final refusal is remembered");
    }

    #[test]
    fn malformed_and_oversized_transactions_cost_no_admission() {
        let seen = BoundedSet::new(100);
        let verified = Cell::new(0);
        let big = tx(7, 0).encode();
        let r = receive_txs(
            &seen,
            vec![vec![1, 2, 3], big.clone()],
            big.len() - 1,
            |_| false,
            verifying(&verified),
        );
        assert_eq!(r.malformed, 2);
        assert_eq!(verified.get(), 0);
        assert!(seen.is_empty());
    }

    #[test]
    fn only_final_refusals_are_final() {
        assert!(refusal_is_final(&AdmitError::Invalid(
            TxError::BadSignature
        )));
        assert!(refusal_is_final(&AdmitError::Pool(AddError::Duplicate)));
        assert!(refusal_is_final(&AdmitError::Pool(AddError::NonceTooLow {
            next: 2,
            got: 1
        })));
        assert!(refusal_is_final(&AdmitError::AlreadyAccepted(3)));
        assert!(!refusal_is_final(&AdmitError::Pool(
            AddError::NonceTooHigh {
                next: 0,
                got: 100,
                window: 64
            }
        )));
        assert!(!refusal_is_final(&AdmitError::Pool(AddError::SenderFull(
            5
        ))));
    }
}
