//! The JSON encodings of bytes used throughout the API, and the error codes.
//!
//! Three byte encodings, each for a different kind of value:
//!
//! | type         | JSON form                                   | used for                          |
//! |--------------|---------------------------------------------|-----------------------------------|
//! | [`Hex32`]    | 64 hex chars, no prefix on output           | ids, hashes, accounts             |
//! | [`HexBytes`] | `0x` + hex                                  | opaque binary (transactions)      |
//! | [`KvBytes`]  | UTF-8 text, or `0x` + hex when not printable | keys and values of the store      |

use std::fmt;
use std::str::FromStr;

use jsonrpsee::types::ErrorObjectOwned;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string could not be decoded into one of the byte encodings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A [`Hex32`] that is not exactly 64 hex characters long.
    #[error("expected 32 bytes as 64 hex characters (optional 0x prefix), got {0} characters")]
    WrongLength(usize),
    /// An odd number of hex digits: bytes need two digits each.
    #[error("odd number of hex digits ({0}); every byte needs two")]
    OddLength(usize),
    /// A character outside `0-9a-fA-F` in a hex string.
    #[error("invalid hex character {0:?} at position {1}")]
    InvalidChar(char, usize),
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Decodes hex digits (no prefix), turning `hex`'s errors into ours.
fn decode_hex(digits: &str) -> Result<Vec<u8>, DecodeError> {
    hex::decode(digits).map_err(|e| match e {
        hex::FromHexError::OddLength => DecodeError::OddLength(digits.len()),
        hex::FromHexError::InvalidHexCharacter { c, index } => DecodeError::InvalidChar(c, index),
        hex::FromHexError::InvalidStringLength => DecodeError::OddLength(digits.len()),
    })
}

/// Visits a JSON string and decodes it with `FromStr`, so every string type
/// here gets the same "expected a string" message for non-strings.
struct StrVisitor<T>(&'static str, std::marker::PhantomData<T>);

impl<T> Visitor<'_> for StrVisitor<T>
where
    T: FromStr<Err = DecodeError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// Exactly 32 bytes: transaction and block ids, state roots, accounts.
///
/// JSON: 64 lower-case hex characters without prefix. Input also accepts a
/// `0x`/`0X` prefix and upper-case digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hex32(pub [u8; 32]);

impl Hex32 {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Hex32 {
    fn from(b: [u8; 32]) -> Self {
        Self(b)
    }
}

impl From<Hex32> for [u8; 32] {
    fn from(h: Hex32) -> Self {
        h.0
    }
}

impl fmt::Display for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex32({self})")
    }
}

impl FromStr for Hex32 {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, DecodeError> {
        let digits = strip_0x(s);
        if digits.len() != 64 {
            return Err(DecodeError::WrongLength(digits.len()));
        }
        let bytes = decode_hex(digits)?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        Ok(Self(out))
    }
}

impl Serialize for Hex32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Hex32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(
            "32 bytes as a string of 64 hex characters",
            std::marker::PhantomData,
        ))
    }
}

/// Opaque binary of any length, such as a serialized transaction.
///
/// JSON: `0x` followed by lower-case hex (`"0x"` is empty). Input accepts the
/// digits with or without the `0x`/`0X` prefix, in either case; an odd number
/// of digits is an error.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HexBytes(pub Vec<u8>);

impl From<Vec<u8>> for HexBytes {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl From<HexBytes> for Vec<u8> {
    fn from(h: HexBytes) -> Self {
        h.0
    }
}

impl AsRef<[u8]> for HexBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0))
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({self})")
    }
}

impl FromStr for HexBytes {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, DecodeError> {
        decode_hex(strip_0x(s)).map(Self)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(
            "bytes as a hex string (optional 0x prefix)",
            std::marker::PhantomData,
        ))
    }
}

/// A key or value of the store: binary-safe, yet plain text when it is text.
///
/// JSON input: a string; if it starts with `0x` (lower-case x) the rest is hex
/// (`"0x"` alone is empty, an odd digit count is an error), otherwise the
/// string's UTF-8 bytes are the value. So `"greeting"` is the 8-byte key
/// `greeting` and `"0x00ff"` is the two bytes `00 ff`.
///
/// JSON output: the text itself when the bytes are valid UTF-8, contain no
/// control characters and do not start with `0x`; otherwise `0x` + hex. Output
/// therefore always parses back to the same bytes (text that begins with `0x`
/// is written in hex so it is not mistaken for hex).
///
/// [`FromStr`] and [`Display`](fmt::Display) are these same two conventions
/// without the JSON quotes, so a command line or a terminal shows a key exactly
/// as the API does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KvBytes(pub Vec<u8>);

