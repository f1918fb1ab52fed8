//! Transactions: their canonical encoding, the bytes a sender signs, and the checks that need no chain state.
//!
//! A transaction is `SignedTx { unsigned, signature }`, borsh-encoded. The sender signs
//! `SIGNING_DOMAIN ‖ borsh(UnsignedTx)`; the domain prefix keeps a kvvm signature from ever being valid
//! for another protocol that signs borsh bytes with the same key. The transaction ID is blake3 of the
//! whole borsh-encoded `SignedTx`, so two transactions with the same content but different signatures
//! (ed25519 signatures are deterministic, but a sender may use another signer) have different IDs; the
//! per-account nonce still lets only one of them execute.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use kvvm_genesis::ChainLimits;
use prometheus::IntCounter;

use crate::access::{Quota, Role};
use crate::cache::{BoundedMap, BoundedSet};
use crate::error::TxError;
use crate::ids::TxId;

/// Prefix of every signed message; versioned so a future format cannot be confused with this one.
pub const SIGNING_DOMAIN: &[u8] = b"kvvm/tx/v1";

pub type AccountId = [u8; 32];

/// One change to the state. New kinds are only ever added at the end, so the borsh tag of each
/// existing kind, and every transaction already signed, keeps its meaning.
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Writes `value` under `key`; the key must be free or owned by the sender.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Removes `key`, which must exist and be owned by the sender; the key becomes free.
    Delete { key: Vec<u8> },
    /// Gives `account` the role `role` (`Role::None` revokes); see `access` for who may.
    SetRole { account: AccountId, role: Role },
    /// Sets `account`'s quota override (`None` returns it to the chain's default); admins only.
    SetQuota {
        account: AccountId,
        quota: Option<Quota>,
    },
}

impl Operation {
    /// The key a put or delete writes; role and quota operations write none.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Operation::Put { key, .. } | Operation::Delete { key } => Some(key),
            Operation::SetRole { .. } | Operation::SetQuota { .. } => None,
        }
    }
}

/// What the sender signs.
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnsignedTx {
    /// The chain this transaction is meant for; another chain refuses it (no cross-chain replay).
    pub chain_id: [u8; 32],
    /// The sender's ed25519 public key, which is also its account ID.
    pub sender: AccountId,
    /// The sender's next nonce: transactions of one account execute in strict sequence, once each.
    pub nonce: u64,
    pub ops: Vec<Operation>,
}

impl UnsignedTx {
    /// The exact bytes an ed25519 signer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        self.serialize(&mut bytes)
            .expect("writing borsh into a Vec cannot fail");
        bytes
    }

    pub fn sign(self, key: &SigningKey) -> SignedTx {
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        SignedTx {
            unsigned: self,
            signature,
        }
    }
}

#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    pub unsigned: UnsignedTx,
    pub signature: [u8; 64],
}

/// A decoded transaction with its ID and encoded size, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub id: TxId,
    pub encoded_len: usize,
    pub signed: SignedTx,
}

impl Transaction {
    pub fn new(signed: SignedTx) -> Self {
        let bytes = borsh::to_vec(&signed).expect("writing borsh into a Vec cannot fail");
        Self {
            id: TxId(*blake3::hash(&bytes).as_bytes()),
            encoded_len: bytes.len(),
            signed,
        }
    }

