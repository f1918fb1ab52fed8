//! Pull: every `gossipPullIntervalMs` one random connected peer, among those not backing off
//! ([`backoff`](crate::gossip::backoff)) and not already asked, is sent a bloom filter of this
//! node's pool; it answers with pool transactions the filter does not contain, within
//! `gossipPullResponseBudgetBytes` and within what its outbound budget to this node holds.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::gossip::backoff::PullBackoff;
use crate::gossip::bloom::BloomFilter;
use crate::gossip::wire::{self, BatchBudget, PullRequest};
use crate::gossip::Shared;
use crate::mempool::Pick;

/// Pull requests awaiting an answer, at most. The node answers or fails every request it sent, so
/// this only bounds what a misbehaving node could leave behind.
const MAX_OUTSTANDING_PULLS: usize = 8;
/// A pull request neither answered nor failed within this is forgotten, and counts as a failure.
/// AvalancheGo fails an unanswered request within its maximum message timeout (10 s by default).
const PULL_EXPIRY: Duration = Duration::from_secs(30);

/// Pull requests sent and not yet answered or failed (request ID → peer asked, when), and each
/// peer's back-off. At most one request per peer is outstanding, so a slow peer is never asked
/// again before its last request ended.
pub struct Pulls {
    last_id: u32,
    outstanding: HashMap<u32, (Vec<u8>, Instant)>,
    backoff: PullBackoff,
}

impl Pulls {
    pub fn new(interval: Duration, backoff_max: Duration) -> Self {
        Self {
            last_id: 0,
            outstanding: HashMap::new(),
            backoff: PullBackoff::new(interval, backoff_max),
        }
    }

    /// Whether `peer` may be asked `now`: not backing off, no request to it outstanding.
    fn may_ask(&self, peer: &[u8], now: Instant) -> bool {
        self.backoff.ready(peer, now) && !self.outstanding.values().any(|(p, _)| p == peer)
    }

    /// A fresh request ID for asking `peer`, or `None` while it may not be asked or too many
    /// requests are outstanding.
    pub(super) fn start(&mut self, peer: &[u8], now: Instant) -> Option<u32> {
        self.expire(now);
        if self.outstanding.len() >= MAX_OUTSTANDING_PULLS || !self.may_ask(peer, now) {
            return None;
        }
        // Odd IDs, as the SDK uses; skip any still outstanding after wrapping.
        loop {
            self.last_id = self.last_id.wrapping_add(2) | 1;
            if let Entry::Vacant(slot) = self.outstanding.entry(self.last_id) {
                slot.insert((peer.to_vec(), now));
                return Some(self.last_id);
            }
        }
    }

    /// Requests past [`PULL_EXPIRY`] end as failures of the peers asked.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) >= PULL_EXPIRY)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some((peer, _)) = self.outstanding.remove(&id) {
                self.backoff.failed(&peer, now);
            }
        }
    }

    /// Ends request `id` if `peer` is the one asked; true if it was outstanding for that peer.
    fn end(&mut self, id: u32, peer: &[u8]) -> bool {
        match self.outstanding.get(&id) {
            Some((asked, _)) if asked == peer => self.outstanding.remove(&id).is_some(),
            _ => false,
        }
    }

    /// `peer` answered request `id`: its back-off is over. True if the answer was awaited.
    pub(super) fn answered(&mut self, id: u32, peer: &[u8]) -> bool {
        let awaited = self.end(id, peer);
        if awaited {
            self.backoff.succeeded(peer);
        }
        awaited
    }

    /// Request `id` to `peer` failed (the node said so, or it could not be sent): the peer backs
    /// off. Returns how long, if the request was outstanding.
    pub(super) fn failed(&mut self, id: u32, peer: &[u8], now: Instant) -> Option<Duration> {
        self.end(id, peer).then(|| self.backoff.failed(peer, now))
    }
}

