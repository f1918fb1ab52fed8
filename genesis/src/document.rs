//! The JSON form of the genesis document: decoding it into [`Genesis`] with a field path on every
//! error, and encoding a [`Genesis`] back.
//!
//! Decoding goes one object at a time: each object is deserialized into a struct of borrowed
//! [`RawValue`] fragments (so serde's derive still rejects unknown, missing and repeated keys), and
//! each fragment is then decoded on its own, knowing its path. Deserializing the whole document in
//! one go would give serde's messages without saying where in the document they apply.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::error::{child_path, DOCUMENT_PATH};
use crate::{
    Access, AccessMode, ChainLimits, Genesis, GenesisEntry, GenesisError, QuotaLimits,
    MAX_GENESIS_ADMINS, MAX_GENESIS_ENTRIES,
};

/// How an entry's key and value are written as JSON strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    /// The string's UTF-8 bytes are the bytes.
    #[default]
    Utf8,
    /// The string is hex (either case); needed for bytes that are not UTF-8.
    Hex,
}

impl Encoding {
    fn from_name(name: &str) -> Result<Encoding, String> {
        match name {
            "utf8" => Ok(Encoding::Utf8),
            "hex" => Ok(Encoding::Hex),
            other => Err(format!(
                "unknown encoding {other:?}; expected \"utf8\" or \"hex\""
            )),
        }
    }

    fn decode(self, text: String) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Utf8 => Ok(text.into_bytes()),
            Encoding::Hex => hex::decode(&text).map_err(|err| format!("not valid hex: {err}")),
        }
    }

    fn encode(self, bytes: &[u8]) -> String {
        match self {
            // `encode` below picks utf8 only for bytes that are UTF-8, so nothing is replaced.
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Hex => hex::encode(bytes),
        }
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with fields timestamp, limits, entries and optionally access"
)]
struct RawGenesis<'a> {
    #[serde(borrow)]
    timestamp: &'a RawValue,
    #[serde(borrow)]
    limits: &'a RawValue,
    #[serde(borrow)]
    entries: &'a RawValue,
    #[serde(borrow, default, deserialize_with = "present")]
    access: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an object with field mode and optionally admins and defaultQuota"
)]
struct RawAccess<'a> {
    #[serde(borrow)]
    mode: &'a RawValue,
    #[serde(borrow, default, deserialize_with = "present")]
    admins: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    default_quota: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an object with fields maxKeys and maxBytes"
)]
struct RawQuota<'a> {
    #[serde(borrow)]
    max_keys: &'a RawValue,
    #[serde(borrow)]
    max_bytes: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    expecting = "an object with the six chain limits"
)]
struct RawLimits<'a> {
    #[serde(borrow)]
    max_key_bytes: &'a RawValue,
    #[serde(borrow)]
    max_value_bytes: &'a RawValue,
    #[serde(borrow)]
    max_ops_per_tx: &'a RawValue,
    #[serde(borrow)]
    max_tx_bytes: &'a RawValue,
    #[serde(borrow)]
    max_txs_per_block: &'a RawValue,
    #[serde(borrow)]
    max_block_bytes: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with fields key, value, owner and optionally encoding"
)]
struct RawEntry<'a> {
    #[serde(borrow)]
    key: &'a RawValue,
    #[serde(borrow)]
    value: &'a RawValue,
    #[serde(borrow)]
    owner: &'a RawValue,
    // `Option<&RawValue>` alone would read `"encoding": null` as absent; going through
    // `present` keeps an explicit null, so it is rejected like any other non-string.
    #[serde(borrow, default, deserialize_with = "present")]
    encoding: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Decodes `text` (the JSON at `path`) as a `T`, naming `path` in any error.
fn decode_at<'a, T: Deserialize<'a>>(text: &'a str, path: &str) -> Result<T, GenesisError> {
    serde_json::from_str(text).map_err(|err| GenesisError::from_serde(path, &err))
}

fn field<'a, T: Deserialize<'a>>(raw: &'a RawValue, path: &str) -> Result<T, GenesisError> {
    decode_at(raw.get(), path)
}