    /// Decodes canonical bytes; trailing bytes or an oversized input are errors.
    pub fn decode(bytes: &[u8], max_tx_bytes: usize) -> Result<Self, TxError> {
        if bytes.len() > max_tx_bytes {
            return Err(TxError::TooLarge {
                size: bytes.len(),
                limit: max_tx_bytes,
            });
        }
        let signed: SignedTx =
            borsh::from_slice(bytes).map_err(|e| TxError::Malformed(e.to_string()))?;
        Ok(Self {
            id: TxId(*blake3::hash(bytes).as_bytes()),
            encoded_len: bytes.len(),
            signed,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(&self.signed).expect("writing borsh into a Vec cannot fail")
    }

    pub fn sender(&self) -> &AccountId {
        &self.signed.unsigned.sender
    }

    pub fn nonce(&self) -> u64 {
        self.signed.unsigned.nonce
    }

    pub fn ops(&self) -> &[Operation] {
        &self.signed.unsigned.ops
    }

    /// Checks everything that needs neither chain state nor signature work.
    pub fn check_format(&self, chain_id: &[u8; 32], limits: &ChainLimits) -> Result<(), TxError> {
        let unsigned = &self.signed.unsigned;
        if &unsigned.chain_id != chain_id {
            return Err(TxError::WrongChain);
        }
        if self.encoded_len > limits.max_tx_bytes as usize {
            return Err(TxError::TooLarge {
                size: self.encoded_len,
                limit: limits.max_tx_bytes as usize,
            });
        }
        if unsigned.ops.is_empty() {
            return Err(TxError::NoOperations);
        }
        if unsigned.ops.len() > limits.max_ops_per_tx as usize {
            return Err(TxError::TooManyOperations {
                count: unsigned.ops.len(),
                limit: limits.max_ops_per_tx as usize,
            });
        }
        for op in &unsigned.ops {
            let Some(key) = op.key() else {
                continue;
            };
            if key.is_empty() {
                return Err(TxError::EmptyKey);
            }
            if key.len() > limits.max_key_bytes as usize {
                return Err(TxError::KeyTooLarge {
                    size: key.len(),
                    limit: limits.max_key_bytes as usize,
                });
            }
            if let Operation::Put { value, .. } = op {
                if value.len() > limits.max_value_bytes as usize {
                    return Err(TxError::ValueTooLarge {
                        size: value.len(),
                        limit: limits.max_value_bytes as usize,
                    });
                }
            }
        }
        Ok(())
    }

    /// Strict ed25519 verification: rejects non-canonical encodings, small-order (weak) keys and
    /// small-order `R`, so every node reaches the same verdict on every signature.
    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.verify_signature_by(&sender_key(self.sender())?)
    }

    /// [`Self::verify_signature`] with the sender's key already decoded by [`sender_key`].
    fn verify_signature_by(&self, key: &VerifyingKey) -> Result<(), TxError> {
        let signature = Signature::from_bytes(&self.signed.signature);
        key.verify_strict(&self.signed.unsigned.signing_bytes(), &signature)
            .map_err(|_| TxError::BadSignature)
    }
}

/// The sender's public key as a curve point, refused if it is no point or a weak one. Decoding
/// takes a square root, a tenth of a signature check.
fn sender_key(sender: &AccountId) -> Result<VerifyingKey, TxError> {
    let key = VerifyingKey::from_bytes(sender).map_err(|_| TxError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(TxError::WeakPublicKey);
    }
    Ok(key)
}

/// This node's verdicts on transactions' signatures, so no transaction's signature is checked
/// twice (signature work is the budget to watch: about 23k strict verifications per second per
/// core). Refusals are remembered too, apart, so the same junk sent again costs a lookup. A
/// transaction's ID covers its signature, so a verdict never applies to another transaction.
///
/// The senders' decoded keys are kept as well, so an account's every transaction after its first
/// skips the key's decoding. Only keys that decode to a usable point are kept: a key is what its
/// 32 bytes decode to, so the cache cannot change a verdict, and an account never seen before
/// costs what it did without it.
pub struct VerifiedSignatures {
    ids: BoundedSet<TxId>,
    refused: BoundedMap<TxId, TxError>,
    keys: BoundedMap<AccountId, VerifyingKey>,
    /// The curve work actually done; a node's metrics count it so an operator sees whether its
    /// checks per transaction stay near one.
    checks: IntCounter,
}

impl VerifiedSignatures {
    /// Remembers up to `capacity` verified and `capacity` refused transactions, and the keys of
    /// the last `key_capacity` senders checked.
    pub fn new(capacity: usize, key_capacity: usize) -> Self {
        Self {
            ids: BoundedSet::new(capacity),
            refused: BoundedMap::new(capacity),
            keys: BoundedMap::new(key_capacity),
            checks: IntCounter::new("signature_checks_total", "ed25519 checks run")
                .expect("a static metric name is valid"),
        }
    }

    /// Counts every check run into `checks` (a registered metric) from now on.
    pub fn counting_checks_in(mut self, checks: IntCounter) -> Self {
        self.checks = checks;
        self
    }

    /// Verifies the signature unless this node already judged it.
    pub fn verify(&self, tx: &Transaction) -> Result<(), TxError> {
        if self.ids.contains(&tx.id) {
            return Ok(());
        }
        if let Some(refusal) = self.refused.get(&tx.id) {
            return Err(refusal);
        }
        self.checks.inc();
        if let Err(refusal) = self
            .key_of(tx.sender())
            .and_then(|key| tx.verify_signature_by(&key))
        {
            self.refused.insert(tx.id, refusal.clone());
            return Err(refusal);
        }
        self.ids.insert(tx.id);
        Ok(())
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains(id)
    }

