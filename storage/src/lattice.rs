//! LtHash: the lattice hash that serves as kvvm's state root (the construction of Solana's accounts lattice hash).
//!
//! Each element of the state (a key-value entry, an account's next nonce) is expanded by blake3's extended output to
//! 1024 16-bit lanes; the state's hash is the lane-wise wrapping sum of its elements. Adding and removing an element
//! is one vector add or subtract, so accepting a block costs work proportional to what it changes, not to the size of
//! the state, and the result does not depend on the order in which elements were added.

use std::fmt;

use crate::error::{Result, StorageError};

const LANES: usize = 1024;
/// Size of [`LtHash::to_bytes`]: 1024 lanes of two bytes.
pub const LT_HASH_BYTES: usize = LANES * 2;

/// Domain tags. All have the same length and differ in content, so no preimage of one kind can equal one of another.
const ENTRY_DOMAIN: &[u8] = b"kvvm/entry/v1";
const NONCE_DOMAIN: &[u8] = b"kvvm/nonce/v1";
const ROLES_DOMAIN: &[u8] = b"kvvm/roles/v1";

/// A lattice hash: a multiset of state elements folded into 1024 wrapping `u16` lanes.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash([u16; LANES]);

impl LtHash {
    /// The hash of the empty state; adding it changes nothing.
    pub fn identity() -> Self {
        Self([0; LANES])
    }

    /// The lattice element of arbitrary bytes: blake3's 2048-byte extended output read as little-endian lanes.
    pub fn of_element(bytes: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(bytes);
        Self::from_hasher(&hasher)
    }

    /// Shared by the element encoders, which feed the hasher piece by piece instead of concatenating into a buffer.
    fn from_hasher(hasher: &blake3::Hasher) -> Self {
        let mut out = [0u8; LT_HASH_BYTES];
        hasher.finalize_xof().fill(&mut out);
        Self::from_array(&out)
    }

    fn from_array(bytes: &[u8; LT_HASH_BYTES]) -> Self {
        let mut lanes = [0u16; LANES];
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Self(lanes)
    }

    /// Adds an element (or a whole other state) to this one.
    pub fn add(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Removes an element previously added; `x.add(e); x.sub(e)` leaves `x` unchanged.
    pub fn sub(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// The lanes as 2048 little-endian bytes; the form kept on disk.
    pub fn to_bytes(&self) -> [u8; LT_HASH_BYTES] {
        let mut out = [0u8; LT_HASH_BYTES];
        for (pair, lane) in out.chunks_exact_mut(2).zip(self.0.iter()) {
            pair.copy_from_slice(&lane.to_le_bytes());
        }
        out
    }

    /// Parses [`LtHash::to_bytes`] output. Any other length is [`StorageError::Corrupt`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; LT_HASH_BYTES] = bytes.try_into().map_err(|_| StorageError::Corrupt {
            what: "lattice hash",
            reason: format!("{} bytes, expected {LT_HASH_BYTES}", bytes.len()),
        })?;
        Ok(Self::from_array(array))
    }

    /// The 32-byte digest that blocks carry as their state root: blake3 of [`LtHash::to_bytes`].
    pub fn checksum(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }
}

impl Default for LtHash {
    fn default() -> Self {
        Self::identity()
    }
}

/// 2048 lanes are noise in a log line; the first bytes of the checksum identify the state well enough.
impl fmt::Debug for LtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LtHash(")?;
        for byte in &self.checksum()[..8] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…)")
    }
}

/// Length prefix for a variable-length field of an element.
///
/// Keys and values are bounded by the vm's transaction size limit, far below 4 GiB, so the conversion failing means a
/// caller bypassed every limit; hashing a truncated length instead would silently open a collision, so it panics.
fn len_prefix(field: &[u8]) -> [u8; 4] {
    u32::try_from(field.len())
        .expect("a state element field is longer than 4 GiB")
        .to_le_bytes()
}

/// The element of one key-value entry:
/// `"kvvm/entry/v1" ‖ u32 LE key len ‖ key ‖ u32 LE value len ‖ value ‖ owner ‖ u64 LE height`.
///
/// The owner and the height of the last write are part of the element, so the root commits to who may change a key
/// and when it last changed, not only to its value.
pub fn entry_element(key: &[u8], value: &[u8], owner: &[u8; 32], height: u64) -> LtHash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(ENTRY_DOMAIN);
    hasher.update(&len_prefix(key));
    hasher.update(key);
    hasher.update(&len_prefix(value));
    hasher.update(value);
    hasher.update(owner);
    hasher.update(&height.to_le_bytes());
    LtHash::from_hasher(&hasher)
}

/// The element of an account's next nonce: `"kvvm/nonce/v1" ‖ account ‖ u64 LE next_nonce`.
pub fn nonce_element(account: &[u8; 32], next_nonce: u64) -> LtHash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(NONCE_DOMAIN);
    hasher.update(account);
    hasher.update(&next_nonce.to_le_bytes());
    LtHash::from_hasher(&hasher)
}

