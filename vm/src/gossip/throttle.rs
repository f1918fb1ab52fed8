//! Per-peer inbound throttling: two token buckets per node ID, one counting messages and one
//! counting bytes. A message passes only if both buckets hold enough; otherwise it is dropped
//! before it is parsed, and nothing is taken from either bucket. State sync's serving uses the same
//! pair for its requests, charging each its largest answer and settling once the answer is built.
//!
//! Each bucket holds one second's worth of its rate (the burst) and refills continuously. The byte
//! bucket holds at least one maximum-size message, so a legitimate large batch is never refused
//! outright by a low byte rate; it only has to wait for the bucket to fill.

use std::time::Instant;

use parking_lot::Mutex;

use crate::gossip::bucket::{Bucket, PerPeer, Refill};
use crate::gossip::wire::MAX_PAYLOAD_BYTES;

struct PeerBuckets {
    messages: Bucket,
    bytes: Bucket,
}

impl Refill for PeerBuckets {
    fn refill(&mut self, elapsed: std::time::Duration) {
        self.messages.refill(elapsed);
        self.bytes.refill(elapsed);
    }
}

/// Shared by the App* handlers. A `parking_lot::Mutex`: each check is a map lookup and a few float
/// operations, with no `.await` and no I/O inside.
pub struct Throttle {
    msgs_per_sec: f64,
    bytes_per_sec: f64,
    peers: Mutex<PerPeer<PeerBuckets>>,
}

impl Throttle {
    pub fn new(msgs_per_sec: u64, bytes_per_sec: u64) -> Self {
        Self {
            msgs_per_sec: msgs_per_sec.max(1) as f64,
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            peers: Mutex::new(PerPeer::new()),
        }
    }

    /// Whether a message of `size` bytes from `peer`, arriving `now`, may be processed; if so its
    /// cost is taken from the peer's buckets.
    pub fn allow(&self, peer: &[u8], size: usize, now: Instant) -> bool {
        let (msgs_rate, bytes_rate) = (self.msgs_per_sec, self.bytes_per_sec);
        let mut peers = self.peers.lock();
        let buckets = peers.at(peer, now, || PeerBuckets {
            messages: Bucket::full(msgs_rate, msgs_rate),
            bytes: Bucket::full(bytes_rate, bytes_rate.max(MAX_PAYLOAD_BYTES as f64)),
        });
        let size = size as f64;
        if !buckets.messages.has(1.0) || !buckets.bytes.has(size) {
            return false;
        }
        buckets.messages.try_take(1.0);
        buckets.bytes.try_take(size);
        true
    }

    /// Settles an answer charged `charged` bytes by [`Throttle::allow`] before it was built and
    /// `used` bytes once built: `peer` gets back what it did not use, or owes what it used beyond.
    pub fn settle_bytes(&self, peer: &[u8], charged: usize, used: usize) {
        if let Some(buckets) = self.peers.lock().get_mut(peer) {
            if used <= charged {
                buckets.bytes.give_back((charged - used) as f64);
            } else {
                buckets.bytes.owe((used - charged) as f64);
            }
        }
    }
}

/// Pull requests from one peer, counted apart from its other messages: a request is a few bytes,
/// but its answer costs this node a pool scan and up to a pull answer's worth of its outbound
/// budget. The burst is one second's worth, at least one request.
pub struct RequestThrottle {
    per_sec: f64,
    peers: Mutex<PerPeer<Bucket>>,
}

impl RequestThrottle {
    pub fn new(per_sec: u64) -> Self {
        Self {
            per_sec: per_sec.max(1) as f64,
            peers: Mutex::new(PerPeer::new()),
        }
    }

