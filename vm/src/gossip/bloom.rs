//! A bloom filter over transaction IDs, for pull requests: "here is what I hold, send the rest".
//!
//! Index derivation: `h = blake3(salt ‖ id)`; index `i` (for `i < hash_count`) is the `i`-th
//! little-endian `u32` of `h`, modulo `bit_count`. Bit `n` lives in byte `n / 8`, mask
//! `1 << (n % 8)`. A fresh random salt per request means a transaction that collides in one
//! request's filter (a false positive, so it is not sent) does not collide in the next one.
//!
//! False negatives are impossible (an inserted ID always tests present); false positives cost only
//! a delay until a later pull with another salt.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::ids::TxId;

/// At most 8 indices: one per 4-byte word of a blake3 hash.
pub const MAX_HASH_COUNT: u8 = 8;
/// Hashes per item; with [`BITS_PER_ITEM`] this gives about a 1% false-positive rate.
pub const HASH_COUNT: u8 = 7;
/// Bits per expected item (≈ −ln(0.01) / ln(2)² = 9.6).
pub const BITS_PER_ITEM: usize = 10;
/// Smallest filter: 1 Kibit, so a nearly empty pool still gets a low false-positive rate.
pub const MIN_BITS: u32 = 1 << 10;
/// Largest filter this node builds or accepts: 4 Mibit = 512 KiB, a quarter of the message limit.
/// Beyond ~420k pooled transactions the false-positive rate rises instead of the size.
pub const MAX_BITS: u32 = 1 << 22;

/// A bloom filter as it travels: its parameters and its bits.
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct FilterWire {
    pub salt: [u8; 32],
    pub hash_count: u8,
    pub bit_count: u32,
    pub bits: Vec<u8>,
}