/// The element of an account's access rules, present only while it has a role or a quota override:
/// `"kvvm/roles/v1" ‖ account ‖ role (u8) ‖ 0 | 1 ‖ u64 LE max keys ‖ u64 LE max bytes` (zeros
/// when there is no override, flagged by the 0). An account's usage has no element: it is a
/// function of the entries it owns, which have theirs.
pub fn access_element(account: &[u8; 32], role: u8, quota: Option<(u64, u64)>) -> LtHash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(ROLES_DOMAIN);
    hasher.update(account);
    hasher.update(&[role, u8::from(quota.is_some())]);
    let (max_keys, max_bytes) = quota.unwrap_or((0, 0));
    hasher.update(&max_keys.to_le_bytes());
    hasher.update(&max_bytes.to_le_bytes());
    LtHash::from_hasher(&hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: [u8; 32] = [1; 32];
    const BOB: [u8; 32] = [2; 32];

    fn sum(elements: &[LtHash]) -> LtHash {
        let mut acc = LtHash::identity();
        for e in elements {
            acc.add(e);
        }
        acc
    }

    #[test]
    fn adding_then_subtracting_an_element_returns_identity() {
        let e = entry_element(b"k", b"v", &ALICE, 3);
        let mut h = LtHash::identity();
        h.add(&e);
        assert_ne!(h, LtHash::identity());
        h.sub(&e);
        assert_eq!(h, LtHash::identity());
    }

    #[test]
    fn addition_is_order_independent() {
        let a = entry_element(b"a", b"1", &ALICE, 1);
        let b = nonce_element(&BOB, 7);
        let mut ab = a.clone();
        ab.add(&b);
        let mut ba = b.clone();
        ba.add(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.checksum(), ba.checksum());
    }

    #[test]
    fn different_elements_have_different_checksums() {
        let elements = [
            entry_element(b"k", b"v", &ALICE, 1),
            entry_element(b"k", b"v", &BOB, 1),
            entry_element(b"k", b"v", &ALICE, 2),
            entry_element(b"k", b"w", &ALICE, 1),
            // The length prefixes keep a shifted key/value split from colliding.
            entry_element(b"kv", b"", &ALICE, 1),
            nonce_element(&ALICE, 1),
            nonce_element(&ALICE, 2),
            nonce_element(&BOB, 1),
            access_element(&ALICE, 1, None),
            access_element(&ALICE, 3, None),
            access_element(&BOB, 1, None),
            access_element(&ALICE, 1, Some((0, 0))),
            access_element(&ALICE, 1, Some((1, 0))),
            access_element(&ALICE, 1, Some((0, 1))),
        ];
        for (i, a) in elements.iter().enumerate() {
            for b in &elements[i + 1..] {
                assert_ne!(a.checksum(), b.checksum(), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn state_built_in_two_insertion_orders_has_equal_checksum() {
        let elements: Vec<LtHash> = (0u64..20)
            .map(|i| {
                if i.is_multiple_of(3) {
                    nonce_element(&[i as u8; 32], i)
                } else {
                    entry_element(&i.to_le_bytes(), b"value", &ALICE, i)
                }
            })
            .collect();
        let forward = sum(&elements);
        let mut reversed = elements.clone();
        reversed.reverse();
        let mut interleaved: Vec<LtHash> = elements.iter().step_by(2).cloned().collect();
        interleaved.extend(elements.iter().skip(1).step_by(2).cloned());
        assert_eq!(forward.checksum(), sum(&reversed).checksum());
        assert_eq!(forward.checksum(), sum(&interleaved).checksum());
    }

    #[test]
    fn replacing_a_value_equals_building_from_scratch() {
        let other = nonce_element(&BOB, 4);
        let old = entry_element(b"k", b"old", &ALICE, 1);
        let new = entry_element(b"k", b"new", &ALICE, 2);

        let mut updated = sum(&[other.clone(), old.clone()]);
        updated.sub(&old);
        updated.add(&new);

        assert_eq!(updated.checksum(), sum(&[new, other]).checksum());
    }

    #[test]
    fn bytes_round_trip_and_wrong_length_is_corrupt() {
        let h = sum(&[entry_element(b"k", b"v", &ALICE, 1), nonce_element(&BOB, 9)]);
        assert_eq!(LtHash::from_bytes(&h.to_bytes()).unwrap(), h);
        assert!(matches!(
            LtHash::from_bytes(&[0u8; 17]),
            Err(StorageError::Corrupt {
                what: "lattice hash",
                ..
            })
        ));
    }

    #[test]
    fn of_element_reads_the_xof_output_as_little_endian_lanes() {
        let mut xof = [0u8; LT_HASH_BYTES];
        blake3::Hasher::new()
            .update(b"abc")
            .finalize_xof()
            .fill(&mut xof);
        let h = LtHash::of_element(b"abc");
        assert_eq!(h.to_bytes(), xof);
        assert_eq!(h.0[0], u16::from_le_bytes([xof[0], xof[1]]));
    }

    #[test]
    fn elements_hash_their_documented_encodings() {
        let mut preimage = b"kvvm/nonce/v1".to_vec();
        preimage.extend_from_slice(&ALICE);
        preimage.extend_from_slice(&5u64.to_le_bytes());
        assert_eq!(nonce_element(&ALICE, 5), LtHash::of_element(&preimage));

        let mut preimage = b"kvvm/roles/v1".to_vec();
        preimage.extend_from_slice(&ALICE);
        preimage.extend_from_slice(&[2, 1]);
        preimage.extend_from_slice(&7u64.to_le_bytes());
        preimage.extend_from_slice(&8u64.to_le_bytes());
        assert_eq!(
            access_element(&ALICE, 2, Some((7, 8))),
            LtHash::of_element(&preimage)
        );

        let mut preimage = b"kvvm/entry/v1".to_vec();
        preimage.extend_from_slice(&2u32.to_le_bytes());
        preimage.extend_from_slice(b"ke");
        preimage.extend_from_slice(&3u32.to_le_bytes());
        preimage.extend_from_slice(b"val");
        preimage.extend_from_slice(&BOB);
        preimage.extend_from_slice(&9u64.to_le_bytes());
        assert_eq!(
            entry_element(b"ke", b"val", &BOB, 9),
            LtHash::of_element(&preimage)
        );
    }
}
