//! Gossip tunables, part of the chain config (`crate::chain_config`, which declares their defaults
//! and ranges and parses them strictly).

/// Hard cap on any batch this node sends (push, regossip, pull response): half the node's 2 MiB
/// message limit, leaving room for the envelope and for one transaction of up to the chain's
/// `max_tx_bytes` travelling alone.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipConfig {
    /// `gossipPushIntervalMs`: how long new transactions are collected into one push.
    pub push_interval_ms: u64,
    /// `gossipPushBudgetBytes`: encoded size of one push or regossip batch.
    pub push_budget_bytes: usize,
    /// `gossipRegossipIntervalMs`: how often, and after how long, pending transactions are pushed
    /// again.
    pub regossip_interval_ms: u64,
    /// `gossipPullIntervalMs`: how often one random peer is asked for what this node lacks.
    pub pull_interval_ms: u64,
    /// `gossipPullResponseBudgetBytes`: encoded size of one answer to a pull.
    pub pull_response_budget_bytes: usize,
    /// `gossipPeerMsgsPerSec`: inbound messages per second one peer may send; the burst is one
    /// second's worth.
    pub peer_msgs_per_sec: u64,
    /// `gossipPeerBytesPerSec`: inbound bytes per second one peer may send; the burst is one
    /// second's worth, and at least one 2 MiB message.
    pub peer_bytes_per_sec: u64,
    /// `gossipPeerPullsPerSec`: inbound pull requests per second one peer may have answered; the
    /// burst is one second's worth.
    pub peer_pulls_per_sec: u64,
    /// `gossipPeerOutBytesPerSec`: bytes per second this node's gossip (push, regossip and pull
    /// answers together) may send one peer.
    pub peer_out_bytes_per_sec: u64,
    /// `gossipPullBackoffMaxMs`: the longest a peer whose pulls keep failing waits to be asked again.
    pub pull_backoff_max_ms: u64,
    /// `gossipSeenCacheSize`: transaction IDs remembered as already handled.
    pub seen_cache_size: usize,
}
