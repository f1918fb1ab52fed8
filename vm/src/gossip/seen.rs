//! Transaction IDs this node has already dealt with (admitted, or refused for good), so a
//! transaction gossiped again — by the same peer or by every other — costs a blake3 hash and a set
//! lookup, never a second signature verification.
//!
//! Bounded: the oldest IDs are forgotten first. Refusals that may clear later (a full pool, a nonce
//! ahead of the window) are deliberately not remembered, so regossip can deliver them again.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::tx::TxId;

/// A handle shared by the inbound handlers and the push task. A std `Mutex`: set operations only,
/// no `.await`, no I/O.
pub struct SeenCache {
    capacity: usize,
    inner: Mutex<(HashSet<TxId>, VecDeque<TxId>)>,
}

impl SeenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashSet<TxId>, VecDeque<TxId>)> {
        // Poisoning only means a panic elsewhere; the set is still a valid cache.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().0.contains(id)
    }

    /// Remembers `id`; returns false if it was already remembered.
    pub fn insert(&self, id: TxId) -> bool {
        let mut guard = self.lock();
        let (ids, order) = &mut *guard;
        if !ids.insert(id) {
            return false;
        }
        order.push_back(id);
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                ids.remove(&old);
            }
        }
        true
    }

    /// Stops remembering `id` (its refusal may clear later). Its place in the eviction order stays
    /// until it would have been evicted, which only makes the cache forget a little early.
    pub fn forget(&self, id: &TxId) {
        self.lock().0.remove(id);
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity_and_forgets_the_oldest() {
        let seen = SeenCache::new(3);
        assert!(seen.insert([1; 32]));
        assert!(!seen.insert([1; 32]));
        seen.insert([2; 32]);
        seen.insert([3; 32]);
        seen.insert([4; 32]);
        assert_eq!(seen.len(), 3);
        assert!(!seen.contains(&[1; 32]));
        assert!(seen.contains(&[2; 32]) && seen.contains(&[4; 32]));
    }
}
