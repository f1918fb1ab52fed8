//! Push: every admitted transaction is collected for up to `gossipPushIntervalMs` or until
//! `gossipPushBudgetBytes` of it wait, then sent to every connected peer but its source.
//! Regossip: every `gossipRegossipIntervalMs`, pending transactions not pushed for that long are
//! pushed again, least recently pushed first, within the same budget.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::gossip::wire::{self, BatchBudget, PushTxs};
use crate::gossip::Shared;
use crate::ids::TxId;
use crate::mempool::Admitted;
use crate::tx::Transaction;

/// Where a pending transaction came from (`None`: submitted here) and when it was last pushed.
pub struct SentTx {
    source: Option<Vec<u8>>,
    last_sent: Instant,
}

/// A transaction to push: the peer it came from, and its bytes.
type Outgoing = (Option<Vec<u8>>, Vec<u8>);

impl Shared {
    /// Collects admissions for up to the push interval or budget, then pushes them.
    pub(super) async fn push_loop(
        self: Arc<Self>,
        mut admitted: broadcast::Receiver<Admitted>,
        stop: CancellationToken,
    ) {
        let interval = Duration::from_millis(self.ctx.config.push_interval_ms);
        let budget = self.ctx.config.push_budget_bytes;
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                event = admitted.recv() => event,
            };
            let mut batch = Vec::new();
            let mut collected = BatchBudget::new(budget);
            if !self.take(first, &mut batch, &mut collected) {
                return;
            }
            let deadline = tokio::time::Instant::now() + interval;
            let mut open = true;
            while open && !collected.is_spent() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(deadline) => break,
                    event = admitted.recv() => open = self.take(event, &mut batch, &mut collected),
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
        batch: &mut Vec<Outgoing>,
        collected: &mut BatchBudget,
    ) -> bool {
        match event {
            Ok(a) => {
                if let Some(tx) = self.remember(a) {
                    collected.add(tx.1.len());
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
    fn remember(&self, a: Admitted) -> Option<Outgoing> {
        self.seen.insert(a.id);
        let tx = self.ctx.mempool.get(&a.id)?;
        let sent = SentTx {
            source: a.source.clone(),
            last_sent: Instant::now(),
        };
        self.sent.lock().insert(a.id, sent);
        Some((a.source, tx.encode()))
    }

    /// Sends transactions to every peer but their source, in budgeted batches; a peer whose
    /// outbound budget cannot pay for a batch does not get it (regossip or its pull brings it).
    async fn push(&self, txs: Vec<Outgoing>) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        for (source, list) in group_by_source(txs) {
            let targets = self.targets(source.as_deref());
            if targets.is_empty() {
                continue;
            }
            for batch in wire::batches(list, self.ctx.config.push_budget_bytes) {
                let count = batch.len();
                let msg = wire::encode_prefixed(&PushTxs { txs: batch });
                let paid = self.paid_for(&targets, msg.len());
                if paid.is_empty() {
                    continue;
                }
                match outbound.gossip(paid, msg).await {
                    Ok(()) => {
                        self.ctx.metrics.gossip_messages_sent.inc();
                        self.ctx.metrics.gossip_txs_sent.inc_by(count as u64);
                    }
                    Err(e) => self.send_failed("gossip", &e),
                }
            }
        }
    }

    /// The targets whose outbound budget pays for a message of `len` bytes, charged for it.
    fn paid_for(&self, targets: &[Vec<u8>], len: usize) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let paid: Vec<Vec<u8>> = targets
            .iter()
            .filter(|peer| self.out_budget.try_spend(peer, len, now))
            .cloned()
            .collect();
        let unpaid = targets.len() - paid.len();
        if unpaid > 0 {
            self.ctx
                .metrics
                .gossip_budget_deferred
                .inc_by(unpaid as u64);
            tracing::trace!(
                unpaid,
                len,
                "push skipped for peers over their outbound budget"
            );
        }
        paid
    }

    pub(super) async fn regossip_loop(self: Arc<Self>, stop: CancellationToken) {
        let period = Duration::from_millis(self.ctx.config.regossip_interval_ms);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
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
    fn due_for_regossip(&self, period: Duration) -> Vec<Outgoing> {
        let mempool = &self.ctx.mempool;
        // Only what can execute on the preferred state is pushed again: waiting transactions
        // would otherwise spread a stranger's nonce gaps to every node, over and over.
        let view = self.ctx.tip.preferred_view();
        let candidates = mempool.candidates(usize::MAX, |s| view.nonce(s).unwrap_or(u64::MAX));
        let now = Instant::now();
        let mut sent = self.sent.lock();
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
        let mut budget = BatchBudget::new(self.ctx.config.push_budget_bytes);
        for (_, tx) in due {
            if !budget.try_add(tx.encoded_len) {
                break;
            }
            let entry = sent.entry(tx.id).or_insert(SentTx {
                source: None,
                last_sent: now,
            });
            entry.last_sent = now;
            out.push((entry.source.clone(), tx.encode()));
        }
        out
    }
}

/// Encoded transactions that share a source (`None`: submitted here), pushed in one message.
type SourceGroup = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// Groups by source, keeping first-seen order, so each message has one set of recipients.
fn group_by_source(txs: Vec<Outgoing>) -> Vec<SourceGroup> {
    let mut groups: Vec<SourceGroup> = Vec::new();
    for (source, bytes) in txs {
        match groups.iter_mut().find(|(s, _)| *s == source) {
            Some((_, list)) => list.push(bytes),
            None => groups.push((source, vec![bytes])),
        }
    }
    groups
}