impl Shared {
    pub(super) async fn pull_loop(self: Arc<Self>, stop: CancellationToken) {
        let period = Duration::from_millis(self.ctx.config.pull_interval_ms);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
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
        let now = Instant::now();
        let askable: Vec<Vec<u8>> = {
            let pulls = self.pulls.lock();
            self.targets(None)
                .into_iter()
                .filter(|p| pulls.may_ask(p, now))
                .collect()
        };
        let Some(peer) = askable.choose(&mut rand::thread_rng()).cloned() else {
            return;
        };
        let Some(request_id) = self.pulls.lock().start(&peer, now) else {
            return;
        };
        let ids = self.ctx.mempool.ids();
        let mut filter = BloomFilter::for_items(ids.len(), rand::thread_rng().gen());
        for id in &ids {
            filter.insert(id);
        }
        let request = wire::encode_prefixed(&PullRequest {
            filter: filter.to_wire(),
        });
        match outbound.request(peer.clone(), request_id, request).await {
            Ok(()) => self.ctx.metrics.gossip_messages_sent.inc(),
            Err(e) => {
                self.pulls.lock().failed(request_id, &peer, Instant::now());
                self.send_failed("request", &e);
            }
        }
    }

    /// Pool transactions the filter does not contain, within `budget` bytes of encoded answer
    /// (strictly: a transaction larger than what is left is not sent). The answer ends at the
    /// first transaction that does not fit: a request with an empty filter (44 bytes) then costs
    /// one answer's worth of work, not a copy of the pool.
    pub(super) fn missing_from(&self, filter: &BloomFilter, budget: usize) -> Vec<Vec<u8>> {
        let mut budget = BatchBudget::strict(budget);
        self.ctx.mempool.encode_picked(|tx| {
            if filter.contains(&tx.id) {
                Pick::Skip
            } else if budget.try_add(tx.encoded_len) {
                Pick::Take
            } else {
                Pick::Stop
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(1);

    fn pulls() -> Pulls {
        Pulls::new(INTERVAL, Duration::from_secs(8))
    }

    #[test]
    fn request_ids_are_odd_bounded_and_only_the_asked_peer_answers() {
        let mut pulls = pulls();
        let now = Instant::now();
        let first = pulls.start(b"a", now).unwrap();
        assert_eq!(first % 2, 1);
        assert!(!pulls.answered(first, b"b"), "another peer cannot end it");
        assert!(pulls.answered(first, b"a"));
        assert!(!pulls.answered(first, b"a"), "an answer is read once");
        for i in 0..MAX_OUTSTANDING_PULLS as u32 {
            assert!(pulls.start(&i.to_le_bytes(), now).is_some());
        }
        assert_eq!(pulls.start(b"z", now), None, "too many outstanding");
        let later = now + PULL_EXPIRY;
        assert!(
            pulls.start(b"z", later).is_some(),
            "expired requests make room"
        );
    }

    #[test]
    fn one_request_per_peer_is_outstanding() {
        let mut pulls = pulls();
        let now = Instant::now();
        let id = pulls.start(b"a", now).unwrap();
        assert_eq!(pulls.start(b"a", now + INTERVAL), None, "a is still asked");
        assert!(pulls.start(b"b", now).is_some());
        assert!(pulls.answered(id, b"a"));
        assert!(pulls.start(b"a", now + INTERVAL).is_some());
    }

    #[test]
    fn a_failed_pull_is_not_repeated_at_once_and_an_answer_resets_the_wait() {
        let mut pulls = pulls();
        let t0 = Instant::now();
        let id = pulls.start(b"a", t0).unwrap();
        assert_eq!(pulls.failed(id, b"b", t0), None, "not b's request");
        assert_eq!(pulls.failed(id, b"a", t0), Some(2 * INTERVAL));
        assert_eq!(pulls.failed(id, b"a", t0), None, "already ended");
        assert_eq!(pulls.start(b"a", t0 + INTERVAL), None, "backing off");
        let t1 = t0 + 2 * INTERVAL;
        let id = pulls.start(b"a", t1).unwrap();
        assert_eq!(pulls.failed(id, b"a", t1), Some(4 * INTERVAL), "doubled");
        let t2 = t1 + 4 * INTERVAL;
        let id = pulls.start(b"a", t2).unwrap();
        assert!(pulls.answered(id, b"a"));
        let id = pulls.start(b"a", t2).unwrap();
        assert_eq!(pulls.failed(id, b"a", t2), Some(2 * INTERVAL), "reset");
    }

    #[test]
    fn an_expired_request_counts_as_a_failure() {
        let mut pulls = pulls();
        let t0 = Instant::now();
        pulls.start(b"a", t0).unwrap();
        let t1 = t0 + PULL_EXPIRY;
        assert!(
            pulls.start(b"b", t1).is_some(),
            "expiry runs on the next start"
        );
        assert!(
            !pulls.may_ask(b"a", t1),
            "a backs off after its expired pull"
        );
        assert!(pulls.may_ask(b"a", t1 + 2 * INTERVAL));
    }
}
