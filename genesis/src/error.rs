//! The one error type of this crate.
//!
//! Every variant that concerns a field carries its path in the document (`limits.maxKeyBytes`,
//! `entries[3].owner`), because the person reading the error is an operator holding a JSON file,
//! not a Rust value.

/// The path used when an error concerns the document as a whole (for example, it is not an object).
pub const DOCUMENT_PATH: &str = "genesis";

/// Why a genesis document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The bytes are not UTF-8 or not well-formed JSON; `reason` includes serde_json's line and
    /// column, which point into the whole document.
    #[error("genesis is not well-formed JSON: {reason}")]
    Syntax { reason: String },

    /// The JSON is well-formed but has the wrong shape at `path`: an unknown, missing or repeated
    /// field, or a value of the wrong type. For unknown, missing and repeated fields, `path` names
    /// that field itself (`limits.bogus`).
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },

    /// The value at `path` has the right shape but breaks a rule (a range, a length, an encoding).
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },

    /// Two entries decode to the same key bytes; the store has one value per key, so which one
    /// should win would be a guess.
    #[error("entries[{second}].key: same key as entries[{first}].key")]
    DuplicateKey { first: usize, second: usize },
}

impl GenesisError {
    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        GenesisError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Wraps a serde_json error raised while decoding the fragment at `path`.
    ///
    /// Only the whole document can be malformed JSON: fragments were already checked as part of
    /// it, so a "syntax" error inside one is serde_json's way of reporting a type mismatch.
    ///
    /// serde's messages for unknown, missing and duplicate fields name the field but not where it
    /// sits, so the field is appended to `path`; the line and column are dropped because they
    /// count from the start of the fragment, not of the document, and would mislead.
    pub(crate) fn from_serde(path: &str, err: &serde_json::Error) -> Self {
        let full = err.to_string();
        if path == DOCUMENT_PATH && (err.is_syntax() || err.is_eof() || err.is_io()) {
            return GenesisError::Syntax { reason: full };
        }
        let reason = if err.line() == 0 {
            full
        } else {
            let position = format!(" at line {} column {}", err.line(), err.column());
            full.strip_suffix(&position).unwrap_or(&full).to_owned()
        };
        let path = match named_field(&reason) {
            Some(field) => child_path(path, field),
            None => path.to_owned(),
        };
        GenesisError::Format { path, reason }
    }
}

/// The field named by serde's "unknown field `x`", "missing field `x`" or "duplicate field `x`"
/// messages (serde's stable wording for these three cases).
fn named_field(reason: &str) -> Option<&str> {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| reason.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field)
}

pub(crate) fn child_path(parent: &str, field: &str) -> String {
    if parent == DOCUMENT_PATH {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}
