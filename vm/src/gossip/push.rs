//! Push: every admitted transaction is collected for up to `gossipPushIntervalMs` or until
//! `gossipPushBudgetBytes` of it wait, then sent to every connected peer but its source.
//! Regossip: every `gossipRegossipIntervalMs`, pending transactions not pushed for that long are
//! pushed again, least recently pushed first, within the same budget.
//!
//! Lighter senders first: a push is ordered by how many transactions each sender has pooled (a
//! sender's own keep their order), and a peer whose outbound budget cannot pay for a whole message
//! gets the longest prefix it pays for. So while a flood of many transactions from few accounts
//! spends the budget, an account's one transaction still reaches every peer at once, and
//! [`Mempool::candidates`](crate::mempool::Mempool::candidates) puts it first in their next block.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::gossip::budget::OutBudget;
use crate::gossip::wire::{self, BatchBudget, PushTxs};
use crate::gossip::Shared;
use crate::ids::TxId;
use crate::mempool::Admitted;
use crate::tx::{AccountId, Transaction};

/// Where a pending transaction came from (`None`: submitted here) and when it was last pushed.
pub struct SentTx {
    source: Option<Vec<u8>>,
    last_sent: Instant,
}

/// How many times in a push interval the loop takes the admissions queued meanwhile.
const COLLECT_TICKS: u32 = 8;

/// A transaction to push.
struct Outgoing {
    /// The peer it came from (`None`: submitted here); it is not pushed back there.
    source: Option<Vec<u8>>,
    /// Its sender: the fewer transactions a sender has pooled, the earlier its own go.
    sender: AccountId,
    bytes: Vec<u8>,
}

impl Shared {
    /// Collects admissions for up to the push interval or budget, then pushes them.
    ///
    /// Admissions queue in the channel while the batch is collected, and the loop takes what
    /// queued at [`COLLECT_TICKS`] points of the interval, so it wakes a few times an interval
    /// however many transactions are admitted: waiting on each admission cost a thread wake-up
    /// per transaction under load. The ticks, not one wake-up at the interval's end, keep a fast
    /// node's admissions from overrunning the channel's backlog. A batch cut short by the budget
    /// is followed at once by the next.
    pub(super) async fn push_loop(
        self: Arc<Self>,
        mut admitted: broadcast::Receiver<Admitted>,
        stop: CancellationToken,
    ) {
        let interval = Duration::from_millis(self.ctx.config.push_interval_ms);
        let tick = (interval / COLLECT_TICKS).max(Duration::from_millis(1));
        let budget = self.ctx.config.push_budget_bytes;
        let mut backlogged = false;
        loop {
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                event = admitted.recv() => event,
            };
            let mut batch = Vec::new();
            let mut collected = BatchBudget::new(budget);
            let mut open = self.take(first, &mut batch, &mut collected);
            let deadline = tokio::time::Instant::now() + interval;
            loop {
                open = open && self.take_queued(&mut admitted, &mut batch, &mut collected);
                let now = tokio::time::Instant::now();
                if !open || collected.is_spent() || backlogged || now >= deadline {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(deadline.min(now + tick)) => {}
                }
            }
            backlogged = collected.is_spent();
            self.push(batch).await;
            if !open {
                return;
            }
        }
    }

    /// Takes the admissions queued in the channel, without waiting, until the budget is spent;
    /// false once the channel closed.
    fn take_queued(
        &self,
        admitted: &mut broadcast::Receiver<Admitted>,
        batch: &mut Vec<Outgoing>,
        collected: &mut BatchBudget,
    ) -> bool {
        use broadcast::error::{RecvError, TryRecvError};
        while !collected.is_spent() {
            let event = match admitted.try_recv() {
                Ok(a) => Ok(a),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
            if !self.take(event, batch, collected) {
                return false;
            }
        }
        true
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
                    collected.add(tx.bytes.len());
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
        Some(Outgoing {
            source: a.source,
            sender: *tx.sender(),
            bytes: tx.encode(),
        })
    }

    /// Sends transactions to every peer but their source, in budgeted batches, lighter senders
    /// first; a peer whose outbound budget cannot pay for a whole batch gets what it pays for (the
    /// rest reaches it by regossip or its pull).
    async fn push(&self, txs: Vec<Outgoing>) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        let mempool = &self.ctx.mempool;
        for (source, list) in group_by_source(txs, |sender| mempool.sender_load(sender)) {
            let targets = self.targets(source.as_deref());
            if targets.is_empty() {
                continue;
            }
            for batch in wire::batches(list, self.ctx.config.push_budget_bytes) {
                for (peers, count, msg) in self.paid_messages(&targets, batch) {
                    match outbound.gossip(peers, msg).await {
                        Ok(()) => {
                            self.ctx.metrics.gossip_messages_sent.inc();
                            self.ctx.metrics.gossip_txs_sent.inc_by(count as u64);
                        }
                        Err(e) => self.send_failed("gossip", &e),
                    }
                }
            }
        }
    }

    /// The messages one batch becomes ([`pay_for_batch`]), counting the peers cut short.
    fn paid_messages(&self, targets: &[Vec<u8>], batch: Vec<Vec<u8>>) -> Vec<PaidMessage> {
        let (messages, short) = pay_for_batch(&self.out_budget, targets, batch, Instant::now());
        if short > 0 {
            self.ctx.metrics.gossip_budget_deferred.inc_by(short);
            tracing::trace!(short, "push cut short for peers over their outbound budget");
        }
        messages
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
            out.push(Outgoing {
                source: entry.source.clone(),
                sender: *tx.sender(),
                bytes: tx.encode(),
            });
        }
        out
    }
}

