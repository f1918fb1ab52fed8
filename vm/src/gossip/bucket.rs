//! Token buckets, and a bounded map of them keyed by peer: the one mechanism behind every per-peer
//! limit in gossip (inbound messages and bytes, inbound pull requests, outbound bytes) and in state
//! sync's serving (requests and answer bytes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are forgotten. The node only delivers messages from connected
/// peers, but a map keyed by what the network sends must be bounded regardless.
pub const MAX_TRACKED_PEERS: usize = 4096;
/// A bucket untouched this long is taken to be full again, so forgetting it changes little: at the
/// smallest configurable rate a bucket refills within it.
pub const IDLE: Duration = Duration::from_secs(60);

/// Holds up to `capacity` tokens and gains `rate` per second, continuously.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
}

impl Bucket {
    pub fn full(rate: f64, capacity: f64) -> Self {
        Self {
            tokens: capacity,
            capacity,
            rate,
        }
    }

    pub fn refill(&mut self, elapsed: Duration) {
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
    }

    pub fn has(&self, amount: f64) -> bool {
        self.tokens >= amount
    }

    /// Takes `amount` if the bucket holds it; otherwise takes nothing.
    pub fn try_take(&mut self, amount: f64) -> bool {
        if !self.has(amount) {
            return false;
        }
        self.tokens -= amount;
        true
    }

    /// Takes as much of `amount` as the bucket holds (whole tokens) and returns it.
    pub fn take_up_to(&mut self, amount: f64) -> f64 {
        let granted = amount.min(self.tokens.floor()).max(0.0);
        self.tokens -= granted;
        granted
    }

    /// Gives back tokens taken but not used, never past the capacity.
    pub fn give_back(&mut self, amount: f64) {
        self.tokens = (self.tokens + amount).min(self.capacity);
    }

    /// Takes `amount` even past empty: a cost known only once paid is owed, and the bucket lets
    /// nothing through until refilling has paid the debt.
    pub fn owe(&mut self, amount: f64) {
        self.tokens -= amount;
    }
}

/// Per-peer state, each entry refilled to the time of its use before it is used.
pub struct PerPeer<T> {
    entries: HashMap<Vec<u8>, (T, Instant)>,
}

/// What a per-peer entry needs so [`PerPeer`] can bring it up to date.
pub trait Refill {
    fn refill(&mut self, elapsed: Duration);
}

impl Refill for Bucket {
    fn refill(&mut self, elapsed: Duration) {
        Bucket::refill(self, elapsed);
    }
}

impl<T: Refill> PerPeer<T> {
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    /// `peer`'s entry refilled up to `now` (created by `fresh` if absent). When the map is at
    /// [`MAX_TRACKED_PEERS`] and `peer` is new, entries idle for [`IDLE`] are forgotten first.
    pub fn at(&mut self, peer: &[u8], now: Instant, fresh: impl FnOnce() -> T) -> &mut T {
        if self.entries.len() >= MAX_TRACKED_PEERS && !self.entries.contains_key(peer) {
            self.entries
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < IDLE);
        }
        let (entry, last) = self
            .entries
            .entry(peer.to_vec())
            .or_insert_with(|| (fresh(), now));
        entry.refill(now.saturating_duration_since(*last));
        *last = (*last).max(now);
        entry
    }

    /// `peer`'s entry as it stands, without refilling or creating it.
    pub fn get_mut(&mut self, peer: &[u8]) -> Option<&mut T> {
        self.entries.get_mut(peer).map(|(entry, _)| entry)
    }

    /// Peers tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T: Refill> Default for PerPeer<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_up_to_grants_whole_tokens_and_give_back_stops_at_capacity() {
        let mut b = Bucket::full(10.0, 100.0);
        assert_eq!(b.take_up_to(30.0), 30.0);
        assert_eq!(b.take_up_to(1_000.0), 70.0, "only what is left");
        assert_eq!(b.take_up_to(1.0), 0.0, "empty");
        b.refill(Duration::from_millis(150));
        assert_eq!(b.take_up_to(5.0), 1.0, "1.5 tokens grant one whole token");
        b.give_back(1_000.0);
        assert!(b.has(100.0));
        assert!(!b.has(100.5), "never past the capacity");
    }

    #[test]
    fn a_debt_blocks_the_bucket_until_refilling_pays_it() {
        let mut bucket = Bucket::full(10.0, 10.0);
        bucket.owe(15.0);
        assert!(!bucket.has(0.0));
        bucket.refill(Duration::from_millis(400));
        assert!(!bucket.has(0.0), "4 of 5 owed tokens refilled");
        bucket.refill(Duration::from_millis(200));
        assert!(bucket.has(1.0) && !bucket.has(1.5));
    }

    #[test]
    fn try_take_takes_nothing_when_short() {
        let mut b = Bucket::full(1.0, 10.0);
        assert!(!b.try_take(10.5));
        assert!(b.try_take(10.0), "the refused request took nothing");
        assert!(!b.try_take(0.5));
    }

    #[test]
    fn per_peer_map_refills_each_entry_and_stays_bounded() {
        let mut map: PerPeer<Bucket> = PerPeer::new();
        let t0 = Instant::now();
        assert!(map.at(b"a", t0, || Bucket::full(1.0, 2.0)).try_take(2.0));
        assert!(!map.at(b"a", t0, || unreachable!()).has(1.0));
        assert!(map
            .at(b"a", t0 + Duration::from_secs(1), || unreachable!())
            .has(1.0));
        // A clock reading older than the last use refills nothing and does not move time back.
        assert!(!map.at(b"a", t0, || unreachable!()).has(1.1));
        for i in 0..MAX_TRACKED_PEERS as u32 {
            map.at(&i.to_le_bytes(), t0, || Bucket::full(1.0, 1.0));
        }
        map.at(b"new", t0 + IDLE + Duration::from_secs(1), || {
            Bucket::full(1.0, 1.0)
        });
        assert_eq!(map.len(), 1, "idle entries were forgotten to make room");
    }
}
