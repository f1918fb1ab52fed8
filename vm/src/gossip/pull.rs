//! Pull: every `gossipPullIntervalMs` one random connected peer is sent a bloom filter of this
//! node's pool and answers with pool transactions the filter does not contain, within
//! `gossipPullResponseBudgetBytes`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::gossip::bloom::BloomFilter;
use crate::gossip::wire::{self, BatchBudget, PullRequest};
use crate::gossip::Shared;
use crate::mempool::Pick;

/// Pull requests awaiting an answer, at most. The node answers or fails every request it sent, so
/// this only bounds what a misbehaving node could leave behind.
const MAX_OUTSTANDING_PULLS: usize = 8;
/// A pull request neither answered nor failed within this is forgotten.
const PULL_EXPIRY: Duration = Duration::from_secs(30);

/// Pull requests sent and not yet answered or failed: request ID → (peer asked, when).
#[derive(Default)]
pub struct Pulls {
    last_id: u32,
    outstanding: HashMap<u32, (Vec<u8>, Instant)>,
}

impl Pulls {
    /// A fresh request ID for asking `peer`, or `None` while too many requests are outstanding.
    fn start(&mut self, peer: &[u8], now: Instant) -> Option<u32> {
        self.outstanding
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < PULL_EXPIRY);
        if self.outstanding.len() >= MAX_OUTSTANDING_PULLS {
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

    /// Ends request `id` if `peer` is the one asked; true if it was outstanding for that peer.
    pub(super) fn answered(&mut self, id: u32, peer: &[u8]) -> bool {
        match self.outstanding.get(&id) {
            Some((asked, _)) if asked == peer => self.outstanding.remove(&id).is_some(),
            _ => false,
        }
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
        let Some(peer) = self.targets(None).choose(&mut rand::thread_rng()).cloned() else {
            return;
        };
        let Some(request_id) = self.pulls.lock().start(&peer, Instant::now()) else {
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
                self.pulls.lock().answered(request_id, &peer);
                self.send_failed("request", &e);
            }
        }
    }

    /// Pool transactions the filter does not contain, within the response budget. The answer
    /// ends at the first transaction that does not fit: a request with an empty filter (44
    /// bytes) then costs one answer's worth of work, not a copy of the pool.
    pub(super) fn missing_from(&self, filter: &BloomFilter) -> Vec<Vec<u8>> {
        let mut budget = BatchBudget::new(self.ctx.config.pull_response_budget_bytes);
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

    #[test]
    fn request_ids_are_odd_bounded_and_only_the_asked_peer_answers() {
        let mut pulls = Pulls::default();
        let now = Instant::now();
        let first = pulls.start(b"a", now).unwrap();
        assert_eq!(first % 2, 1);
        assert!(!pulls.answered(first, b"b"), "another peer cannot end it");
        assert!(pulls.answered(first, b"a"));
        assert!(!pulls.answered(first, b"a"), "an answer is read once");
        for _ in 0..MAX_OUTSTANDING_PULLS {
            assert!(pulls.start(b"a", now).is_some());
        }
        assert_eq!(pulls.start(b"a", now), None);
        let later = now + PULL_EXPIRY;
        assert!(
            pulls.start(b"a", later).is_some(),
            "expired requests make room"
        );
    }
}
