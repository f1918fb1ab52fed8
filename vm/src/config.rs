//! The chain config: `config_bytes` from the node (`<chain-config-dir>/<chainID>/config.json`), JSON,
//! strict. Every field is optional; unknown fields and out-of-range values are refused with an error
//! naming the field, because a typo silently ignored is a limit silently not applied.

use serde::Deserialize;

use crate::mempool::MempoolLimits;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainConfig {
    pub mempool: MempoolLimits,
    /// How many transaction IDs whose signatures verified are remembered.
    pub verified_signature_cache: usize,
    /// A tracing filter such as `info` or `kvvm=debug`.
    pub log_level: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            mempool: MempoolLimits::default(),
            verified_signature_cache: 100_000,
            log_level: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid JSON for kvvm: {0}")]
    Json(String),
    #[error("config field {field}: {reason}")]
    Field { field: &'static str, reason: String },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    mempool_max_txs: Option<usize>,
    mempool_max_bytes: Option<usize>,
    mempool_max_txs_per_sender: Option<usize>,
    verified_signature_cache: Option<usize>,
    log_level: Option<String>,
}

fn in_range(
    field: &'static str,
    value: Option<usize>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let value = value.unwrap_or(default);
    if !range.contains(&value) {
        return Err(ConfigError::Field {
            field,
            reason: format!("{value} is outside {}..={}", range.start(), range.end()),
        });
    }
    Ok(value)
}

impl ChainConfig {
    /// Empty bytes (no config file) give the defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: RawConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
            RawConfig::default()
        } else {
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?
        };
        let d = ChainConfig::default();
        let log_level = raw.log_level.unwrap_or(d.log_level);
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::Field {
                field: "logLevel",
                reason: format!("{log_level:?} is not a log filter (try \"info\" or \"debug\")"),
            });
        }
        Ok(Self {
            mempool: MempoolLimits {
                max_txs: in_range(
                    "mempoolMaxTxs",
                    raw.mempool_max_txs,
                    d.mempool.max_txs,
                    1..=1_000_000,
                )?,
                max_bytes: in_range(
                    "mempoolMaxBytes",
                    raw.mempool_max_bytes,
                    d.mempool.max_bytes,
                    1 << 16..=4 << 30,
                )?,
                max_txs_per_sender: in_range(
                    "mempoolMaxTxsPerSender",
                    raw.mempool_max_txs_per_sender,
                    d.mempool.max_txs_per_sender,
                    1..=100_000,
                )?,
            },
            verified_signature_cache: in_range(
                "verifiedSignatureCache",
                raw.verified_signature_cache,
                d.verified_signature_cache,
                1..=10_000_000,
            )?,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_defaults() {
        assert_eq!(ChainConfig::parse(b"").unwrap(), ChainConfig::default());
        assert_eq!(ChainConfig::parse(b" \n").unwrap(), ChainConfig::default());
        assert_eq!(ChainConfig::parse(b"{}").unwrap(), ChainConfig::default());
    }

    #[test]
    fn unknown_field_is_named() {
        let err = ChainConfig::parse(br#"{"mempoolMaxTx": 5}"#).unwrap_err();
        assert!(err.to_string().contains("mempoolMaxTx"), "{err}");
    }

    #[test]
    fn limits_are_checked_at_their_edges() {
        assert_eq!(
            ChainConfig::parse(br#"{"mempoolMaxTxs": 1}"#)
                .unwrap()
                .mempool
                .max_txs,
            1
        );
        let err = ChainConfig::parse(br#"{"mempoolMaxTxs": 0}"#).unwrap_err();
        assert!(err.to_string().contains("mempoolMaxTxs"), "{err}");
        assert!(ChainConfig::parse(br#"{"mempoolMaxTxs": 1000001}"#).is_err());
    }

    #[test]
    fn bad_log_level_is_refused() {
        assert!(ChainConfig::parse(br#"{"logLevel": "debug"}"#).is_ok());
        let err = ChainConfig::parse(br#"{"logLevel": "[["}"#).unwrap_err();
        assert!(err.to_string().contains("logLevel"), "{err}");
    }
}
