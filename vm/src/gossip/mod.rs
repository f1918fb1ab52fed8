//! Transaction gossip between kvvm nodes, carried by the node's app messages (HOST-SPEC §6).
//!
//! **Push.** Every transaction admitted to the mempool (`Running::admitted`) is collected for up to
//! `gossipPushIntervalMs` or until `gossipPushBudgetBytes` of it are waiting, then sent with
//! `SendAppGossip` to every connected peer except this node and except the peer the transaction
//! came from (a batch mixing sources becomes one message per source, so nothing is echoed back).
//! Every `gossipRegossipIntervalMs`, pending transactions not sent for that long are pushed again,
//! least recently sent first, within the same budget: lost messages and late peers are covered.
//!
//! **Pull.** Every `gossipPullIntervalMs` one random connected peer is sent an `AppRequest` holding
//! a bloom filter of this node's pool ([`bloom`]); it answers with pool transactions the filter
//! does not contain, within `gossipPullResponseBudgetBytes`. Only responses to outstanding requests
//! are read.
//!
//! **Wire format** ([`wire`]). AppGossip and AppRequest payloads follow the `network/p2p` SDK
//! framing; responses are not prefixed (HOST-SPEC §6.3):
//!
//! ```text
//! AppGossip   = uvarint(0) ‖ 0x01 ‖ borsh(PushTxs     { txs: Vec<Vec<u8>> })
//! AppRequest  = uvarint(0) ‖ 0x01 ‖ borsh(PullRequest { filter: { salt: [u8; 32], hash_count: u8,
//!                                                                 bit_count: u32, bits: Vec<u8> } })
//! AppResponse =              0x01 ‖ borsh(PullResponse { txs: Vec<Vec<u8>> })
//! ```
//!
//! `0` is the SDK's transaction-gossip handler ID and `0x01` the body version; each entry of `txs`
//! is one signed transaction in its canonical encoding (`tx::Transaction::encode`). A payload with
//! another handler ID or version is someone else's traffic: ignored, logged at debug.
//!
//! **Inbound.** Every message the node delivers is, in order: refused if it is 2 MiB or more
//! (before a byte is parsed); charged to the sending peer's token buckets ([`throttle`]) and
//! dropped if they are empty; parsed, with each transaction capped at the chain's `max_tx_bytes`;
//! then each transaction is decoded (blake3 gives its ID) and skipped if its ID is in the seen
//! cache ([`seen`]) or the pool — before any signature work — and otherwise admitted with
//! `Running::admit_from`, which verifies it. The four App* handlers never return an error: any
//! error from them stops the chain (HOST-SPEC §6.2), so problems are logged at debug and counted
//! in the `gossip_*` metrics.
//!
//! **Lifetime.** [`Gossip::start`] spawns the push, regossip and pull tasks (only when the node
//! gave a `server_addr` to send through); they end when the VM shuts down or [`Gossip::stop`]
//! runs. Nothing here takes the chain lock, so gossip never waits on consensus or blocks it.

pub mod bloom;
pub mod config;
mod outbound;
pub mod seen;
pub mod throttle;
pub mod wire;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::block::short_hex;
use crate::gossip::bloom::BloomFilter;
use crate::gossip::config::GossipConfig;
use crate::gossip::outbound::Outbound;
use crate::gossip::seen::SeenCache;
use crate::gossip::throttle::Throttle;
use crate::gossip::wire::{PullRequest, PullResponse, PushTxs, WireError};
use crate::mempool::AddError;
use crate::tx::{Transaction, TxId};
use crate::vm::{AdmitError, Admitted, Running};

/// Pull requests awaiting an answer, at most. The node answers or fails every request it sent, so
/// this only bounds what a misbehaving node could leave behind.
const MAX_OUTSTANDING_PULLS: usize = 8;
/// A pull request neither answered nor failed within this is forgotten.
const PULL_EXPIRY: Duration = Duration::from_secs(30);

