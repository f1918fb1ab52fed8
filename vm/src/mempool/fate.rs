//! What happened to a transaction this node saw but no longer holds: bounded memory of the reasons
//! transactions were refused or dropped, for the status call.

use crate::cache::BoundedMap;
use crate::ids::TxId;

/// The reason given for a transaction dropped because its nonce gap stayed open too long.
pub(crate) const WAITED_TOO_LONG: &str =
    "dropped: its nonce gap did not close within mempoolWaitingTtlMs";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Refused at submission: it never entered the mempool.
    Rejected,
    /// Left the mempool without being accepted (evicted, invalidated, replaced by an accepted nonce).
    Dropped,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub fate: Fate,
    pub reason: String,
}

/// The oldest reasons are forgotten first.
pub struct FateLog {
    outcomes: BoundedMap<TxId, Outcome>,
}

impl FateLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            outcomes: BoundedMap::new(capacity),
        }
    }

    pub fn record(&self, id: TxId, fate: Fate, reason: impl Into<String>) {
        let reason = reason.into();
        self.outcomes.insert(id, Outcome { fate, reason });
    }

    pub fn get(&self, id: &TxId) -> Option<Outcome> {
        self.outcomes.get(id)
    }

    /// A transaction that came back (e.g. resubmitted and now pending) is no longer dropped.
    pub fn forget(&self, id: &TxId) {
        self.outcomes.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_reasons_up_to_capacity_forgetting_oldest_first() {
        let log = FateLog::new(2);
        log.record(TxId([1; 32]), Fate::Rejected, "bad signature");
        log.record(TxId([2; 32]), Fate::Dropped, "evicted");
        assert_eq!(log.get(&TxId([1; 32])).unwrap().reason, "bad signature");
        log.record(TxId([3; 32]), Fate::Dropped, "stale nonce");
        assert!(log.get(&TxId([1; 32])).is_none());
        assert_eq!(log.get(&TxId([2; 32])).unwrap().fate, Fate::Dropped);
        assert_eq!(log.get(&TxId([3; 32])).unwrap().reason, "stale nonce");
        log.forget(&TxId([3; 32]));
        assert!(log.get(&TxId([3; 32])).is_none());
    }
}