/// One push message: its recipients, how many transactions it holds, its bytes.
type PaidMessage = (Vec<Vec<u8>>, usize, Vec<u8>);

/// The messages one batch becomes: the whole batch to the targets whose outbound budget pays for
/// it, and to each other target the longest prefix its budget pays for (none if not even the
/// first transaction). Every recipient is charged what it is sent. Also returns how many targets
/// were cut short.
fn pay_for_batch(
    budget: &OutBudget,
    targets: &[Vec<u8>],
    batch: Vec<Vec<u8>>,
    now: Instant,
) -> (Vec<PaidMessage>, u64) {
    let mut out = Vec::new();
    let mut whole = Vec::new();
    let mut short = 0;
    let full = wire::encode_prefixed(&PushTxs { txs: batch.clone() });
    for peer in targets {
        if budget.try_spend(peer, full.len(), now) {
            whole.push(peer.clone());
            continue;
        }
        short += 1;
        let granted = budget.grant(peer, full.len(), now);
        let count = wire::affordable_prefix(&batch, granted);
        let msg = (count > 0).then(|| {
            wire::encode_prefixed(&PushTxs {
                txs: batch[..count].to_vec(),
            })
        });
        let used = msg.as_ref().map_or(0, Vec::len);
        budget.give_back(peer, granted - used);
        if let Some(msg) = msg {
            out.push((vec![peer.clone()], count, msg));
        }
    }
    if !whole.is_empty() {
        out.insert(0, (whole, batch.len(), full));
    }
    (out, short)
}

/// Encoded transactions that share a source (`None`: submitted here), pushed in one message.
type SourceGroup = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// Groups by source, so each message has one set of recipients; within a group, lighter senders
/// first by `load` (pooled transactions), read once per sender so that a sender's own
/// transactions keep their order (a later nonce pushed before an earlier one would wait behind a
/// gap at the peer); ties keep their order.
fn group_by_source(
    mut txs: Vec<Outgoing>,
    mut load: impl FnMut(&AccountId) -> usize,
) -> Vec<SourceGroup> {
    let mut loads: HashMap<AccountId, usize> = HashMap::new();
    for tx in &txs {
        loads.entry(tx.sender).or_insert_with(|| load(&tx.sender));
    }
    txs.sort_by_key(|tx| loads[&tx.sender]);
    let mut groups: Vec<SourceGroup> = Vec::new();
    for tx in txs {
        match groups.iter_mut().find(|(s, _)| *s == tx.source) {
            Some((_, list)) => list.push(tx.bytes),
            None => groups.push((tx.source, vec![tx.bytes])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(source: u8, sender: u8, byte: u8) -> Outgoing {
        Outgoing {
            source: Some(vec![source]),
            sender: [sender; 32],
            bytes: vec![byte; 10],
        }
    }

    #[test]
    fn groups_keep_one_source_each_and_put_lighter_senders_first_in_their_own_order() {
        let mut asked = Vec::new();
        let groups = group_by_source(
            vec![
                outgoing(1, 5, b'a'),
                outgoing(2, 3, b'b'),
                outgoing(1, 1, b'c'),
                outgoing(1, 5, b'd'),
                outgoing(1, 7, b'e'),
            ],
            |sender| {
                asked.push(sender[0]);
                // Sender 5 holds the most; 1 and 7 tie.
                if sender[0] == 5 {
                    9
                } else {
                    2
                }
            },
        );
        let firsts: Vec<(Option<Vec<u8>>, Vec<u8>)> = groups
            .into_iter()
            .map(|(s, list)| (s, list.iter().map(|t| t[0]).collect()))
            .collect();
        assert_eq!(
            firsts,
            vec![
                (Some(vec![2]), b"b".to_vec()),
                (Some(vec![1]), b"cead".to_vec())
            ],
            "5 is the heaviest and its a, d keep their order; 1 and 7 tie and keep theirs"
        );
        asked.sort();
        assert_eq!(asked, vec![1, 3, 5, 7], "each sender's load is read once");
    }

    #[test]
    fn a_peer_short_of_budget_gets_the_prefix_it_pays_for() {
        let batch: Vec<Vec<u8>> = vec![vec![1; 100], vec![2; 1_000], vec![3; 1_000]];
        let full = wire::encode_prefixed(&PushTxs { txs: batch.clone() }).len();
        let one = wire::BATCH_OVERHEAD + wire::PER_TX_OVERHEAD + 100;
        let budget = OutBudget::new(10_000, 10_000, 10);
        let now = Instant::now();
        // b keeps room for the first transaction only; c for nothing.
        assert!(budget.try_spend(b"b", 10_000 - one, now));
        assert!(budget.try_spend(b"c", 10_000 - one + 1, now));
        let targets = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let (messages, short) = pay_for_batch(&budget, &targets, batch, now);
        assert_eq!(short, 2);
        let sent: Vec<(Vec<Vec<u8>>, usize)> =
            messages.iter().map(|(p, n, _)| (p.clone(), *n)).collect();
        assert_eq!(
            sent,
            vec![(vec![b"a".to_vec()], 3), (vec![b"b".to_vec()], 1)]
        );
        assert_eq!(messages[0].2.len(), full);
        // Each is charged what it was sent, no more: a has the rest of its burst, b what its
        // smaller message left, c everything it had.
        assert_eq!(budget.grant(b"a", 10_000, now), 10_000 - full);
        assert_eq!(budget.grant(b"b", 10_000, now), one - messages[1].2.len());
        assert_eq!(budget.grant(b"c", 10_000, now), one - 1);
    }
}