impl KvBytes {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, when [`KvBytes`] would print them as text.
    fn as_text(&self) -> Option<&str> {
        let text = std::str::from_utf8(&self.0).ok()?;
        let printable = !text.starts_with("0x") && !text.chars().any(char::is_control);
        printable.then_some(text)
    }
}

impl From<Vec<u8>> for KvBytes {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl From<&[u8]> for KvBytes {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

impl From<&str> for KvBytes {
    /// The UTF-8 bytes of `s`, taken literally (no `0x` interpretation).
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl From<KvBytes> for Vec<u8> {
    fn from(k: KvBytes) -> Self {
        k.0
    }
}

impl AsRef<[u8]> for KvBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KvBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(text) => f.write_str(text),
            None => write!(f, "0x{}", hex::encode(&self.0)),
        }
    }
}

impl fmt::Debug for KvBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KvBytes({:?})", self.to_string())
    }
}

impl FromStr for KvBytes {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, DecodeError> {
        match s.strip_prefix("0x") {
            Some(digits) => decode_hex(digits).map(Self),
            None => Ok(Self(s.as_bytes().to_vec())),
        }
    }
}

impl Serialize for KvBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KvBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor(
            "a key or value: UTF-8 text, or 0x followed by hex",
            std::marker::PhantomData,
        ))
    }
}

/// Stable JSON-RPC error codes of the kvvm API.
///
/// Application codes live in 1001..; the negative ones are JSON-RPC's own.
/// These numbers are part of the wire contract: never renumber, only add.
///
/// | code   | name             | meaning                                                     |
/// |--------|------------------|-------------------------------------------------------------|
/// | 1001   | `MALFORMED_TX`   | transaction bytes do not decode                             |
/// | 1002   | `BAD_SIGNATURE`  | signature does not verify for the sender                    |
/// | 1003   | `WRONG_CHAIN`    | transaction is bound to another chain                       |
/// | 1004   | `LIMIT_EXCEEDED` | a key, value, op count or size limit is exceeded            |
/// | 1005   | `NONCE_TOO_LOW`  | nonce already used (replay)                                 |
/// | 1006   | `NONCE_TOO_HIGH` | nonce beyond the accepted future window                     |
/// | 1007   | `NOT_OWNER`      | key is owned by another account                             |
/// | 1008   | `MISSING_KEY`    | delete of a key that does not exist                         |
/// | 1009   | `MEMPOOL_FULL`   | mempool cannot take more transactions now                   |
/// | 1010   | `ALREADY_KNOWN`  | transaction is already pending or accepted                  |
/// | 1011   | `NOT_READY`      | chain is not serving yet (bootstrapping)                    |
/// | 1012   | `BUSY`           | too many JSON-RPC calls running or waiting; retry later     |
/// | 1013   | `NOT_ALLOWED`    | the sender's role does not allow this (restricted chain, role or quota change) |
/// | 1014   | `QUOTA_EXCEEDED` | the sender's keys or bytes would grow past its storage quota |
/// | -32008 | `RESPONSE_TOO_BIG` | the answer would exceed the response limit                |
/// | -32602 | `INVALID_PARAMS` | parameters do not decode (jsonrpsee uses it for bad params) |
/// | -32603 | `INTERNAL`       | unexpected server-side failure                              |
pub mod codes {
    /// Transaction bytes do not decode.
    pub const MALFORMED_TX: i32 = 1001;
    /// Signature does not verify for the sender.
    pub const BAD_SIGNATURE: i32 = 1002;
    /// Transaction is bound to another chain.
    pub const WRONG_CHAIN: i32 = 1003;
    /// A key, value, op-count or size limit is exceeded.
    pub const LIMIT_EXCEEDED: i32 = 1004;
    /// Nonce already used (replay).
    pub const NONCE_TOO_LOW: i32 = 1005;
    /// Nonce beyond the accepted future window.
    pub const NONCE_TOO_HIGH: i32 = 1006;
    /// Key is owned by another account.
    pub const NOT_OWNER: i32 = 1007;
    /// Delete of a key that does not exist.
    pub const MISSING_KEY: i32 = 1008;
    /// Mempool cannot take more transactions now.
    pub const MEMPOOL_FULL: i32 = 1009;
    /// Transaction is already pending or accepted.
    pub const ALREADY_KNOWN: i32 = 1010;
    /// Chain is not serving yet.
    pub const NOT_READY: i32 = 1011;
    /// Too many JSON-RPC calls are running or waiting; retry later.
    pub const BUSY: i32 = 1012;
    /// The sender may not do this: no role on a restricted chain, or a role or quota change its
    /// role does not allow.
    pub const NOT_ALLOWED: i32 = 1013;
    /// The transaction would grow the sender's stored keys or bytes past its quota.
    pub const QUOTA_EXCEEDED: i32 = 1014;
    /// The block was accepted, but this node pruned its body (`keepBlocks`); another node may
    /// still serve it.
    pub const PRUNED: i32 = 1015;
    /// The answer would exceed the response limit (jsonrpsee's code for an oversized response).
    pub const RESPONSE_TOO_BIG: i32 = jsonrpsee::types::error::OVERSIZED_RESPONSE_CODE;
    /// Parameters do not decode (JSON-RPC's code, also used by jsonrpsee).
    pub const INVALID_PARAMS: i32 = jsonrpsee::types::error::INVALID_PARAMS_CODE;
    /// Unexpected server-side failure (JSON-RPC's code).
    pub const INTERNAL: i32 = jsonrpsee::types::error::INTERNAL_ERROR_CODE;
}

