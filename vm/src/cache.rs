//! One bounded cache for every "remember the last N" job of the node: verified signatures,
//! transactions gossip already handled, and the fates of transactions no longer pooled.
//!
//! The oldest insertions go first; reads do not refresh an entry (a transaction seen often is not
//! thereby more worth remembering). `lru` keeps the insertion order and the map as one structure, so
//! removing a key removes its place in the eviction order too: a key forgotten and inserted again
//! starts fresh, instead of being evicted early by a stale queue slot (the flaw of the hand-written
//! queues this replaced).
//!
//! A `parking_lot::Mutex` guards each cache: every critical section is one map operation, never
//! held across an `.await` or I/O, and a panic elsewhere cannot leave a cache in a state worth
//! poisoning every later caller for.

use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;
use parking_lot::Mutex;

/// A bounded map from keys to values, shared by reference.
pub(crate) struct BoundedMap<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, V>>,
}

impl<K: Hash + Eq, V: Clone> BoundedMap<K, V> {
    /// A capacity of 0 is taken as 1: a cache that can hold nothing would be a bug, not a limit.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Inserts or replaces `key` as the newest entry, evicting the oldest when full.
    pub(crate) fn insert(&self, key: K, value: V) {
        self.entries.lock().put(key, value);
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().peek(key).cloned()
    }

    pub(crate) fn remove(&self, key: &K) -> Option<V> {
        self.entries.lock().pop(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

/// A bounded set of keys, shared by reference.
pub struct BoundedSet<K: Hash + Eq> {
    keys: Mutex<LruCache<K, ()>>,
}

impl<K: Hash + Eq> BoundedSet<K> {
    /// A capacity of 0 is taken as 1, as for [`BoundedMap::new`].
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            keys: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Remembers `key` as the newest; false if it was already remembered.
    pub fn insert(&self, key: K) -> bool {
        self.keys.lock().put(key, ()).is_none()
    }

    pub fn contains(&self, key: &K) -> bool {
        self.keys.lock().contains(key)
    }

    pub fn remove(&self, key: &K) {
        self.keys.lock().pop(key);
    }

    pub fn len(&self) -> usize {
        self.keys.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_keeps_its_capacity_and_evicts_the_oldest() {
        let set = BoundedSet::new(3);
        assert!(set.insert(1));
        assert!(!set.insert(1), "a second insert reports the key as known");
        set.insert(2);
        set.insert(3);
        assert!(set.contains(&1), "a read does not refresh 1");
        set.insert(4);
        assert_eq!(set.len(), 3);
        assert!(!set.contains(&1), "1 was the oldest");
        assert!(set.contains(&2) && set.contains(&3) && set.contains(&4));
    }

    #[test]
    fn a_key_removed_and_inserted_again_is_not_evicted_early() {
        // The copies this type replaced left a removed key's slot in their eviction queue, so the
        // key, once re-inserted, was evicted when that stale slot came up.
        let set = BoundedSet::new(3);
        set.insert(1);
        set.insert(2);
        set.remove(&1);
        set.insert(1);
        set.insert(3);
        set.insert(4);
        assert!(
            set.contains(&1),
            "1 is the second newest after 3 and 4 arrived"
        );
        assert!(!set.contains(&2), "2 is now the oldest and goes first");

        let map = BoundedMap::new(3);
        map.insert(1, "a");
        map.insert(2, "b");
        assert_eq!(map.remove(&1), Some("a"));
        map.insert(1, "c");
        map.insert(3, "d");
        map.insert(4, "e");
        assert_eq!(map.get(&1), Some("c"));
        assert_eq!(map.get(&2), None);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn a_map_replaces_values_without_growing() {
        let map = BoundedMap::new(2);
        map.insert("k", 1);
        map.insert("k", 2);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(&"k"), Some(2));
    }

    #[test]
    fn a_zero_capacity_holds_one_entry() {
        let set = BoundedSet::new(0);
        set.insert(1);
        set.insert(2);
        assert_eq!(set.len(), 1);
        assert!(set.contains(&2));
    }
}