    fn key_of(&self, sender: &AccountId) -> Result<VerifyingKey, TxError> {
        if let Some(key) = self.keys.get(sender) {
            return Ok(key);
        }
        let key = sender_key(sender)?;
        self.keys.insert(*sender, key);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn tx(seed: u8, nonce: u64, ops: Vec<Operation>) -> Transaction {
        let k = key(seed);
        Transaction::new(
            UnsignedTx {
                chain_id: [7; 32],
                sender: k.verifying_key().to_bytes(),
                nonce,
                ops,
            }
            .sign(&k),
        )
    }

    fn put(k: &str, v: &str) -> Operation {
        Operation::Put {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }
    }

    #[test]
    fn signing_bytes_match_the_documented_vector() {
        // The vector in docs/signing.md: any client must produce these bytes.
        let unsigned = UnsignedTx {
            chain_id: [1; 32],
            sender: [2; 32],
            nonce: 3,
            ops: vec![
                put("k", "v"),
                Operation::Delete {
                    key: b"old".to_vec(),
                },
            ],
        };
        let mut expected = b"kvvm/tx/v1".to_vec();
        expected.extend([1u8; 32]);
        expected.extend([2u8; 32]);
        expected.extend(3u64.to_le_bytes());
        expected.extend(2u32.to_le_bytes()); // two operations
        expected.push(0); // Put
        expected.extend(1u32.to_le_bytes());
        expected.push(b'k');
        expected.extend(1u32.to_le_bytes());
        expected.push(b'v');
        expected.push(1); // Delete
        expected.extend(3u32.to_le_bytes());
        expected.extend(b"old");
        assert_eq!(unsigned.signing_bytes(), expected);
    }

    /// The value of a row of the test-vector table in docs/signing.md.
    fn documented(row: &str) -> String {
        let doc = include_str!("../../docs/signing.md");
        let line = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("docs/signing.md has no row {row:?}"));
        line.split('`').nth(1).unwrap().to_string()
    }

    #[test]
    fn documented_test_vector_matches_kvvm() {
        let key = SigningKey::from_bytes(&[0x11; 32]);
        let unsigned = UnsignedTx {
            chain_id: [0x22; 32],
            sender: key.verifying_key().to_bytes(),
            nonce: 7,
            ops: vec![
                put("greeting", "hello"),
                Operation::Delete {
                    key: b"old".to_vec(),
                },
            ],
        };
        assert_eq!(
            hex::encode(unsigned.sender),
            documented("public key (sender)")
        );
        assert_eq!(
            hex::encode(borsh::to_vec(&unsigned).unwrap()),
            documented("UnsignedTx")
        );
        assert_eq!(
            hex::encode(unsigned.signing_bytes()),
            documented("signing bytes")
        );
        let tx = Transaction::new(unsigned.sign(&key));
        assert_eq!(hex::encode(tx.signed.signature), documented("signature"));
        assert_eq!(hex::encode(tx.encode()), documented("tx bytes"));
        assert_eq!(hex::encode(tx.id), documented("tx ID"));
        tx.verify_signature().unwrap();
    }

    #[test]
    fn documented_access_vector_matches_kvvm() {
        let admin = SigningKey::from_bytes(&[0x11; 32]);
        let writer = SigningKey::from_bytes(&[0x33; 32])
            .verifying_key()
            .to_bytes();
        let unsigned = UnsignedTx {
            chain_id: [0x22; 32],
            sender: admin.verifying_key().to_bytes(),
            nonce: 8,
            ops: vec![
                Operation::SetRole {
                    account: writer,
                    role: Role::Enabled,
                },
                Operation::SetQuota {
                    account: writer,
                    quota: Some(Quota {
                        max_keys: 100,
                        max_bytes: 65536,
                    }),
                },
            ],
        };
        let row = |item: &str| documented(&format!("access vector: {item}"));
        assert_eq!(hex::encode(writer), row("account (writer)"));
        assert_eq!(
            hex::encode(borsh::to_vec(&unsigned).unwrap()),
            row("UnsignedTx")
        );
        assert_eq!(hex::encode(unsigned.signing_bytes()), row("signing bytes"));
        let tx = Transaction::new(unsigned.sign(&admin));
        assert_eq!(hex::encode(tx.signed.signature), row("signature"));
        assert_eq!(hex::encode(tx.encode()), row("tx bytes"));
        assert_eq!(hex::encode(tx.id), row("tx ID"));
        tx.verify_signature().unwrap();
        // Every role's byte, and the override's absence, as the layout says.
        for (role, byte) in [
            (Role::None, 0u8),
            (Role::Enabled, 1),
            (Role::Manager, 2),
            (Role::Admin, 3),
        ] {
            assert_eq!(borsh::to_vec(&role).unwrap(), vec![byte]);
        }
        let clear = Operation::SetQuota {
            account: [7; 32],
            quota: None,
        };
        assert_eq!(
            borsh::to_vec(&clear).unwrap(),
            [vec![3], vec![7; 32], vec![0]].concat()
        );
    }

