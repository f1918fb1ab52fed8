//! The chain config: `config_bytes` from the node (`<chain-config-dir>/<chainID>/config.json`), JSON,
//! strict. Every field is optional; unknown fields and out-of-range values are refused with an error
//! naming the field, because a typo silently ignored is a limit silently not applied.

use serde::Deserialize;

use crate::gossip::config::{GossipConfig, MAX_BATCH_BYTES};
use crate::mempool::MempoolLimits;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainConfig {
    pub mempool: MempoolLimits,
    /// How many transaction IDs whose signatures verified are remembered.
    pub verified_signature_cache: usize,
    /// A tracing filter such as `info` or `kvvm=debug`.
    pub log_level: String,
    /// Minimum time between a block's timestamp and its child's build, in milliseconds.
    pub min_block_gap_ms: u64,
    /// How many refused or dropped transactions' reasons are kept for the status call.
    pub fate_log_capacity: usize,
    /// Largest JSON-RPC request body; larger ones get HTTP 413.
    pub rpc_max_request_bytes: u32,
    /// Largest JSON-RPC response of one call.
    pub rpc_max_response_bytes: u32,
    /// Most calls in one JSON-RPC batch.
    pub rpc_max_batch_len: u32,
    /// Transaction gossip (`gossip*` fields; defaults in [`GossipConfig`]).
    pub gossip: GossipConfig,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            mempool: MempoolLimits::default(),
            verified_signature_cache: 100_000,
            log_level: "info".into(),
            min_block_gap_ms: 250,
            fate_log_capacity: 100_000,
            rpc_max_request_bytes: 2 << 20,
            rpc_max_response_bytes: 8 << 20,
            rpc_max_batch_len: 100,
            gossip: GossipConfig::default(),
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
    mempool_max_future_nonces: Option<usize>,
    verified_signature_cache: Option<usize>,
    log_level: Option<String>,
    min_block_gap_ms: Option<usize>,
    fate_log_capacity: Option<usize>,
    rpc_max_request_bytes: Option<usize>,
    rpc_max_response_bytes: Option<usize>,
    rpc_max_batch_len: Option<usize>,
    gossip_push_interval_ms: Option<usize>,
    gossip_push_budget_bytes: Option<usize>,
    gossip_regossip_interval_ms: Option<usize>,
    gossip_pull_interval_ms: Option<usize>,
    gossip_pull_response_budget_bytes: Option<usize>,
    gossip_peer_msgs_per_sec: Option<usize>,
    gossip_peer_bytes_per_sec: Option<usize>,
    gossip_seen_cache_size: Option<usize>,
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
        let gossip = gossip_config(&raw)?;
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
                max_future_nonces: in_range(
                    "mempoolMaxFutureNonces",
                    raw.mempool_max_future_nonces,
                    d.mempool.max_future_nonces as usize,
                    1..=10_000,
                )? as u64,
            },
            verified_signature_cache: in_range(
                "verifiedSignatureCache",
                raw.verified_signature_cache,
                d.verified_signature_cache,
                1..=10_000_000,
            )?,
            log_level,
            min_block_gap_ms: in_range(
                "minBlockGapMs",
                raw.min_block_gap_ms,
                d.min_block_gap_ms as usize,
                0..=60_000,
            )? as u64,
            fate_log_capacity: in_range(
                "fateLogCapacity",
                raw.fate_log_capacity,
                d.fate_log_capacity,
                1..=10_000_000,
            )?,
            rpc_max_request_bytes: in_range(
                "rpcMaxRequestBytes",
                raw.rpc_max_request_bytes,
                d.rpc_max_request_bytes as usize,
                1024..=64 << 20,
            )? as u32,
            rpc_max_response_bytes: in_range(
                "rpcMaxResponseBytes",
                raw.rpc_max_response_bytes,
                d.rpc_max_response_bytes as usize,
                1024..=256 << 20,
            )? as u32,
            rpc_max_batch_len: in_range(
                "rpcMaxBatchLen",
                raw.rpc_max_batch_len,
                d.rpc_max_batch_len as usize,
                1..=10_000,
            )? as u32,
            gossip,
        })
    }
}

