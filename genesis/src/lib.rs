//! The kvvm genesis document: its format, strict parsing, validation and defaults.
//!
//! AvalancheGo hands the VM the genesis bytes verbatim when the chain is created and on every
//! restart. The VM stores [`genesis_hash`] of those bytes and refuses different bytes later, so the
//! hash is over the raw bytes, not over a canonical re-encoding: changing so much as whitespace
//! makes a different chain.
//!
//! # Format
//!
//! ```json
//! {
//!   "timestamp": 1764000000,
//!   "limits": {
//!     "maxKeyBytes": 256, "maxValueBytes": 65536, "maxOpsPerTx": 64,
//!     "maxTxBytes": 131072, "maxTxsPerBlock": 2000, "maxBlockBytes": 262144
//!   },
//!   "entries": [
//!     {"key": "greeting", "value": "hello", "owner": "<64 hex characters>", "encoding": "utf8"}
//!   ],
//!   "access": {"mode": "restricted", "admins": ["<64 hex characters>"],
//!              "defaultQuota": {"maxKeys": 1000, "maxBytes": 1048576}}
//! }
//! ```
//!
//! - `timestamp`: unix seconds of the genesis block.
//! - `limits`: all six required, each in `1..=` its hard cap ([`MAX_KEY_BYTES_CAP`] and friends),
//!   with `maxTxBytes <= maxBlockBytes` and `maxKeyBytes + maxValueBytes <= maxTxBytes`.
//! - `entries`: at most [`MAX_GENESIS_ENTRIES`]. `encoding` is `"utf8"` (the default when absent)
//!   or `"hex"` and applies to both `key` and `value`. Keys are non-empty, within `maxKeyBytes` and
//!   unique after decoding (`"ab"` in utf8 and `"6162"` in hex are the same key); values may be empty
//!   and are within `maxValueBytes`. `owner` is the ed25519 public key, as 64 hex characters,
//!   allowed to change or delete the key.
//! - `access` (optional): who may write and how much each account may store; see [`Access`].
//!   Absent, writing is open and nothing is limited per account.
//!
//! Parsing is strict because a genesis mistake cannot be fixed after launch: unknown, missing or
//! repeated fields are errors, integers must be integers of the right range, and every error names
//! the field's path (`limits.maxKeyBytes`, `entries[3].owner`).
//!
//! # Why the timestamp has a window
//!
//! - Not before [`MIN_GENESIS_TIMESTAMP`] (2020-12-05T05:00:00Z). That is AvalancheGo's
//!   `upgrade.InitiallyActiveTime`, the ApricotPhase4 time on local and custom networks (Mainnet and
//!   Fuji activated ApricotPhase4 later, in 2021). The proposervm (Snowman++) builds plain, pre-fork
//!   blocks on top of any block stamped before ApricotPhase4, so an older genesis would start the
//!   chain in pre-fork mode instead of with proposer windows from its first block.
//! - Not after the caller's clock. Each block's timestamp is at least its parent's, so a genesis in
//!   the future would force the first blocks to be stamped in the future, and the proposervm refuses
//!   blocks too far ahead of the local clock; the chain would stall until the clock caught up.

mod access;
mod document;
mod error;
mod genesis;
mod limits;

pub use access::{Access, AccessMode, QuotaLimits, MAX_GENESIS_ADMINS};
pub use error::{GenesisError, DOCUMENT_PATH};
pub use genesis::{Genesis, GenesisEntry};
pub use limits::{
    ChainLimits, MAX_BLOCK_BYTES_CAP, MAX_KEY_BYTES_CAP, MAX_OPS_PER_TX_CAP, MAX_TXS_PER_BLOCK_CAP,
    MAX_TX_BYTES_CAP, MAX_VALUE_BYTES_CAP,
};

/// Earliest genesis timestamp: 2020-12-05T05:00:00Z, AvalancheGo's `upgrade.InitiallyActiveTime`
/// (see the crate documentation for why).
pub const MIN_GENESIS_TIMESTAMP: u64 = 1_607_144_400;

/// Most entries a genesis may hold. Every node decodes and writes all of them before the chain can
/// start, and the whole document travels through AvalancheGo (P-chain transaction, gRPC) on the way.
pub const MAX_GENESIS_ENTRIES: usize = 100_000;

/// blake3 of the genesis bytes exactly as the node passed them; the identity of the chain's start.
pub fn genesis_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hash_is_blake3_of_the_bytes() {
        // blake3 of the empty input, from the BLAKE3 test vectors.
        assert_eq!(
            hex::encode(genesis_hash(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn genesis_hash_changes_with_whitespace_that_parsing_ignores() {
        let compact = br#"{"timestamp":1700000000}"#;
        let spaced = br#"{"timestamp": 1700000000}"#;
        assert_ne!(genesis_hash(compact), genesis_hash(spaced));
    }

    #[test]
    fn parse_accepts_the_example_from_the_crate_docs() {
        let text = r#"{
          "timestamp": 1764000000,
          "limits": {
            "maxKeyBytes": 256, "maxValueBytes": 65536, "maxOpsPerTx": 64,
            "maxTxBytes": 131072, "maxTxsPerBlock": 2000, "maxBlockBytes": 262144
          },
          "entries": [
            {"key": "greeting", "value": "hello", "owner": "OWNER", "encoding": "utf8"}
          ]
        }"#
        .replace("OWNER", &"ab".repeat(32));
        let genesis = Genesis::parse(text.as_bytes(), 1_764_000_000).unwrap();
        assert_eq!(
            genesis,
            Genesis {
                timestamp: 1_764_000_000,
                limits: ChainLimits::default(),
                entries: vec![GenesisEntry {
                    key: b"greeting".to_vec(),
                    value: b"hello".to_vec(),
                    owner: [0xab; 32],
                }],
                access: Access::default(),
            }
        );
    }
}