/// Why a peer's filter parameters were refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    #[error("hash count {0} is outside 1..={MAX_HASH_COUNT}")]
    HashCount(u8),
    #[error("bit count {0} is outside 1..={MAX_BITS}")]
    BitCount(u32),
    #[error("{got} bytes of bits for {bits} bits (expected {expected})")]
    BitsLength {
        got: usize,
        bits: u32,
        expected: usize,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomFilter {
    salt: [u8; 32],
    hash_count: u8,
    bit_count: u32,
    bits: Vec<u8>,
}

impl BloomFilter {
    /// An empty filter sized for `items` IDs at about 1% false positives.
    pub fn for_items(items: usize, salt: [u8; 32]) -> Self {
        let wanted = items.saturating_mul(BITS_PER_ITEM);
        let bit_count = (wanted.min(MAX_BITS as usize) as u32).max(MIN_BITS);
        Self {
            salt,
            hash_count: HASH_COUNT,
            bit_count,
            bits: vec![0; bit_count.div_ceil(8) as usize],
        }
    }

    fn indices(&self, id: &TxId) -> impl Iterator<Item = u32> {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.salt);
        hasher.update(id.as_bytes());
        let hash = *hasher.finalize().as_bytes();
        let bit_count = self.bit_count;
        (0..self.hash_count as usize).map(move |i| {
            let word = u32::from_le_bytes(hash[4 * i..4 * i + 4].try_into().expect("4 bytes"));
            word % bit_count
        })
    }

    pub fn insert(&mut self, id: &TxId) {
        for n in self.indices(id).collect::<Vec<_>>() {
            self.bits[(n / 8) as usize] |= 1 << (n % 8);
        }
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.indices(id)
            .all(|n| self.bits[(n / 8) as usize] & (1 << (n % 8)) != 0)
    }

    pub fn bit_count(&self) -> u32 {
        self.bit_count
    }

    pub fn to_wire(&self) -> FilterWire {
        FilterWire {
            salt: self.salt,
            hash_count: self.hash_count,
            bit_count: self.bit_count,
            bits: self.bits.clone(),
        }
    }

    /// Checks a peer's parameters: 1..=8 hashes, 1..=[`MAX_BITS`] bits, and exactly the bytes
    /// those bits need. (A filter with every bit set is legal: it asks for nothing.)
    pub fn from_wire(wire: FilterWire) -> Result<Self, FilterError> {
        if wire.hash_count == 0 || wire.hash_count > MAX_HASH_COUNT {
            return Err(FilterError::HashCount(wire.hash_count));
        }
        if wire.bit_count == 0 || wire.bit_count > MAX_BITS {
            return Err(FilterError::BitCount(wire.bit_count));
        }
        let expected = wire.bit_count.div_ceil(8) as usize;
        if wire.bits.len() != expected {
            return Err(FilterError::BitsLength {
                got: wire.bits.len(),
                bits: wire.bit_count,
                expected,
            });
        }
        Ok(Self {
            salt: wire.salt,
            hash_count: wire.hash_count,
            bit_count: wire.bit_count,
            bits: wire.bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TxId {
        TxId(*blake3::hash(&n.to_le_bytes()).as_bytes())
    }

    #[test]
    fn no_false_negatives() {
        for items in [0usize, 1, 100, 5_000] {
            let mut filter = BloomFilter::for_items(items, [items as u8; 32]);
            for n in 0..items as u64 {
                filter.insert(&id(n));
            }
            for n in 0..items as u64 {
                assert!(filter.contains(&id(n)), "item {n} of {items} missing");
            }
        }
    }

    #[test]
    fn false_positive_rate_stays_near_one_percent_at_the_sized_load() {
        let items = 5_000u64;
        let mut filter = BloomFilter::for_items(items as usize, [3; 32]);
        for n in 0..items {
            filter.insert(&id(n));
        }
        let probes = 20_000u64;
        let hits = (items..items + probes)
            .filter(|n| filter.contains(&id(*n)))
            .count();
        let rate = hits as f64 / probes as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn salt_changes_which_ids_collide() {
        let fill = |salt| {
            let mut f = BloomFilter::for_items(0, salt);
            for n in 0..300 {
                f.insert(&id(n));
            }
            (1_000..3_000u64)
                .filter(|n| f.contains(&id(*n)))
                .collect::<Vec<_>>()
        };
        let a = fill([1; 32]);
        let b = fill([2; 32]);
        assert!(!a.is_empty(), "an overloaded filter has false positives");
        assert_ne!(a, b);
    }

    #[test]
    fn size_follows_the_pool_within_bounds() {
        assert_eq!(BloomFilter::for_items(0, [0; 32]).bit_count(), MIN_BITS);
        assert_eq!(BloomFilter::for_items(1_000, [0; 32]).bit_count(), 10_000);
        assert_eq!(
            BloomFilter::for_items(usize::MAX, [0; 32]).bit_count(),
            MAX_BITS
        );
        let f = BloomFilter::for_items(1_001, [0; 32]);
        assert_eq!(f.to_wire().bits.len(), 10_010usize.div_ceil(8));
    }

    #[test]
    fn peer_parameters_are_checked() {
        let good = BloomFilter::for_items(10, [0; 32]).to_wire();
        assert!(BloomFilter::from_wire(good.clone()).is_ok());
        let mut w = good.clone();
        w.hash_count = 0;
        assert!(BloomFilter::from_wire(w).is_err());
        let mut w = good.clone();
        w.hash_count = MAX_HASH_COUNT + 1;
        assert!(BloomFilter::from_wire(w).is_err());
        let mut w = good.clone();
        w.bit_count = 0;
        w.bits = vec![];
        assert!(BloomFilter::from_wire(w).is_err());
        let mut w = good.clone();
        w.bit_count = MAX_BITS + 1;
        w.bits = vec![0; (MAX_BITS as usize + 1).div_ceil(8)];
        assert!(BloomFilter::from_wire(w).is_err());
        let mut w = good.clone();
        w.bits.push(0);
        assert!(BloomFilter::from_wire(w).is_err());
        // Odd bit counts are fine; 13 bits take 2 bytes.
        let w = FilterWire {
            salt: [0; 32],
            hash_count: 1,
            bit_count: 13,
            bits: vec![0xff, 0x1f],
        };
        let f = BloomFilter::from_wire(w).unwrap();
        assert!(f.contains(&id(1)), "all bits set: everything is present");
    }
}