/// The gossip layer of one running chain. A cheap-to-share handle (`Arc<Gossip>`): the App*
/// handlers call into it, and its tasks hold it until they stop.
pub struct Gossip {
    running: Arc<Running>,
    config: GossipConfig,
    max_tx_bytes: usize,
    seen: SeenCache,
    throttle: Throttle,
    /// `None` when the node gave no `server_addr`: then this node receives but never sends.
    outbound: Option<Outbound>,
    /// Where each pending transaction came from and when it was last pushed, for regossip. A std
    /// `Mutex`: map operations only, never held across an `.await`.
    sent: Mutex<HashMap<TxId, SentTx>>,
    /// Outstanding pull requests. A std `Mutex`, same reason.
    pulls: Mutex<Pulls>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct SentTx {
    source: Option<Vec<u8>>,
    last_sent: Instant,
}

#[derive(Default)]
struct Pulls {
    last_id: u32,
    outstanding: HashMap<u32, (Vec<u8>, Instant)>,
}

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
/// pool, a busy sender or a nonce ahead of the window can clear; the rest cannot.
fn refusal_is_final(e: &AdmitError) -> bool {
    !matches!(
        e,
        AdmitError::Pool(
            AddError::Full(_)
                | AddError::SenderFull(_)
                | AddError::NonceTooHigh { .. }
                | AddError::NonceTaken(_)
        ) | AdmitError::Storage(_)
    )
}

/// The inbound pipeline for transaction bytes from a peer, once the message passed its size and
/// throttle checks: decode (size-capped) → seen cache / pool check → `admit`. The seen cache is
/// consulted, and claimed, before `admit` runs, so a transaction delivered again (or concurrently
/// by two peers) is verified at most once.
pub fn receive_txs(
    seen: &SeenCache,
    txs: Vec<Vec<u8>>,
    max_tx_bytes: usize,
    is_pending: impl Fn(&TxId) -> bool,
    mut admit: impl FnMut(Transaction) -> Result<(), AdmitError>,
) -> Received {
    let mut out = Received::default();
    for bytes in txs {
        let tx = match Transaction::decode(&bytes, max_tx_bytes) {
            Ok(tx) => tx,
            Err(_) => {
                out.malformed += 1;
                continue;
            }
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
                    seen.forget(&id);
                }
                tracing::debug!(tx = %short_hex(&id), error = %e, "gossiped transaction refused");
            }
        }
    }
    out
}

impl Gossip {
    /// Creates the gossip layer and, if the node gave a `server_addr`, starts its tasks. They stop
    /// when `shutdown` turns true or [`Gossip::stop`] runs.
    pub fn start(running: Arc<Running>, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let config = running.config.gossip;
        let outbound = if running.server_addr.is_empty() {
            tracing::info!("the node gave no server address: gossip receives but does not send");
            None
        } else {
            match Outbound::new(&running.server_addr) {
                Ok(o) => Some(o),
                Err(e) => {
                    tracing::warn!(addr = %running.server_addr, error = %e, "unusable server address: gossip does not send");
                    None
                }
            }
        };
        let gossip = Arc::new(Self {
            max_tx_bytes: running.params.limits.max_tx_bytes as usize,
            seen: SeenCache::new(config.seen_cache_size),
            throttle: Throttle::new(config.peer_msgs_per_sec, config.peer_bytes_per_sec),
            outbound,
            sent: Mutex::new(HashMap::new()),
            pulls: Mutex::new(Pulls::default()),
            tasks: Mutex::new(Vec::new()),
            config,
            running,
        });
        if gossip.outbound.is_some() {
            // Subscribe now, not inside the task, so no admission after `start` returns is missed.
            let admitted = gossip.running.admitted.subscribe();
            let tasks = vec![
                tokio::spawn(gossip.clone().push_loop(admitted, shutdown.clone())),
                tokio::spawn(gossip.clone().regossip_loop(shutdown.clone())),
                tokio::spawn(gossip.clone().pull_loop(shutdown)),
            ];
            *gossip.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        }
        gossip
    }

