//! Pull back-off: a peer whose pull failed (the node reported `AppRequestFailed`, the send failed,
//! or no answer came) is not asked again for a while, and the while doubles with each failure in a
//! row, from twice `gossipPullIntervalMs` up to `gossipPullBackoffMaxMs`. One answer resets it.
//!
//! A failed pull usually means the peer, or the path to it, is saturated; asking again at once
//! would add to what delays it. Backing off leaves that room to consensus.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::gossip::bucket::MAX_TRACKED_PEERS;

/// Failures in a row past which the delay stops growing (2^16 intervals is past any maximum).
const MAX_DOUBLINGS: u32 = 16;

struct PeerBackoff {
    failures: u32,
    until: Instant,
}

pub struct PullBackoff {
    interval: Duration,
    max: Duration,
    peers: HashMap<Vec<u8>, PeerBackoff>,
}

impl PullBackoff {
    pub fn new(interval: Duration, max: Duration) -> Self {
        Self {
            interval,
            max: max.max(interval),
            peers: HashMap::new(),
        }
    }

    /// Whether `peer` may be asked `now`.
    pub fn ready(&self, peer: &[u8], now: Instant) -> bool {
        self.peers.get(peer).is_none_or(|b| now >= b.until)
    }

    /// Records a failed pull to `peer`; returns how long it now waits.
    pub fn failed(&mut self, peer: &[u8], now: Instant) -> Duration {
        if self.peers.len() >= MAX_TRACKED_PEERS && !self.peers.contains_key(peer) {
            self.peers.retain(|_, b| b.until > now);
        }
        let entry = self.peers.entry(peer.to_vec()).or_insert(PeerBackoff {
            failures: 0,
            until: now,
        });
        entry.failures = (entry.failures + 1).min(MAX_DOUBLINGS);
        let delay = self
            .interval
            .saturating_mul(1 << entry.failures)
            .min(self.max);
        entry.until = now + delay;
        delay
    }

    /// An answer came from `peer`: its back-off is over.
    pub fn succeeded(&mut self, peer: &[u8]) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_twice_the_interval_up_to_the_maximum_and_resets_on_success() {
        let interval = Duration::from_secs(1);
        let mut backoff = PullBackoff::new(interval, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(backoff.ready(b"a", t0), "never failed");
        assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(2));
        assert!(!backoff.ready(b"a", t0), "not asked again at once");
        assert!(!backoff.ready(b"a", t0 + Duration::from_millis(1_999)));
        assert!(backoff.ready(b"a", t0 + Duration::from_secs(2)));
        assert!(backoff.ready(b"b", t0), "other peers are not held back");
        assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(4));
        assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(8));
        assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(10), "capped");
        for _ in 0..100 {
            assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(10));
        }
        backoff.succeeded(b"a");
        assert!(backoff.ready(b"a", t0));
        assert_eq!(backoff.failed(b"a", t0), Duration::from_secs(2), "reset");
    }

    #[test]
    fn a_maximum_below_the_interval_still_waits_one_interval() {
        let interval = Duration::from_secs(5);
        let mut backoff = PullBackoff::new(interval, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(backoff.failed(b"a", t0), interval);
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let mut backoff = PullBackoff::new(Duration::from_secs(1), Duration::from_secs(4));
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_PEERS as u32 {
            backoff.failed(&i.to_le_bytes(), t0);
        }
        backoff.failed(b"new", t0 + Duration::from_secs(2));
        assert_eq!(backoff.peers.len(), 1, "expired back-offs were forgotten");
    }
}
