//! The outbound byte budget: one token bucket per peer, shared by pushes, regossip and pull
//! answers, so that gossip never takes more than its share of what the peer's node accepts from
//! this one.
//!
//! AvalancheGo reads at most `throttler-inbound-bandwidth-refill-rate` bytes a second from each peer
//! (512 KiB/s by default, 2 MiB burst) and everything from that peer waits behind it: block
//! `Put`s, `PushQuery`s carrying blocks, `Chits`. Gossip that fills that allowance delays every
//! consensus message behind it past its timeout, and consensus stalls. So gossip spends at most
//! `gossipPeerOutBytesPerSec` per peer (default a quarter of the node's default allowance), and
//! what it cannot send now it skips: a skipped push reaches the peer later by regossip or when the
//! peer pulls, and a pull answer shrinks to what the budget holds.
//!
//! The bucket holds one second's worth, and at least one whole batch or one transaction of the
//! chain's largest size, so nothing the budget allows is too big to ever be sent.

use std::time::Instant;

use parking_lot::Mutex;

use crate::gossip::bucket::{Bucket, PerPeer};
use crate::gossip::wire::{BATCH_OVERHEAD, PER_TX_OVERHEAD};

pub struct OutBudget {
    rate: f64,
    capacity: f64,
    peers: Mutex<PerPeer<Bucket>>,
}

impl OutBudget {
    /// `bytes_per_sec` to each peer; the burst holds at least `largest_batch` bytes and one
    /// transaction of `max_tx_bytes` alone in a batch.
    pub fn new(bytes_per_sec: u64, largest_batch: usize, max_tx_bytes: usize) -> Self {
        let lone_tx = max_tx_bytes + BATCH_OVERHEAD + PER_TX_OVERHEAD;
        let rate = bytes_per_sec.max(1) as f64;
        Self {
            rate,
            capacity: rate.max(largest_batch as f64).max(lone_tx as f64),
            peers: Mutex::new(PerPeer::new()),
        }
    }

    /// The most one message to a peer may be: the bucket's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Spends `bytes` of `peer`'s budget if it holds them; otherwise spends nothing.
    pub fn try_spend(&self, peer: &[u8], bytes: usize, now: Instant) -> bool {
        self.bucket(peer, now, |b| b.try_take(bytes as f64))
    }

    /// Spends up to `bytes` of `peer`'s budget and returns how much; what goes unused is given
    /// back with [`OutBudget::give_back`].
    pub fn grant(&self, peer: &[u8], bytes: usize, now: Instant) -> usize {
        self.bucket(peer, now, |b| b.take_up_to(bytes as f64)) as usize
    }

    pub fn give_back(&self, peer: &[u8], bytes: usize) {
        if let Some(bucket) = self.peers.lock().get_mut(peer) {
            bucket.give_back(bytes as f64);
        }
    }

    fn bucket<R>(&self, peer: &[u8], now: Instant, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let (rate, capacity) = (self.rate, self.capacity);
        f(self
            .peers
            .lock()
            .at(peer, now, || Bucket::full(rate, capacity)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn capacity_holds_a_second_a_batch_and_a_lone_largest_transaction() {
        assert_eq!(OutBudget::new(100_000, 10, 10).capacity(), 100_000);
        assert_eq!(OutBudget::new(100_000, 150_000, 10).capacity(), 150_000);
        let lone = 200_000 + BATCH_OVERHEAD + PER_TX_OVERHEAD;
        assert_eq!(OutBudget::new(100_000, 150_000, 200_000).capacity(), lone);
    }

    #[test]
    fn spending_is_per_peer_and_refills_at_the_rate() {
        let budget = OutBudget::new(1_000, 1_000, 10);
        let t0 = Instant::now();
        assert!(budget.try_spend(b"a", 1_000, t0), "the whole burst at once");
        assert!(!budget.try_spend(b"a", 1, t0));
        assert!(budget.try_spend(b"b", 1_000, t0), "b's budget is its own");
        let t1 = t0 + Duration::from_millis(100);
        assert!(!budget.try_spend(b"a", 101, t1), "100 ms bring 100 bytes");
        assert!(budget.try_spend(b"a", 100, t1));
        // A peer idle for long holds no more than the capacity.
        let later = t0 + Duration::from_secs(3_600);
        assert!(!budget.try_spend(b"a", 1_001, later));
        assert!(budget.try_spend(b"a", 1_000, later));
    }

    #[test]
    fn a_grant_is_what_is_left_and_unused_bytes_come_back() {
        let budget = OutBudget::new(1_000, 1_000, 10);
        let t0 = Instant::now();
        assert_eq!(budget.grant(b"a", 600, t0), 600);
        assert_eq!(budget.grant(b"a", 600, t0), 400, "only the rest");
        assert_eq!(budget.grant(b"a", 600, t0), 0, "nothing left");
        budget.give_back(b"a", 250);
        assert_eq!(budget.grant(b"a", 600, t0), 250);
        budget.give_back(b"a", 10_000);
        assert_eq!(budget.grant(b"a", 10_000, t0), 1_000, "never past capacity");
        budget.give_back(b"unknown", 100);
        assert_eq!(
            budget.grant(b"unknown", 10_000, t0),
            1_000,
            "a new peer starts full"
        );
    }
}