    /// Stops the background tasks (they hold the handle, so this also lets it drop).
    pub fn stop(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Connected peers a message may go to: never this node, never `except`.
    fn targets(&self, except: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.running
            .peers()
            .into_iter()
            .filter(|p| *p != self.running.node_id && Some(p.as_slice()) != except)
            .collect()
    }

    // ---------------------------------------------------------------------------------------
    // Inbound: the App* handlers. None of these returns an error.

    /// Size cap, then throttle. True if the message may be read.
    fn admit_message(&self, from: &[u8], len: usize, kind: &'static str) -> bool {
        let metrics = &self.running.metrics;
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

    fn wire_error(&self, from: &[u8], kind: &'static str, e: WireError) {
        self.running.metrics.gossip_dropped_messages.inc();
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
        let gossip = self.clone();
        let received = tokio::task::spawn_blocking(move || {
            let running = &gossip.running;
            receive_txs(
                &gossip.seen,
                txs,
                gossip.max_tx_bytes,
                |id| running.mempool.contains(id),
                |tx| running.admit_from(tx, Some(from.clone())).map(drop),
            )
        })
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(error = %e, "gossip admission task failed");
            Received::default()
        });
        let metrics = &self.running.metrics;
        metrics.gossip_txs_received.inc_by(count as u64);
        metrics.gossip_txs_admitted.inc_by(received.admitted as u64);
        metrics
            .gossip_txs_seen_skipped
            .inc_by(received.skipped as u64);
        received
    }

    /// An AppGossip: a push of transactions.
    pub async fn on_gossip(self: &Arc<Self>, from: Vec<u8>, msg: Vec<u8>) {
        if !self.admit_message(&from, msg.len(), "gossip") {
            return;
        }
        match wire::decode_push(&msg, self.max_tx_bytes) {
            Ok(push) => {
                let received = self.receive(from.clone(), push.txs).await;
                tracing::trace!(peer = %hex::encode(&from), ?received, "push received");
            }
            Err(e) => self.wire_error(&from, "gossip", e),
        }
    }

    /// An AppRequest: a pull. Answered with what the requester's filter lacks.
    pub async fn on_request(
        self: &Arc<Self>,
        from: Vec<u8>,
        request_id: u32,
        deadline: Option<SystemTime>,
        msg: Vec<u8>,
    ) {
        if !self.admit_message(&from, msg.len(), "request") {
            return;
        }
        let filter = match wire::decode_pull_request(&msg) {
            Ok(f) => f,
            Err(e) => return self.wire_error(&from, "request", e),
        };
        if deadline.is_some_and(|d| d <= SystemTime::now()) {
            tracing::debug!(peer = %hex::encode(&from), request_id, "pull request expired before it was read");
            return;
        }
        let Some(outbound) = &self.outbound else {
            return;
        };
        let gossip = self.clone();
        let txs = tokio::task::spawn_blocking(move || gossip.missing_from(&filter))
            .await
            .unwrap_or_default();
        let count = txs.len();
        let response = wire::encode_response(&PullResponse { txs });
        match outbound.respond(from.clone(), request_id, response).await {
            Ok(()) => {
                self.running.metrics.gossip_messages_sent.inc();
                self.running.metrics.gossip_txs_sent.inc_by(count as u64);
            }
            Err(e) => self.send_failed("response", &e),
        }
    }

    /// Pool transactions the filter does not contain, within the response budget.
    fn missing_from(&self, filter: &BloomFilter) -> Vec<Vec<u8>> {
        let budget = self.config.pull_response_budget_bytes;
        let mempool = &self.running.mempool;
        let mut out = Vec::new();
        let mut size = wire::BATCH_OVERHEAD;
        for id in mempool.ids() {
            if filter.contains(&id) {
                continue;
            }
            let Some(tx) = mempool.get(&id) else {
                continue;
            };
            let cost = tx.encoded_len + wire::PER_TX_OVERHEAD;
            // One transaction always fits (it is at most `max_tx_bytes`, under the message limit).
            if !out.is_empty() && size + cost > budget {
                continue;
            }
            size += cost;
            out.push(tx.encode());
        }
        out
    }