/// A JSON-RPC error object with one of [`codes`] and a human-readable message.
pub fn rpc_error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(s: &str) -> KvBytes {
        serde_json::from_value(json!(s)).unwrap()
    }

    fn kv_out(b: &[u8]) -> String {
        serde_json::to_value(KvBytes(b.to_vec()))
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn hex32_outputs_lowercase_without_prefix() {
        let h = Hex32([0xAB; 32]);
        assert_eq!(serde_json::to_value(h).unwrap(), json!("ab".repeat(32)));
    }

    #[test]
    fn hex32_accepts_prefix_and_upper_case() {
        let upper = format!("0x{}", "AB".repeat(32));
        let h: Hex32 = serde_json::from_value(json!(upper)).unwrap();
        assert_eq!(h, Hex32([0xab; 32]));
        let big_x: Hex32 = format!("0X{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(big_x, h);
    }

    #[test]
    fn hex32_rejects_wrong_length_with_clear_message() {
        let err = serde_json::from_value::<Hex32>(json!("abcd")).unwrap_err();
        assert!(err.to_string().contains("64 hex characters"), "{err}");
        assert!(err.to_string().contains("got 4"), "{err}");
    }

    #[test]
    fn hex32_rejects_non_hex_and_non_string() {
        let bad = format!("{}zz", "a".repeat(62));
        let err = serde_json::from_value::<Hex32>(json!(bad)).unwrap_err();
        assert!(err.to_string().contains("invalid hex character"), "{err}");
        let err = serde_json::from_value::<Hex32>(json!(7)).unwrap_err();
        assert!(err.to_string().contains("64 hex characters"), "{err}");
    }

    #[test]
    fn hex_bytes_outputs_with_prefix_and_accepts_without() {
        let b = HexBytes(vec![0, 1, 0xfe]);
        assert_eq!(serde_json::to_value(&b).unwrap(), json!("0x0001fe"));
        let back: HexBytes = serde_json::from_value(json!("0001FE")).unwrap();
        assert_eq!(back, b);
        let empty: HexBytes = serde_json::from_value(json!("0x")).unwrap();
        assert!(empty.0.is_empty());
        assert_eq!(serde_json::to_value(&empty).unwrap(), json!("0x"));
    }

    #[test]
    fn hex_bytes_rejects_odd_length() {
        let err = serde_json::from_value::<HexBytes>(json!("0xabc")).unwrap_err();
        assert!(
            err.to_string().contains("odd number of hex digits"),
            "{err}"
        );
    }

    #[test]
    fn kv_text_is_taken_literally() {
        assert_eq!(kv("greeting").0, b"greeting");
        assert_eq!(kv_out(b"greeting"), "greeting");
    }

    #[test]
    fn kv_hex_prefix_decodes_bytes() {
        assert_eq!(kv("0x00ff").0, vec![0x00, 0xff]);
        assert_eq!(kv("0x00FF").0, vec![0x00, 0xff]);
        assert_eq!(kv_out(&[0x00, 0xff]), "0x00ff");
    }

    #[test]
    fn kv_empty_string_and_bare_prefix_are_empty_bytes() {
        assert!(kv("").0.is_empty());
        assert!(kv("0x").0.is_empty());
        assert_eq!(kv_out(b""), "");
    }

    #[test]
    fn kv_odd_hex_length_is_an_error() {
        let err = serde_json::from_value::<KvBytes>(json!("0xabc")).unwrap_err();
        assert!(
            err.to_string().contains("odd number of hex digits"),
            "{err}"
        );
        let err = serde_json::from_value::<KvBytes>(json!("0xzz")).unwrap_err();
        assert!(err.to_string().contains("invalid hex character"), "{err}");
    }

    #[test]
    fn kv_text_starting_with_0x_round_trips_through_hex() {
        let literal = KvBytes::from("0xcafe");
        let out = kv_out(literal.as_bytes());
        assert_eq!(out, format!("0x{}", hex::encode("0xcafe")));
        assert_eq!(kv(&out), literal);
    }

    #[test]
    fn kv_upper_case_prefix_is_text() {
        assert_eq!(kv("0Xab").0, b"0Xab");
        assert_eq!(kv_out(b"0Xab"), "0Xab");
    }

    #[test]
    fn kv_control_chars_and_invalid_utf8_print_as_hex() {
        assert_eq!(kv_out(b"a\nb"), "0x610a62");
        assert_eq!(kv_out(b"\x7f"), "0x7f");
        assert_eq!(kv_out("\u{85}".as_bytes()), "0xc285");
        assert_eq!(kv_out(&[0xff, 0xfe]), "0xfffe");
        for b in [&b"a\nb"[..], b"\x7f", &[0xff, 0xfe]] {
            assert_eq!(kv(&kv_out(b)).0, b);
        }
    }

    #[test]
    fn kv_non_ascii_text_stays_text() {
        assert_eq!(kv_out("héllo wörld ✓".as_bytes()), "héllo wörld ✓");
        assert_eq!(kv("héllo").0, "héllo".as_bytes());
    }

    #[test]
    fn kv_display_parses_back_to_the_same_bytes() {
        let samples: [&[u8]; 9] = [
            b"",
            b"greeting",
            "héllo ✓".as_bytes(),
            b"0xcafe",
            b"0x",
            b"a\nb",
            b"\x7f",
            &[0xff, 0x00, 0xfe],
            b"with space and = sign",
        ];
        for bytes in samples {
            let shown = KvBytes::from(bytes).to_string();
            let back: KvBytes = shown.parse().unwrap();
            assert_eq!(back.as_bytes(), bytes, "{shown:?}");
        }
    }

    #[test]
    fn kv_display_is_text_unless_hex_is_needed() {
        assert_eq!(KvBytes::from("greeting").to_string(), "greeting");
        assert_eq!(KvBytes::from("").to_string(), "");
        assert_eq!(KvBytes(vec![0, 0xff]).to_string(), "0x00ff");
        assert_eq!(KvBytes::from("0x").to_string(), "0x3078");
        assert_eq!(KvBytes::from("tab\there").to_string(), "0x7461620968657265");
    }

    #[test]
    fn kv_from_str_hex_edge_cases() {
        let parse = |s: &str| s.parse::<KvBytes>().map(|k| k.0);
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("0x"), Ok(vec![]));
        assert_eq!(parse("0x00"), Ok(vec![0]));
        assert_eq!(parse("0xABcd"), Ok(vec![0xab, 0xcd]));
        // Only a lower-case `0x` announces hex: anything else is the text itself.
        assert_eq!(parse("0X00"), Ok(b"0X00".to_vec()));
        assert_eq!(parse(" 0x00"), Ok(b" 0x00".to_vec()));
        assert_eq!(parse("00ff"), Ok(b"00ff".to_vec()));
    }

    #[test]
    fn kv_from_str_refuses_invalid_hex_saying_why() {
        let parse = |s: &str| s.parse::<KvBytes>();
        assert_eq!(parse("0x0"), Err(DecodeError::OddLength(1)));
        assert_eq!(parse("0xabc"), Err(DecodeError::OddLength(3)));
        assert_eq!(parse("0xzz"), Err(DecodeError::InvalidChar('z', 0)));
        assert_eq!(parse("0x00g0"), Err(DecodeError::InvalidChar('g', 2)));
        let err = parse("0x0").unwrap_err().to_string();
        assert!(err.contains("odd number of hex digits"), "{err}");
    }

    #[test]
    fn rpc_error_carries_code_and_message() {
        let e = rpc_error(codes::NOT_OWNER, "key owned by someone else");
        assert_eq!(e.code(), 1007);
        assert_eq!(e.message(), "key owned by someone else");
        assert!(e.data().is_none());
        assert_eq!(codes::INVALID_PARAMS, -32602);
        assert_eq!(codes::INTERNAL, -32603);
    }
}
