//! What happened to a transaction this node saw but no longer holds: bounded memory of the reasons
//! transactions were refused or dropped, for the status call.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::tx::TxId;

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

/// Oldest entries are forgotten first. A std `Mutex`: map operations only, no `.await`, no I/O.
pub struct FateLog {
    capacity: usize,
    inner: Mutex<(HashMap<TxId, Outcome>, VecDeque<TxId>)>,
}

impl FateLog {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub fn record(&self, id: TxId, fate: Fate, reason: impl Into<String>) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        let outcome = Outcome {
            fate,
            reason: reason.into(),
        };
        if map.insert(id, outcome).is_none() {
            order.push_back(id);
        }
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &TxId) -> Option<Outcome> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(id).cloned()
    }

    /// A transaction that came back (e.g. resubmitted and now pending) is no longer dropped.
    pub fn forget(&self, id: &TxId) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_reasons_up_to_capacity_forgetting_oldest_first() {
        let log = FateLog::new(2);
        log.record([1; 32], Fate::Rejected, "bad signature");
        log.record([2; 32], Fate::Dropped, "evicted");
        assert_eq!(log.get(&[1; 32]).unwrap().reason, "bad signature");
        log.record([3; 32], Fate::Dropped, "stale nonce");
        assert!(log.get(&[1; 32]).is_none());
        assert_eq!(log.get(&[2; 32]).unwrap().fate, Fate::Dropped);
        assert_eq!(log.get(&[3; 32]).unwrap().reason, "stale nonce");
        log.forget(&[3; 32]);
        assert!(log.get(&[3; 32]).is_none());
    }
}