    #[test]
    fn role_and_quota_operations_have_no_key_to_check() {
        let limits = ChainLimits::default();
        let t = tx(
            1,
            0,
            vec![Operation::SetRole {
                account: [2; 32],
                role: Role::Admin,
            }],
        );
        assert!(t.check_format(&[7; 32], &limits).is_ok());
        assert_eq!(t.ops()[0].key(), None);
    }

    #[test]
    fn signed_tx_round_trips_and_id_is_hash_of_bytes() {
        let t = tx(1, 0, vec![put("a", "b")]);
        let bytes = t.encode();
        let decoded = Transaction::decode(&bytes, 1 << 20).unwrap();
        assert_eq!(decoded, t);
        assert_eq!(decoded.id, TxId(*blake3::hash(&bytes).as_bytes()));
        decoded.verify_signature().unwrap();
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut bytes = tx(1, 0, vec![put("a", "b")]).encode();
        bytes.push(0);
        assert!(matches!(
            Transaction::decode(&bytes, 1 << 20),
            Err(TxError::Malformed(_))
        ));
    }

    #[test]
    fn tampered_operation_fails_signature() {
        let mut t = tx(1, 0, vec![put("a", "b")]);
        t.signed.unsigned.ops[0] = put("a", "c");
        assert!(matches!(t.verify_signature(), Err(TxError::BadSignature)));
    }

    #[test]
    fn non_canonical_signature_scalar_is_rejected() {
        let mut t = tx(1, 0, vec![put("a", "b")]);
        // Adding the group order L to s gives the same point equation but a non-canonical scalar.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s_byte, l_byte) in t.signed.signature[32..].iter_mut().zip(L) {
            let sum = *s_byte as u16 + l_byte as u16 + carry;
            *s_byte = sum as u8;
            carry = sum >> 8;
        }
        assert!(t.verify_signature().is_err());
    }

    #[test]
    fn weak_public_key_is_rejected() {
        // The identity point (small order) as a public key.
        let mut t = tx(1, 0, vec![put("a", "b")]);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        t.signed.unsigned.sender = identity;
        assert!(matches!(t.verify_signature(), Err(TxError::WeakPublicKey)));
    }

    #[test]
    fn format_limits_are_enforced_at_their_edges() {
        let limits = ChainLimits {
            max_key_bytes: 4,
            max_value_bytes: 8,
            max_ops_per_tx: 2,
            ..ChainLimits::default()
        };
        let chain = [7; 32];
        assert!(tx(1, 0, vec![put("abcd", "12345678")])
            .check_format(&chain, &limits)
            .is_ok());
        assert!(matches!(
            tx(1, 0, vec![put("abcde", "1")]).check_format(&chain, &limits),
            Err(TxError::KeyTooLarge { size: 5, limit: 4 })
        ));
        assert!(matches!(
            tx(1, 0, vec![put("a", "123456789")]).check_format(&chain, &limits),
            Err(TxError::ValueTooLarge { size: 9, limit: 8 })
        ));
        assert!(matches!(
            tx(1, 0, vec![put("a", "1"), put("b", "2"), put("c", "3")])
                .check_format(&chain, &limits),
            Err(TxError::TooManyOperations { count: 3, limit: 2 })
        ));
        assert!(matches!(
            tx(1, 0, vec![]).check_format(&chain, &limits),
            Err(TxError::NoOperations)
        ));
        assert!(matches!(
            tx(1, 0, vec![put("", "1")]).check_format(&chain, &limits),
            Err(TxError::EmptyKey)
        ));
        assert!(matches!(
            tx(1, 0, vec![put("a", "1")]).check_format(&[8; 32], &limits),
            Err(TxError::WrongChain)
        ));
    }

    #[test]
    fn tx_bytes_limit_is_enforced_at_its_edge() {
        let t = tx(1, 0, vec![put("a", "1")]);
        let limits = ChainLimits {
            max_tx_bytes: t.encoded_len as u32,
            ..ChainLimits::default()
        };
        assert!(t.check_format(&[7; 32], &limits).is_ok());
        let tight = ChainLimits {
            max_tx_bytes: t.encoded_len as u32 - 1,
            ..limits
        };
        assert!(matches!(
            t.check_format(&[7; 32], &tight),
            Err(TxError::TooLarge { .. })
        ));
        assert!(Transaction::decode(&t.encode(), t.encoded_len - 1).is_err());
    }