/// Decodes the document's shape and encodings; the rules on the decoded values are
/// [`Genesis::validate`]'s job.
pub(crate) fn decode(bytes: &[u8]) -> Result<Genesis, GenesisError> {
    let text = std::str::from_utf8(bytes).map_err(|err| GenesisError::Syntax {
        reason: format!("not UTF-8: {err}"),
    })?;
    let root: RawGenesis = decode_at(text, DOCUMENT_PATH)?;
    let timestamp = field(root.timestamp, "timestamp")?;
    let limits = decode_limits(root.limits)?;
    let raw_entries: Vec<&RawValue> = field(root.entries, "entries")?;
    // Checked before decoding so an oversized document is refused without decoding every entry.
    if raw_entries.len() > MAX_GENESIS_ENTRIES {
        return Err(too_many_entries(raw_entries.len()));
    }
    let entries = raw_entries
        .into_iter()
        .enumerate()
        .map(|(index, raw)| decode_entry(raw, index))
        .collect::<Result<_, _>>()?;
    let access = match root.access {
        Some(raw) => decode_access(raw)?,
        None => Access::default(),
    };
    Ok(Genesis {
        timestamp,
        limits,
        entries,
        access,
    })
}

fn decode_access(raw: &RawValue) -> Result<Access, GenesisError> {
    let fields: RawAccess = field(raw, "access")?;
    let mode_name: String = field(fields.mode, "access.mode")?;
    let mode = match mode_name.as_str() {
        "open" => AccessMode::Open,
        "restricted" => AccessMode::Restricted,
        other => {
            return Err(GenesisError::invalid(
                "access.mode",
                format!("unknown mode {other:?}; expected \"open\" or \"restricted\""),
            ))
        }
    };
    let admins = match fields.admins {
        Some(raw) => {
            let raw_admins: Vec<&RawValue> = field(raw, "access.admins")?;
            // Checked before decoding, like the entries, so a huge list costs no decoding.
            if raw_admins.len() > MAX_GENESIS_ADMINS {
                return Err(GenesisError::invalid(
                    "access.admins",
                    format!(
                        "{} admins; at most {MAX_GENESIS_ADMINS} are allowed",
                        raw_admins.len()
                    ),
                ));
            }
            raw_admins
                .into_iter()
                .enumerate()
                .map(|(index, raw)| {
                    let path = format!("access.admins[{index}]");
                    let text: String = field(raw, &path)?;
                    decode_owner(&text).map_err(|reason| GenesisError::invalid(path, reason))
                })
                .collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    let default_quota = match fields.default_quota {
        Some(raw) => {
            let quota: RawQuota = field(raw, "access.defaultQuota")?;
            Some(QuotaLimits {
                max_keys: field(quota.max_keys, "access.defaultQuota.maxKeys")?,
                max_bytes: field(quota.max_bytes, "access.defaultQuota.maxBytes")?,
            })
        }
        None => None,
    };
    Ok(Access {
        mode,
        admins,
        default_quota,
    })
}

pub(crate) fn too_many_entries(count: usize) -> GenesisError {
    GenesisError::invalid(
        "entries",
        format!("{count} entries; at most {MAX_GENESIS_ENTRIES} are allowed"),
    )
}

fn decode_limits(raw: &RawValue) -> Result<ChainLimits, GenesisError> {
    let fields: RawLimits = field(raw, "limits")?;
    Ok(ChainLimits {
        max_key_bytes: field(fields.max_key_bytes, "limits.maxKeyBytes")?,
        max_value_bytes: field(fields.max_value_bytes, "limits.maxValueBytes")?,
        max_ops_per_tx: field(fields.max_ops_per_tx, "limits.maxOpsPerTx")?,
        max_tx_bytes: field(fields.max_tx_bytes, "limits.maxTxBytes")?,
        max_txs_per_block: field(fields.max_txs_per_block, "limits.maxTxsPerBlock")?,
        max_block_bytes: field(fields.max_block_bytes, "limits.maxBlockBytes")?,
    })
}

fn decode_entry(raw: &RawValue, index: usize) -> Result<GenesisEntry, GenesisError> {
    let path = format!("entries[{index}]");
    let fields: RawEntry = field(raw, &path)?;
    let encoding = match fields.encoding {
        Some(raw) => {
            // Read as a string first: serde_json reports a non-string where an enum is expected
            // as a bare "expected value", which would not tell the operator what is wrong.
            let encoding_path = child_path(&path, "encoding");
            let name: String = field(raw, &encoding_path)?;
            Encoding::from_name(&name)
                .map_err(|reason| GenesisError::invalid(encoding_path, reason))?
        }
        None => Encoding::default(),
    };
    let bytes_at = |raw: &RawValue, name: &str| {
        let path = child_path(&path, name);
        let text: String = field(raw, &path)?;
        encoding
            .decode(text)
            .map_err(|reason| GenesisError::invalid(path, reason))
    };
    let key = bytes_at(fields.key, "key")?;
    let value = bytes_at(fields.value, "value")?;
    let owner_path = child_path(&path, "owner");
    let owner_text: String = field(fields.owner, &owner_path)?;
    let owner =
        decode_owner(&owner_text).map_err(|reason| GenesisError::invalid(owner_path, reason))?;
    Ok(GenesisEntry { key, value, owner })
}

/// An ed25519 public key as 64 hex characters. Whether the bytes are a valid curve point is left
/// to whoever verifies signatures against it; this crate has no ed25519 dependency.
fn decode_owner(text: &str) -> Result<[u8; 32], String> {
    if text.len() != 64 {
        return Err(format!(
            "expected 64 hex characters (a 32-byte ed25519 public key), got {}",
            text.chars().count()
        ));
    }
    let mut owner = [0u8; 32];
    hex::decode_to_slice(text, &mut owner).map_err(|err| format!("not valid hex: {err}"))?;
    Ok(owner)
}

#[derive(Serialize)]
struct GenesisOut<'a> {
    timestamp: u64,
    limits: &'a ChainLimits,
    entries: Vec<EntryOut>,
    /// Left out when default, so a document without access rules reads as it always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<AccessOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessOut {
    mode: AccessMode,
    admins: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_quota: Option<QuotaLimits>,
}

#[derive(Serialize)]
struct EntryOut {
    key: String,
    value: String,
    owner: String,
    encoding: Encoding,
}

pub(crate) fn encode(genesis: &Genesis) -> String {
    let entries = genesis
        .entries
        .iter()
        .map(|entry| {
            // One encoding covers both key and value, so utf8 only when both are UTF-8.
            let encoding = if std::str::from_utf8(&entry.key).is_ok()
                && std::str::from_utf8(&entry.value).is_ok()
            {
                Encoding::Utf8
            } else {
                Encoding::Hex
            };
            EntryOut {
                key: encoding.encode(&entry.key),
                value: encoding.encode(&entry.value),
                owner: hex::encode(entry.owner),
                encoding,
            }
        })
        .collect();
    let access = (genesis.access != Access::default()).then(|| AccessOut {
        mode: genesis.access.mode,
        admins: genesis.access.admins.iter().map(hex::encode).collect(),
        default_quota: genesis.access.default_quota,
    });
    let out = GenesisOut {
        timestamp: genesis.timestamp,
        limits: &genesis.limits,
        entries,
        access,
    };
    serde_json::to_string_pretty(&out)
        .expect("serializing structs of integers and strings to a String cannot fail")
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    const OWNER: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    fn base() -> Value {
        json!({
            "timestamp": 1_700_000_000u64,
            "limits": {
                "maxKeyBytes": 256, "maxValueBytes": 65536, "maxOpsPerTx": 64,
                "maxTxBytes": 131072, "maxTxsPerBlock": 2000, "maxBlockBytes": 262144
            },
            "entries": [
                {"key": "greeting", "value": "hello", "owner": OWNER, "encoding": "utf8"},
                {"key": "farewell", "value": "bye", "owner": OWNER}
            ]
        })
    }

    fn decode_value(doc: &Value) -> Result<Genesis, GenesisError> {
        decode(doc.to_string().as_bytes())
    }

    /// The path of a `Format` error; panics on any other outcome.
    fn format_path(result: Result<Genesis, GenesisError>) -> String {
        match result {
            Err(GenesisError::Format { path, .. }) => path,
            other => panic!("expected a Format error, got {other:?}"),
        }
    }

    fn invalid_path(result: Result<Genesis, GenesisError>) -> String {
        match result {
            Err(GenesisError::Invalid { path, .. }) => path,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_document_decodes_to_its_bytes() {
        let genesis = decode_value(&base()).unwrap();
        assert_eq!(genesis.timestamp, 1_700_000_000);
        assert_eq!(genesis.limits, ChainLimits::default());
        assert_eq!(
            genesis.entries,
            vec![
                GenesisEntry {
                    key: b"greeting".to_vec(),
                    value: b"hello".to_vec(),
                    owner: [1; 32],
                },
                GenesisEntry {
                    key: b"farewell".to_vec(),
                    value: b"bye".to_vec(),
                    owner: [1; 32],
                },
            ]
        );
    }

    #[test]
    fn hex_encoding_decodes_key_and_value_in_either_case() {
        let mut doc = base();
        doc["entries"][0] = json!({"key": "00fF", "value": "", "owner": OWNER, "encoding": "hex"});
        let genesis = decode_value(&doc).unwrap();
        assert_eq!(genesis.entries[0].key, vec![0x00, 0xff]);
        assert_eq!(genesis.entries[0].value, Vec::<u8>::new());
    }

    #[test]
    fn unknown_top_level_field_is_named() {
        let mut doc = base();
        doc["extra"] = json!(1);
        let err = decode_value(&doc).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
        assert_eq!(format_path(Err(err)), "extra");
    }

    #[test]
    fn unknown_limits_field_is_named_with_its_path() {
        let mut doc = base();
        doc["limits"]["maxKeysBytes"] = json!(256);
        assert_eq!(format_path(decode_value(&doc)), "limits.maxKeysBytes");
    }

    #[test]
    fn unknown_entry_field_is_named_with_its_index() {
        let mut doc = base();
        doc["entries"][1]["colour"] = json!("blue");
        assert_eq!(format_path(decode_value(&doc)), "entries[1].colour");
    }

    #[test]
    fn missing_field_is_named_with_its_path() {
        let mut doc = base();
        doc["limits"].as_object_mut().unwrap().remove("maxTxBytes");
        assert_eq!(format_path(decode_value(&doc)), "limits.maxTxBytes");
        let mut doc = base();
        doc["entries"][0].as_object_mut().unwrap().remove("owner");
        assert_eq!(format_path(decode_value(&doc)), "entries[0].owner");
        let mut doc = base();
        doc.as_object_mut().unwrap().remove("entries");
        assert_eq!(format_path(decode_value(&doc)), "entries");
    }

    #[test]
    fn repeated_field_is_rejected_not_last_one_wins() {
        let text =
            r#"{"timestamp": 1700000000, "timestamp": 1700000001, "limits": {}, "entries": []}"#;
        assert_eq!(format_path(decode(text.as_bytes())), "timestamp");
        let limits = serde_json::to_string(&ChainLimits::default()).unwrap();
        let text = format!(
            r#"{{"timestamp": 1700000000, "limits": {}, "entries": []}}"#,
            limits.replacen('{', r#"{"maxOpsPerTx": 1,"#, 1)
        );
        assert_eq!(format_path(decode(text.as_bytes())), "limits.maxOpsPerTx");
    }

    #[test]
    fn limit_of_wrong_type_or_outside_u32_names_the_limit() {
        for bad in [
            json!("256"),
            json!(-1),
            json!(1.5),
            json!(4_294_967_296u64),
            json!(null),
        ] {
            let mut doc = base();
            doc["limits"]["maxKeyBytes"] = bad.clone();
            assert_eq!(
                format_path(decode_value(&doc)),
                "limits.maxKeyBytes",
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamp_of_wrong_type_is_named() {
        for bad in [json!(-1), json!(1.7e9), json!("1700000000")] {
            let mut doc = base();
            doc["timestamp"] = bad.clone();
            assert_eq!(format_path(decode_value(&doc)), "timestamp", "{bad}");
        }
    }

    #[test]
    fn non_string_key_is_named() {
        let mut doc = base();
        doc["entries"][1]["key"] = json!(7);
        assert_eq!(format_path(decode_value(&doc)), "entries[1].key");
    }

    #[test]
    fn bad_hex_key_and_odd_length_hex_value_are_named() {
        let mut doc = base();
        doc["entries"][1] = json!({"key": "zz", "value": "00", "owner": OWNER, "encoding": "hex"});
        assert_eq!(invalid_path(decode_value(&doc)), "entries[1].key");
        let mut doc = base();
        doc["entries"][1] = json!({"key": "00", "value": "abc", "owner": OWNER, "encoding": "hex"});
        assert_eq!(invalid_path(decode_value(&doc)), "entries[1].value");
    }

    #[test]
    fn utf8_encoding_takes_hex_looking_text_literally() {
        let mut doc = base();
        doc["entries"][0]["key"] = json!("zz");
        doc["entries"][0]["encoding"] = json!("utf8");
        assert_eq!(decode_value(&doc).unwrap().entries[0].key, b"zz".to_vec());
    }

    #[test]
    fn owner_must_be_exactly_64_hex_characters() {
        for bad in [
            &OWNER[..63],
            &format!("{OWNER}01"),
            &OWNER.replacen('0', "g", 1),
            "",
        ] {
            let mut doc = base();
            doc["entries"][1]["owner"] = json!(bad);
            assert_eq!(
                invalid_path(decode_value(&doc)),
                "entries[1].owner",
                "{bad}"
            );
        }
    }

    #[test]
    fn unsupported_encoding_is_named() {
        for bad in ["base64", "UTF8", ""] {
            let mut doc = base();
            doc["entries"][0]["encoding"] = json!(bad);
            assert_eq!(
                invalid_path(decode_value(&doc)),
                "entries[0].encoding",
                "{bad}"
            );
        }
    }

    #[test]
    fn null_encoding_is_rejected_rather_than_read_as_absent() {
        let mut doc = base();
        doc["entries"][0]["encoding"] = Value::Null;
        let err = decode_value(&doc).unwrap_err();
        assert!(err.to_string().contains("null"), "{err}");
        assert_eq!(format_path(Err(err)), "entries[0].encoding");
    }

    #[test]
    fn non_utf8_bytes_are_a_syntax_error() {
        let mut bytes = base().to_string().into_bytes();
        let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
        bytes[at] = 0xff;
        assert!(matches!(decode(&bytes), Err(GenesisError::Syntax { .. })));
    }

    #[test]
    fn malformed_json_and_trailing_data_are_syntax_errors() {
        let text = base().to_string();
        for bad in [&text[..text.len() - 1], &format!("{text} {{}}"), ""] {
            assert!(
                matches!(decode(bad.as_bytes()), Err(GenesisError::Syntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn document_that_is_not_an_object_is_rejected_at_the_root() {
        assert_eq!(format_path(decode(b"[1, 2]")), DOCUMENT_PATH);
    }

    #[test]
    fn too_many_entries_are_refused_before_any_entry_is_decoded() {
        // Every entry is malformed; the count error must win, showing no entry was decoded.
        let mut doc = base();
        doc["entries"] = Value::Array(vec![json!({}); MAX_GENESIS_ENTRIES + 1]);
        assert_eq!(invalid_path(decode_value(&doc)), "entries");
        doc["entries"] = Value::Array(vec![json!({}); MAX_GENESIS_ENTRIES]);
        assert_eq!(format_path(decode_value(&doc)), "entries[0].key");
    }

    fn with_access(access: Value) -> Value {
        let mut doc = base();
        doc["access"] = access;
        doc
    }

    #[test]
    fn a_document_without_access_is_open_with_no_quota() {
        assert_eq!(decode_value(&base()).unwrap().access, Access::default());
    }

    #[test]
    fn access_decodes_mode_admins_and_default_quota() {
        let doc = with_access(json!({
            "mode": "restricted",
            "admins": [OWNER, "02".repeat(32)],
            "defaultQuota": {"maxKeys": 10, "maxBytes": 18446744073709551615u64}
        }));
        let access = decode_value(&doc).unwrap().access;
        assert_eq!(
            access,
            Access {
                mode: AccessMode::Restricted,
                admins: vec![[1; 32], [2; 32]],
                default_quota: Some(QuotaLimits {
                    max_keys: 10,
                    max_bytes: u64::MAX
                }),
            }
        );
        let open = decode_value(&with_access(json!({"mode": "open"}))).unwrap();
        assert_eq!(open.access, Access::default());
    }

    #[test]
    fn access_errors_name_their_field() {
        let cases = [
            (json!({"mode": "closed"}), "access.mode"),
            (
                json!({"mode": "open", "admins": ["zz"]}),
                "access.admins[0]",
            ),
            (
                json!({"mode": "open", "admins": [OWNER, &OWNER[..62]]}),
                "access.admins[1]",
            ),
        ];
        for (access, path) in cases {
            assert_eq!(invalid_path(decode_value(&with_access(access))), path);
        }
        let format_cases = [
            (json!({"admins": []}), "access.mode"),
            (json!({"mode": "open", "colour": 1}), "access.colour"),
            (json!({"mode": 1}), "access.mode"),
            (json!({"mode": "open", "admins": null}), "access.admins"),
            (
                json!({"mode": "open", "defaultQuota": {"maxKeys": 1}}),
                "access.defaultQuota.maxBytes",
            ),
            (
                json!({"mode": "open", "defaultQuota": {"maxKeys": -1, "maxBytes": 1}}),
                "access.defaultQuota.maxKeys",
            ),
            (json!(null), "access"),
        ];
        for (access, path) in format_cases {
            assert_eq!(
                format_path(decode_value(&with_access(access.clone()))),
                path,
                "{access}"
            );
        }
    }

    #[test]
    fn too_many_admins_are_refused_before_any_is_decoded() {
        let junk = vec![json!(7); MAX_GENESIS_ADMINS + 1];
        let doc = with_access(json!({"mode": "open", "admins": junk}));
        assert_eq!(invalid_path(decode_value(&doc)), "access.admins");
        let junk = vec![json!(7); MAX_GENESIS_ADMINS];
        let doc = with_access(json!({"mode": "open", "admins": junk}));
        assert_eq!(format_path(decode_value(&doc)), "access.admins[0]");
    }

    #[test]
    fn entries_that_are_not_a_list_are_named() {
        let mut doc = base();
        doc["entries"] = json!({});
        assert_eq!(format_path(decode_value(&doc)), "entries");
    }
}