fn gossip_config(raw: &RawConfig) -> Result<GossipConfig, ConfigError> {
    let d = GossipConfig::default();
    Ok(GossipConfig {
        push_interval_ms: in_range(
            "gossipPushIntervalMs",
            raw.gossip_push_interval_ms,
            d.push_interval_ms as usize,
            1..=10_000,
        )? as u64,
        push_budget_bytes: in_range(
            "gossipPushBudgetBytes",
            raw.gossip_push_budget_bytes,
            d.push_budget_bytes,
            4 << 10..=MAX_BATCH_BYTES,
        )?,
        regossip_interval_ms: in_range(
            "gossipRegossipIntervalMs",
            raw.gossip_regossip_interval_ms,
            d.regossip_interval_ms as usize,
            100..=3_600_000,
        )? as u64,
        pull_interval_ms: in_range(
            "gossipPullIntervalMs",
            raw.gossip_pull_interval_ms,
            d.pull_interval_ms as usize,
            50..=3_600_000,
        )? as u64,
        pull_response_budget_bytes: in_range(
            "gossipPullResponseBudgetBytes",
            raw.gossip_pull_response_budget_bytes,
            d.pull_response_budget_bytes,
            4 << 10..=MAX_BATCH_BYTES,
        )?,
        peer_msgs_per_sec: in_range(
            "gossipPeerMsgsPerSec",
            raw.gossip_peer_msgs_per_sec,
            d.peer_msgs_per_sec as usize,
            1..=1_000_000,
        )? as u64,
        peer_bytes_per_sec: in_range(
            "gossipPeerBytesPerSec",
            raw.gossip_peer_bytes_per_sec,
            d.peer_bytes_per_sec as usize,
            64 << 10..=1 << 30,
        )? as u64,
        seen_cache_size: in_range(
            "gossipSeenCacheSize",
            raw.gossip_seen_cache_size,
            d.seen_cache_size,
            1_000..=10_000_000,
        )?,
    })
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
    fn gossip_fields_are_checked_at_their_edges() {
        let parse = |field: &str, value: u64| {
            ChainConfig::parse(format!("{{\"{field}\": {value}}}").as_bytes()).map(|c| c.gossip)
        };
        let edges: [(&str, u64, u64); 8] = [
            ("gossipPushIntervalMs", 1, 10_000),
            ("gossipPushBudgetBytes", 4 << 10, 1 << 20),
            ("gossipRegossipIntervalMs", 100, 3_600_000),
            ("gossipPullIntervalMs", 50, 3_600_000),
            ("gossipPullResponseBudgetBytes", 4 << 10, 1 << 20),
            ("gossipPeerMsgsPerSec", 1, 1_000_000),
            ("gossipPeerBytesPerSec", 64 << 10, 1 << 30),
            ("gossipSeenCacheSize", 1_000, 10_000_000),
        ];
        for (field, low, high) in edges {
            assert!(parse(field, low).is_ok(), "{field} = {low}");
            assert!(parse(field, high).is_ok(), "{field} = {high}");
            let err = parse(field, low - 1).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
            let err = parse(field, high + 1).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let g = ChainConfig::parse(
            br#"{"gossipPushIntervalMs": 20, "gossipPushBudgetBytes": 1048576,
                 "gossipPeerMsgsPerSec": 5, "gossipSeenCacheSize": 1000}"#,
        )
        .unwrap()
        .gossip;
        assert_eq!(g.push_interval_ms, 20);
        assert_eq!(g.push_budget_bytes, 1 << 20);
        assert_eq!(g.peer_msgs_per_sec, 5);
        assert_eq!(g.seen_cache_size, 1000);
        assert_eq!(g.pull_interval_ms, GossipConfig::default().pull_interval_ms);
        // A budget over the 1 MiB hard cap would let one batch approach the 2 MiB message limit.
        assert!(parse("gossipPushBudgetBytes", 2 << 20).is_err());
        assert!(ChainConfig::parse(br#"{"gossipPushIntervalMs": -1}"#).is_err());
        assert!(ChainConfig::parse(br#"{"gossipPushIntervalMs": "100"}"#).is_err());
    }

    #[test]
    fn bad_log_level_is_refused() {
        assert!(ChainConfig::parse(br#"{"logLevel": "debug"}"#).is_ok());
        let err = ChainConfig::parse(br#"{"logLevel": "[["}"#).unwrap_err();
        assert!(err.to_string().contains("logLevel"), "{err}");
    }
}