    #[test]
    fn refused_signatures_are_remembered_apart_and_stay_bounded() {
        let cache = VerifiedSignatures::new(2, 2);
        let junk = |seed: u8| {
            let mut t = tx(seed, 0, vec![put("j", "1")]);
            t.signed.signature = [0x5a; 64];
            Transaction::new(t.signed)
        };
        let first = junk(1);
        assert_eq!(cache.verify(&first), Err(TxError::BadSignature));
        assert_eq!(cache.refused.get(&first.id), Some(TxError::BadSignature));
        assert_eq!(cache.verify(&first), Err(TxError::BadSignature));
        assert!(
            !cache.contains(&first.id),
            "a refusal is never taken for a pass"
        );
        cache.verify(&junk(2)).unwrap_err();
        cache.verify(&junk(3)).unwrap_err();
        assert_eq!(
            cache.refused.get(&first.id),
            None,
            "the oldest refusal goes"
        );
    }

    #[test]
    fn verified_signatures_are_not_checked_twice_and_stay_bounded() {
        let cache = VerifiedSignatures::new(2, 2);
        let a = tx(1, 0, vec![put("a", "1")]);
        cache.verify(&a).unwrap();
        assert!(cache.contains(&a.id));
        // A tampered copy with the same cached ID would pass: the cache is keyed by ID, and the ID
        // covers the signature and content, so a different content is a different ID.
        let mut forged = a.clone();
        forged.signed.unsigned.nonce = 9;
        let forged = Transaction::new(forged.signed);
        assert!(cache.verify(&forged).is_err());
        let (b, c) = (tx(2, 0, vec![put("b", "1")]), tx(3, 0, vec![put("c", "1")]));
        cache.verify(&b).unwrap();
        cache.verify(&c).unwrap();
        assert!(cache.contains(&b.id) && cache.contains(&c.id));
        assert!(
            !cache.contains(&a.id),
            "the oldest of three goes at capacity 2"
        );
    }

    #[test]
    fn only_checks_run_are_counted_not_verdicts_remembered() {
        let counted = IntCounter::new("checks", "checks").unwrap();
        let cache = VerifiedSignatures::new(100, 100).counting_checks_in(counted.clone());
        let good = tx(1, 0, vec![put("a", "1")]);
        let mut bad = tx(2, 0, vec![put("b", "1")]);
        bad.signed.signature = [0x5a; 64];
        let bad = Transaction::new(bad.signed);
        for _ in 0..3 {
            cache.verify(&good).unwrap();
            cache.verify(&bad).unwrap_err();
        }
        assert_eq!(counted.get(), 2);
    }

    #[test]
    fn sender_keys_are_decoded_once_and_never_change_a_verdict() {
        let cache = VerifiedSignatures::new(100, 2);
        let first = tx(1, 0, vec![put("a", "1")]);
        cache.verify(&first).unwrap();
        assert_eq!(cache.keys.len(), 1);
        // The cached key checks the account's next transaction, and still refuses a bad one.
        cache.verify(&tx(1, 1, vec![put("a", "2")])).unwrap();
        let mut tampered = tx(1, 2, vec![put("a", "3")]);
        tampered.signed.unsigned.ops[0] = put("a", "4");
        let tampered = Transaction::new(tampered.signed);
        assert_eq!(cache.verify(&tampered), Err(TxError::BadSignature));
        assert_eq!(cache.keys.len(), 1);
        // Keys that are no usable point are refused as before, and not kept.
        let mut weak = tx(2, 0, vec![put("b", "1")]);
        weak.signed.unsigned.sender = [0; 32];
        weak.signed.unsigned.sender[0] = 1;
        assert_eq!(
            cache.verify(&Transaction::new(weak.signed)),
            Err(TxError::WeakPublicKey)
        );
        let mut off_curve = tx(3, 0, vec![put("c", "1")]);
        off_curve.signed.unsigned.sender = [2; 32];
        assert_eq!(
            cache.verify(&Transaction::new(off_curve.signed)),
            Err(TxError::InvalidPublicKey)
        );
        assert_eq!(cache.keys.len(), 1);
        // Bounded: the oldest sender's key goes first.
        cache.verify(&tx(4, 0, vec![put("d", "1")])).unwrap();
        cache.verify(&tx(5, 0, vec![put("e", "1")])).unwrap();
        assert_eq!(cache.keys.len(), 2);
        assert!(cache.keys.get(first.sender()).is_none());
    }
}
