//! The decoded genesis and the rules it must satisfy.

use std::collections::HashMap;

use crate::{
    document, Access, ChainLimits, GenesisError, MAX_GENESIS_ENTRIES, MIN_GENESIS_TIMESTAMP,
};

/// The decoded genesis document: the chain's first block's time, its size limits, and the initial
/// contents of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Unix seconds of the genesis block.
    pub timestamp: u64,
    /// Size limits for the life of the chain.
    pub limits: ChainLimits,
    /// Initial key-value pairs, in document order.
    pub entries: Vec<GenesisEntry>,
    /// Who may write and how much each account may store.
    pub access: Access,
}

/// One initial key-value pair, decoded to bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// ed25519 public key allowed to change or delete this key.
    pub owner: [u8; 32],
}

impl Genesis {
    /// Decodes and validates genesis bytes exactly as the node passes them.
    ///
    /// `now_unix` is the caller's wall clock, passed in so that the result depends only on the
    /// arguments; the timestamp must not be after it.
    pub fn parse(bytes: &[u8], now_unix: u64) -> Result<Genesis, GenesisError> {
        let genesis = document::decode(bytes)?;
        genesis.validate(now_unix)?;
        Ok(genesis)
    }

    /// Checks every rule [`Genesis::parse`] applies after decoding: the timestamp window, the
    /// limits, and the entries against those limits.
    pub fn validate(&self, now_unix: u64) -> Result<(), GenesisError> {
        validate_timestamp(self.timestamp, now_unix)?;
        self.limits.validate()?;
        validate_entries(&self.entries, &self.limits)?;
        self.access.validate()
    }

    /// Pretty-printed JSON that [`Genesis::parse`] decodes back to `self` (if `self` is valid).
    ///
    /// Each entry is written as `utf8` when both its key and value are UTF-8, otherwise as `hex`.
    pub fn to_json_pretty(&self) -> String {
        document::encode(self)
    }

    /// A genesis at `timestamp` with default limits and an empty store.
    ///
    /// No example entry: any fixed owner key would be one whose private key is public, and an
    /// entry it owns would be writable by anyone.
    pub fn default_at(timestamp: u64) -> Genesis {
        Genesis {
            timestamp,
            limits: ChainLimits::default(),
            entries: Vec::new(),
            access: Access::default(),
        }
    }
}

fn validate_timestamp(timestamp: u64, now_unix: u64) -> Result<(), GenesisError> {
    if timestamp < MIN_GENESIS_TIMESTAMP {
        return Err(GenesisError::invalid(
            "timestamp",
            format!(
                "{timestamp} is before {MIN_GENESIS_TIMESTAMP} (2020-12-05T05:00:00Z); the \
                 proposervm would treat the chain as not yet forked"
            ),
        ));
    }
    if timestamp > now_unix {
        return Err(GenesisError::invalid(
            "timestamp",
            format!(
                "{timestamp} is after the current time {now_unix}; blocks after it would be \
                 stamped in the future and refused"
            ),
        ));
    }
    Ok(())
}