    /// An AppResponse: the answer to one of our pulls.
    pub async fn on_response(self: &Arc<Self>, from: Vec<u8>, request_id: u32, msg: Vec<u8>) {
        let metrics = &self.running.metrics;
        metrics.gossip_messages_received.inc();
        let solicited = {
            let mut pulls = self.pulls.lock().unwrap_or_else(|e| e.into_inner());
            match pulls.outstanding.get(&request_id) {
                Some((peer, _)) if *peer == from => pulls.outstanding.remove(&request_id).is_some(),
                _ => false,
            }
        };
        if !solicited {
            metrics.gossip_dropped_messages.inc();
            tracing::debug!(peer = %hex::encode(&from), request_id, "dropping unsolicited app response");
            return;
        }
        if msg.len() >= wire::MAX_PAYLOAD_BYTES {
            metrics.gossip_dropped_messages.inc();
            tracing::debug!(peer = %hex::encode(&from), len = msg.len(), "dropping oversized app response");
            return;
        }
        match wire::decode_pull_response(&msg, self.max_tx_bytes) {
            Ok(response) => {
                let received = self.receive(from.clone(), response.txs).await;
                tracing::trace!(peer = %hex::encode(&from), ?received, "pull answered");
            }
            Err(e) => self.wire_error(&from, "response", e),
        }
    }