    /// Whether `peer` may have a pull request answered `now`; if so it is counted.
    pub fn allow(&self, peer: &[u8], now: Instant) -> bool {
        let rate = self.per_sec;
        self.peers
            .lock()
            .at(peer, now, || Bucket::full(rate, rate))
            .try_take(1.0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::gossip::bucket::{IDLE, MAX_TRACKED_PEERS};

    #[test]
    fn message_bucket_allows_its_burst_then_refills_at_its_rate() {
        let throttle = Throttle::new(10, u64::MAX);
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(throttle.allow(b"a", 1, t0), "message {i} of the burst");
        }
        assert!(!throttle.allow(b"a", 1, t0), "the 11th in the same instant");
        // 99 ms refill 0.99 tokens: still short of one message.
        assert!(!throttle.allow(b"a", 1, t0 + Duration::from_millis(99)));
        assert!(throttle.allow(b"a", 1, t0 + Duration::from_millis(101)));
        assert!(!throttle.allow(b"a", 1, t0 + Duration::from_millis(101)));
        // Another peer has its own bucket.
        assert!(throttle.allow(b"b", 1, t0));
        // Idle time refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..10 {
            assert!(throttle.allow(b"a", 1, later));
        }
        assert!(!throttle.allow(b"a", 1, later));
    }

    #[test]
    fn byte_bucket_holds_one_maximum_message_and_refuses_without_charging() {
        let rate = 100_000u64;
        let throttle = Throttle::new(1_000, rate);
        let t0 = Instant::now();
        // Capacity is the 2 MiB message limit, not the (smaller) rate.
        assert!(throttle.allow(b"p", MAX_PAYLOAD_BYTES, t0));
        assert!(!throttle.allow(b"p", 1, t0), "bucket is empty");
        // A refused message takes nothing: after 10 ms, 1,000 bytes are back (give or take float
        // rounding), and the refused 1,001-byte message did not spend them.
        let t1 = t0 + Duration::from_millis(10);
        assert!(!throttle.allow(b"p", 1_001, t1));
        assert!(throttle.allow(b"p", 999, t1));
        assert!(!throttle.allow(b"p", 2, t1));
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let throttle = Throttle::new(1, 1);
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_PEERS as u32 {
            throttle.allow(&i.to_le_bytes(), 1, t0);
        }
        // After the idle period, a new peer's arrival clears the idle buckets.
        throttle.allow(b"new", 1, t0 + IDLE);
        assert_eq!(throttle.peers.lock().len(), 1);
    }

    #[test]
    fn settling_an_answer_gives_back_what_it_did_not_use_and_owes_what_it_used_beyond() {
        // Bytes: 64 KiB a second; the bucket holds one 2 MiB message.
        let throttle = Throttle::new(1_000, 64 << 10);
        let t0 = Instant::now();
        assert!(throttle.allow(b"a", 2 << 20, t0));
        assert!(!throttle.allow(b"a", 1, t0));
        throttle.settle_bytes(b"a", 2 << 20, 0);
        assert!(
            throttle.allow(b"a", 1 << 20, t0),
            "the unused charge is back"
        );
        // Charged 1 MiB, used 3: 1 MiB left minus 2 owed is 1 MiB of debt, 16 s of refill.
        throttle.settle_bytes(b"a", 1 << 20, 3 << 20);
        assert!(!throttle.allow(b"a", 0, t0 + Duration::from_secs(15)));
        assert!(throttle.allow(b"a", 0, t0 + Duration::from_secs(17)));
        assert!(
            throttle.allow(b"b", 1 << 20, t0),
            "another peer's budget is its own"
        );
    }

    #[test]
    fn pull_requests_are_counted_per_peer_with_a_second_of_burst() {
        let requests = RequestThrottle::new(2);
        let t0 = Instant::now();
        assert!(requests.allow(b"a", t0));
        assert!(requests.allow(b"a", t0));
        assert!(!requests.allow(b"a", t0), "the third in the same instant");
        assert!(requests.allow(b"b", t0), "another peer has its own count");
        assert!(!requests.allow(b"a", t0 + Duration::from_millis(499)));
        assert!(requests.allow(b"a", t0 + Duration::from_millis(501)));
        // A rate of 0 still lets one request a second through.
        let slowest = RequestThrottle::new(0);
        assert!(slowest.allow(b"a", t0));
        assert!(!slowest.allow(b"a", t0 + Duration::from_millis(999)));
        assert!(slowest.allow(b"a", t0 + Duration::from_millis(1_001)));
    }
}