fn validate_entries(entries: &[GenesisEntry], limits: &ChainLimits) -> Result<(), GenesisError> {
    if entries.len() > MAX_GENESIS_ENTRIES {
        return Err(document::too_many_entries(entries.len()));
    }
    let mut first_index: HashMap<&[u8], usize> = HashMap::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let key_len = entry.key.len();
        if key_len == 0 {
            return Err(GenesisError::invalid(
                format!("entries[{index}].key"),
                "must not be empty",
            ));
        }
        if key_len > limits.max_key_bytes as usize {
            return Err(GenesisError::invalid(
                format!("entries[{index}].key"),
                format!(
                    "{key_len} bytes; limits.maxKeyBytes is {}",
                    limits.max_key_bytes
                ),
            ));
        }
        let value_len = entry.value.len();
        if value_len > limits.max_value_bytes as usize {
            return Err(GenesisError::invalid(
                format!("entries[{index}].value"),
                format!(
                    "{value_len} bytes; limits.maxValueBytes is {}",
                    limits.max_value_bytes
                ),
            ));
        }
        if let Some(&first) = first_index.get(entry.key.as_slice()) {
            return Err(GenesisError::DuplicateKey {
                first,
                second: index,
            });
        }
        first_index.insert(&entry.key, index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::{
        MAX_BLOCK_BYTES_CAP, MAX_KEY_BYTES_CAP, MAX_OPS_PER_TX_CAP, MAX_TXS_PER_BLOCK_CAP,
        MAX_TX_BYTES_CAP, MAX_VALUE_BYTES_CAP,
    };

    const NOW: u64 = 1_764_000_000;

    fn entry(key: &[u8], value: &[u8]) -> GenesisEntry {
        GenesisEntry {
            key: key.to_vec(),
            value: value.to_vec(),
            owner: [7; 32],
        }
    }

    fn with_entries(entries: Vec<GenesisEntry>) -> Genesis {
        Genesis {
            entries,
            ..Genesis::default_at(NOW)
        }
    }

    /// Serializes with `to_json_pretty` and parses back, as an operator's file would be.
    fn reparse(genesis: &Genesis) -> Result<Genesis, GenesisError> {
        Genesis::parse(genesis.to_json_pretty().as_bytes(), NOW)
    }

    fn invalid_path<T: std::fmt::Debug>(result: Result<T, GenesisError>) -> String {
        match result {
            Err(GenesisError::Invalid { path, .. }) => path,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn document(genesis: &Genesis) -> Value {
        serde_json::from_str(&genesis.to_json_pretty()).unwrap()
    }

    #[test]
    fn default_genesis_round_trips_through_json() {
        let genesis = Genesis::default_at(NOW);
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn default_genesis_has_default_limits_and_no_entries() {
        let genesis = Genesis::default_at(NOW - 5);
        assert_eq!(genesis.timestamp, NOW - 5);
        assert_eq!(genesis.limits, ChainLimits::default());
        assert!(genesis.entries.is_empty());
    }

    #[test]
    fn default_genesis_json_uses_the_documented_field_names() {
        let doc = document(&Genesis::default_at(NOW));
        assert_eq!(
            doc,
            json!({
                "timestamp": NOW,
                "limits": {
                    "maxKeyBytes": 256, "maxValueBytes": 65536, "maxOpsPerTx": 64,
                    "maxTxBytes": 131072, "maxTxsPerBlock": 2000, "maxBlockBytes": 262144
                },
                "entries": []
            })
        );
    }

    #[test]
    fn utf8_entries_are_written_as_utf8_and_round_trip() {
        let genesis = with_entries(vec![entry(b"greeting", "h\u{e9}llo \"world\"".as_bytes())]);
        assert_eq!(document(&genesis)["entries"][0]["encoding"], "utf8");
        assert_eq!(document(&genesis)["entries"][0]["key"], "greeting");
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn entry_with_non_utf8_value_is_written_as_hex_for_key_and_value_and_round_trips() {
        let genesis = with_entries(vec![entry(b"ab", &[0xff, 0x00])]);
        let doc = document(&genesis);
        assert_eq!(doc["entries"][0]["encoding"], "hex");
        assert_eq!(doc["entries"][0]["key"], "6162");
        assert_eq!(doc["entries"][0]["value"], "ff00");
        assert_eq!(doc["entries"][0]["owner"], "07".repeat(32));
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn genesis_with_limits_at_their_caps_round_trips() {
        let genesis = Genesis {
            limits: ChainLimits {
                max_key_bytes: MAX_KEY_BYTES_CAP,
                max_value_bytes: MAX_VALUE_BYTES_CAP,
                max_ops_per_tx: MAX_OPS_PER_TX_CAP,
                max_tx_bytes: MAX_TX_BYTES_CAP,
                max_txs_per_block: MAX_TXS_PER_BLOCK_CAP,
                max_block_bytes: MAX_BLOCK_BYTES_CAP,
            },
            ..Genesis::default_at(NOW)
        };
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn parse_rejects_a_limit_past_its_cap_or_zero_naming_the_limit() {
        let caps = [
            ("maxKeyBytes", MAX_KEY_BYTES_CAP),
            ("maxValueBytes", MAX_VALUE_BYTES_CAP),
            ("maxOpsPerTx", MAX_OPS_PER_TX_CAP),
            ("maxTxBytes", MAX_TX_BYTES_CAP),
            ("maxTxsPerBlock", MAX_TXS_PER_BLOCK_CAP),
            ("maxBlockBytes", MAX_BLOCK_BYTES_CAP),
        ];
        for (name, cap) in caps {
            for bad in [0, cap + 1] {
                let mut doc = document(&Genesis::default_at(NOW));
                for (other, other_cap) in caps {
                    doc["limits"][other] = json!(other_cap);
                }
                doc["limits"][name] = json!(bad);
                let result = Genesis::parse(doc.to_string().as_bytes(), NOW);
                assert_eq!(invalid_path(result), format!("limits.{name}"), "{bad}");
            }
        }
    }

    #[test]
    fn timestamp_equal_to_now_is_accepted() {
        let genesis = Genesis::default_at(NOW);
        assert_eq!(
            Genesis::parse(genesis.to_json_pretty().as_bytes(), NOW),
            Ok(genesis)
        );
    }

    #[test]
    fn timestamp_one_second_after_now_is_rejected() {
        let genesis = Genesis::default_at(NOW + 1);
        let result = Genesis::parse(genesis.to_json_pretty().as_bytes(), NOW);
        assert_eq!(invalid_path(result), "timestamp");
    }

    #[test]
    fn timestamp_at_apricot_phase_4_activation_is_accepted() {
        let genesis = Genesis::default_at(MIN_GENESIS_TIMESTAMP);
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn timestamp_one_second_before_apricot_phase_4_activation_is_rejected() {
        let genesis = Genesis::default_at(MIN_GENESIS_TIMESTAMP - 1);
        assert_eq!(invalid_path(reparse(&genesis)), "timestamp");
    }

    #[test]
    fn min_timestamp_is_2020_12_05_05_00_utc() {
        // 18_601 days from 1970-01-01 to 2020-12-05, plus five hours.
        assert_eq!(MIN_GENESIS_TIMESTAMP, 18_601 * 86_400 + 5 * 3_600);
    }

    #[test]
    fn key_at_max_key_bytes_is_accepted_and_one_more_byte_is_rejected() {
        let max = ChainLimits::default().max_key_bytes as usize;
        let genesis = with_entries(vec![entry(&vec![b'k'; max], b"v")]);
        assert_eq!(reparse(&genesis), Ok(genesis));
        let genesis = with_entries(vec![entry(b"a", b"v"), entry(&vec![b'k'; max + 1], b"v")]);
        assert_eq!(invalid_path(reparse(&genesis)), "entries[1].key");
    }

    #[test]
    fn hex_key_limit_counts_decoded_bytes_not_hex_characters() {
        let max = ChainLimits::default().max_key_bytes as usize;
        let genesis = with_entries(vec![entry(&vec![0xff; max], b"")]);
        assert_eq!(document(&genesis)["entries"][0]["encoding"], "hex");
        assert_eq!(reparse(&genesis), Ok(genesis));
        let genesis = with_entries(vec![entry(&vec![0xff; max + 1], b"")]);
        assert_eq!(invalid_path(reparse(&genesis)), "entries[0].key");
    }

    #[test]
    fn value_at_max_value_bytes_is_accepted_and_one_more_byte_is_rejected() {
        let max = ChainLimits::default().max_value_bytes as usize;
        let genesis = with_entries(vec![entry(b"k", &vec![b'v'; max])]);
        assert_eq!(reparse(&genesis), Ok(genesis));
        let genesis = with_entries(vec![entry(b"k", &vec![b'v'; max + 1])]);
        assert_eq!(invalid_path(reparse(&genesis)), "entries[0].value");
    }

    #[test]
    fn empty_key_is_rejected() {
        let genesis = with_entries(vec![entry(b"", b"v")]);
        assert_eq!(invalid_path(reparse(&genesis)), "entries[0].key");
    }

    #[test]
    fn empty_value_is_accepted() {
        let genesis = with_entries(vec![entry(b"k", b"")]);
        assert_eq!(reparse(&genesis), Ok(genesis));
    }

    #[test]
    fn duplicate_key_is_rejected_naming_both_entries() {
        let genesis = with_entries(vec![
            entry(b"a", b"1"),
            entry(b"b", b"2"),
            entry(b"c", b"3"),
            entry(b"b", b"4"),
        ]);
        let err = reparse(&genesis).unwrap_err();
        assert_eq!(
            err,
            GenesisError::DuplicateKey {
                first: 1,
                second: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "entries[3].key: same key as entries[1].key"
        );
    }

    #[test]
    fn same_key_bytes_written_in_different_encodings_are_duplicates() {
        let owner = "07".repeat(32);
        let doc = json!({
            "timestamp": NOW,
            "limits": ChainLimits::default(),
            "entries": [
                {"key": "ab", "value": "x", "owner": owner},
                {"key": "6162", "value": "79", "owner": owner, "encoding": "hex"}
            ]
        });
        assert_eq!(
            Genesis::parse(doc.to_string().as_bytes(), NOW),
            Err(GenesisError::DuplicateKey {
                first: 0,
                second: 1
            })
        );
    }

    #[test]
    fn entry_count_at_cap_is_accepted_and_one_more_is_rejected() {
        let mut entries: Vec<GenesisEntry> = (0..MAX_GENESIS_ENTRIES)
            .map(|i| entry(format!("k{i}").as_bytes(), b""))
            .collect();
        let genesis = with_entries(entries.clone());
        assert_eq!(
            reparse(&genesis).map(|g| g.entries.len()),
            Ok(MAX_GENESIS_ENTRIES)
        );
        entries.push(entry(b"one-too-many", b""));
        let genesis = with_entries(entries);
        assert_eq!(invalid_path(reparse(&genesis)), "entries");
        assert_eq!(invalid_path(genesis.validate(NOW)), "entries");
    }

    fn restricted(admins: Vec<[u8; 32]>) -> Genesis {
        Genesis {
            access: Access {
                mode: crate::AccessMode::Restricted,
                admins,
                default_quota: Some(crate::QuotaLimits {
                    max_keys: 3,
                    max_bytes: 0,
                }),
            },
            ..Genesis::default_at(NOW)
        }
    }

    #[test]
    fn a_restricted_genesis_round_trips_and_a_default_one_has_no_access_section() {
        let genesis = restricted(vec![[1; 32], [2; 32]]);
        let doc = document(&genesis);
        assert_eq!(
            doc["access"],
            json!({"mode": "restricted", "admins": ["01".repeat(32), "02".repeat(32)],
                   "defaultQuota": {"maxKeys": 3, "maxBytes": 0}})
        );
        assert_eq!(reparse(&genesis), Ok(genesis));
        assert!(document(&Genesis::default_at(NOW)).get("access").is_none());
    }

    #[test]
    fn a_restricted_genesis_needs_an_admin() {
        assert_eq!(invalid_path(reparse(&restricted(vec![]))), "access.admins");
        assert!(reparse(&restricted(vec![[1; 32]])).is_ok());
    }

    #[test]
    fn a_repeated_admin_is_named() {
        let genesis = restricted(vec![[1; 32], [2; 32], [1; 32]]);
        let err = reparse(&genesis).unwrap_err();
        assert_eq!(
            err.to_string(),
            "access.admins[2]: same account as access.admins[0]"
        );
    }

    #[test]
    fn admin_count_at_cap_is_accepted_and_one_more_is_rejected() {
        let admins: Vec<[u8; 32]> = (0..=crate::MAX_GENESIS_ADMINS)
            .map(|i| {
                let mut account = [0u8; 32];
                account[..8].copy_from_slice(&(i as u64).to_le_bytes());
                account
            })
            .collect();
        let at_cap = restricted(admins[..crate::MAX_GENESIS_ADMINS].to_vec());
        assert!(reparse(&at_cap).is_ok());
        let over = restricted(admins);
        assert_eq!(invalid_path(over.validate(NOW)), "access.admins");
        assert_eq!(invalid_path(reparse(&over)), "access.admins");
    }

    #[test]
    fn limits_are_checked_before_entries_are_measured_against_them() {
        let mut genesis = with_entries(vec![entry(b"k", b"v")]);
        genesis.limits.max_key_bytes = 0;
        assert_eq!(invalid_path(reparse(&genesis)), "limits.maxKeyBytes");
    }
}
