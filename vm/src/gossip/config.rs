//! Gossip tunables, part of the chain config (`crate::chain_config`, which parses them strictly).

/// Hard cap on any batch this node sends (push, regossip, pull response): half the node's 2 MiB
/// message limit, leaving room for the envelope and for one transaction of up to the chain's
/// `max_tx_bytes` travelling alone.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// `gossipPushIntervalMs` (default 100): how long new transactions are collected into one push.
    pub push_interval_ms: u64,
    /// `gossipPushBudgetBytes` (default 256 KiB, at most 1 MiB): encoded size of one push or
    /// regossip batch.
    pub push_budget_bytes: usize,
    /// `gossipRegossipIntervalMs` (default 5000): how often, and after how long, pending
    /// transactions are pushed again.
    pub regossip_interval_ms: u64,
    /// `gossipPullIntervalMs` (default 1000): how often one random peer is asked for what this node
    /// lacks.
    pub pull_interval_ms: u64,
    /// `gossipPullResponseBudgetBytes` (default 512 KiB, at most 1 MiB): encoded size of one answer
    /// to a pull.
    pub pull_response_budget_bytes: usize,
    /// `gossipPeerMsgsPerSec` (default 100): inbound messages per second one peer may send; the
    /// burst is one second's worth.
    pub peer_msgs_per_sec: u64,
    /// `gossipPeerBytesPerSec` (default 8 MiB): inbound bytes per second one peer may send; the
    /// burst is one second's worth, and at least one 2 MiB message.
    pub peer_bytes_per_sec: u64,
    /// `gossipSeenCacheSize` (default 100,000): transaction IDs remembered as already handled.
    pub seen_cache_size: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        Self {
            push_interval_ms: 100,
            push_budget_bytes: 256 << 10,
            regossip_interval_ms: 5_000,
            pull_interval_ms: 1_000,
            pull_response_budget_bytes: 512 << 10,
            peer_msgs_per_sec: 100,
            peer_bytes_per_sec: 8 << 20,
            seen_cache_size: 100_000,
        }
    }
}