    /// An AppRequestFailed: the pull is over, unanswered.
    pub fn on_request_failed(&self, from: &[u8], request_id: u32) {
        let mut pulls = self.pulls.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(pulls.outstanding.get(&request_id), Some((peer, _)) if peer == from) {
            pulls.outstanding.remove(&request_id);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Outbound: push, regossip, pull.

    fn send_failed(&self, kind: &'static str, e: &tonic::Status) {
        self.running.metrics.gossip_send_errors.inc();
        tracing::debug!(kind, error = %e, "the node did not take an app message");
    }

    /// Sends `(source, bytes)` transactions to every peer but their source, in budgeted batches.
    async fn push(&self, txs: Vec<(Option<Vec<u8>>, Vec<u8>)>) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        // Group by source, keeping first-seen order, so each message has one set of recipients.
        struct Group {
            source: Option<Vec<u8>>,
            txs: Vec<Vec<u8>>,
        }
        let mut groups: Vec<Group> = Vec::new();
        for (source, bytes) in txs {
            match groups.iter_mut().find(|g| g.source == source) {
                Some(group) => group.txs.push(bytes),
                None => groups.push(Group {
                    source,
                    txs: vec![bytes],
                }),
            }
        }
        for Group { source, txs: list } in groups {
            let targets = self.targets(source.as_deref());
            if targets.is_empty() {
                continue;
            }
            for batch in wire::batches(list, self.config.push_budget_bytes) {
                let count = batch.len();
                let msg = wire::encode_prefixed(&PushTxs { txs: batch });
                match outbound.gossip(targets.clone(), msg).await {
                    Ok(()) => {
                        self.running.metrics.gossip_messages_sent.inc();
                        self.running.metrics.gossip_txs_sent.inc_by(count as u64);
                    }
                    Err(e) => self.send_failed("gossip", &e),
                }
            }
        }
    }

    /// Collects admissions for up to the push interval or budget, then pushes them.
    async fn push_loop(
        self: Arc<Self>,
        mut admitted: broadcast::Receiver<Admitted>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let interval = Duration::from_millis(self.config.push_interval_ms);
        loop {
            let first = tokio::select! {
                _ = shutdown.wait_for(|down| *down) => return,
                event = admitted.recv() => event,
            };
            let mut batch = Vec::new();
            let mut bytes = 0usize;
            if !self.take(first, &mut batch, &mut bytes) {
                return;
            }
            let deadline = tokio::time::Instant::now() + interval;
            let mut open = true;
            while open && bytes < self.config.push_budget_bytes {
                tokio::select! {
                    _ = shutdown.wait_for(|down| *down) => return,
                    _ = tokio::time::sleep_until(deadline) => break,
                    event = admitted.recv() => open = self.take(event, &mut batch, &mut bytes),
                }
            }
            self.push(batch).await;
            if !open {
                return;
            }
        }
    }

    /// Adds one admission event to the batch being collected; false once the channel closed.
    fn take(
        &self,
        event: Result<Admitted, broadcast::error::RecvError>,
        batch: &mut Vec<(Option<Vec<u8>>, Vec<u8>)>,
        bytes: &mut usize,
    ) -> bool {
        match event {
            Ok(a) => {
                if let Some(tx) = self.remember(a) {
                    *bytes += tx.1.len() + wire::PER_TX_OVERHEAD;
                    batch.push(tx);
                }
                true
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Regossip picks these up: they are pending with no push time.
                tracing::debug!(missed, "push fell behind admissions");
                true
            }
            Err(broadcast::error::RecvError::Closed) => false,
        }
    }

    /// Records an admission for regossip and the seen cache; returns its bytes if still pending.
    fn remember(&self, a: Admitted) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
        self.seen.insert(a.id);
        let tx = self.running.mempool.get(&a.id)?;
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).insert(
            a.id,
            SentTx {
                source: a.source.clone(),
                last_sent: Instant::now(),
            },
        );
        Some((a.source, tx.encode()))
    }

    async fn regossip_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_millis(self.config.regossip_interval_ms);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|down| *down) => return,
                _ = ticker.tick() => {}
            }
            let due = self.due_for_regossip(period);
            if !due.is_empty() {
                tracing::trace!(txs = due.len(), "regossiping");
                self.push(due).await;
            }
        }
    }

    /// Pending build candidates not pushed within `period`, least recently pushed first, within
    /// the push budget; marks them pushed now. Forgets transactions that left the pool.
    fn due_for_regossip(&self, period: Duration) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        let mempool = &self.running.mempool;
        let candidates = mempool.candidates(usize::MAX);
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let pooled: HashSet<TxId> = mempool.ids().into_iter().collect();
        sent.retain(|id, _| pooled.contains(id));
        let mut due: Vec<(Option<Instant>, Transaction)> = candidates
            .into_iter()
            .filter_map(|tx| match sent.get(&tx.id) {
                Some(s) if now.saturating_duration_since(s.last_sent) < period => None,
                Some(s) => Some((Some(s.last_sent), tx)),
                None => Some((None, tx)),
            })
            .collect();
        // Never pushed (None) sorts first, then oldest push; stable, so pool order breaks ties.
        due.sort_by_key(|(last, _)| *last);
        let mut out = Vec::new();
        let mut size = wire::BATCH_OVERHEAD;
        for (_, tx) in due {
            let cost = tx.encoded_len + wire::PER_TX_OVERHEAD;
            if !out.is_empty() && size + cost > self.config.push_budget_bytes {
                break;
            }
            size += cost;
            let entry = sent.entry(tx.id).or_insert(SentTx {
                source: None,
                last_sent: now,
            });
            entry.last_sent = now;
            out.push((entry.source.clone(), tx.encode()));
        }
        out
    }

    async fn pull_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(self.config.pull_interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|down| *down) => return,
                _ = ticker.tick() => {}
            }
            self.pull_once().await;
        }
    }

    /// Asks one random peer for what this node lacks.
    async fn pull_once(&self) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        let Some(peer) = self.targets(None).choose(&mut rand::thread_rng()).cloned() else {
            return;
        };
        let request_id = {
            let mut pulls = self.pulls.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            pulls
                .outstanding
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < PULL_EXPIRY);
            if pulls.outstanding.len() >= MAX_OUTSTANDING_PULLS {
                return;
            }
            // Odd IDs, as the SDK uses; skip any still outstanding after wrapping.
            loop {
                pulls.last_id = pulls.last_id.wrapping_add(2) | 1;
                let id = pulls.last_id;
                if let Entry::Vacant(slot) = pulls.outstanding.entry(id) {
                    slot.insert((peer.clone(), now));
                    break id;
                }
            }
        };
        let ids = self.running.mempool.ids();
        let mut filter = BloomFilter::for_items(ids.len(), rand::thread_rng().gen());
        for id in &ids {
            filter.insert(id);
        }
        let request = wire::encode_prefixed(&PullRequest {
            filter: filter.to_wire(),
        });
        match outbound.request(peer.clone(), request_id, request).await {
            Ok(()) => self.running.metrics.gossip_messages_sent.inc(),
            Err(e) => {
                self.on_request_failed(&peer, request_id);
                self.send_failed("request", &e);
            }
        }
    }
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.stop();
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
        let seen = SeenCache::new(100);
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
        let seen = SeenCache::new(100);
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
            &SeenCache::new(100),
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
        let seen = SeenCache::new(100);
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
        let seen = SeenCache::new(100);
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
