//! The VM's metrics, served to the node through `Gather`.
//!
//! The node prefixes every family with `avalanche_<VMID>_` and adds a `chain` label itself, so no
//! family here may carry a `chain` label (a duplicate label breaks the node's whole metrics endpoint).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

pub struct Metrics {
    registry: Registry,
    pub blocks_accepted: IntCounter,
    pub blocks_rejected: IntCounter,
    pub txs_accepted: IntCounter,
    pub txs_rejected: IntCounter,
    pub block_verify_seconds: Histogram,
    pub block_accept_seconds: Histogram,
    pub processing_blocks: IntGauge,
    pub signature_checks: IntCounter,
    pub mempool_txs: IntGauge,
    pub mempool_waiting_txs: IntGauge,
    pub db_size_bytes: IntGauge,
    pub db_memory_bytes: IntGauge,
    pub last_accepted_height: IntGauge,
    pub oldest_block_height: IntGauge,
    pub gossip_messages_received: IntCounter,
    pub gossip_messages_sent: IntCounter,
    pub gossip_txs_received: IntCounter,
    pub gossip_txs_admitted: IntCounter,
    pub gossip_txs_seen_skipped: IntCounter,
    pub gossip_txs_sent: IntCounter,
    pub gossip_dropped_messages: IntCounter,
    pub gossip_throttled_messages: IntCounter,
    pub gossip_send_errors: IntCounter,
    pub gossip_budget_deferred: IntCounter,
    pub gossip_pull_failures: IntCounter,
    pub state_summary_height: IntGauge,
    pub state_sync_requests_served: IntCounter,
    pub state_sync_buckets_fetched: IntCounter,
    pub state_sync_bad_buckets: IntCounter,
}

/// Latency buckets from 100 µs to ~3 s: verify and accept of a full block sit in the middle.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.0001, 2.5, 12).expect("static bucket parameters are valid")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("static metric names are valid");
            registry
                .register(Box::new(c.clone()))
                .expect("each metric is registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("static metric names are valid");
            registry
                .register(Box::new(g.clone()))
                .expect("each metric is registered once");
            g
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(latency_buckets()))
                .expect("static metric names are valid");
            registry
                .register(Box::new(h.clone()))
                .expect("each metric is registered once");
            h
        };
        Self {
            blocks_accepted: counter("blocks_accepted_total", "Blocks accepted"),
            blocks_rejected: counter("blocks_rejected_total", "Blocks rejected"),
            txs_accepted: counter("txs_accepted_total", "Transactions in accepted blocks"),
            txs_rejected: counter("txs_rejected_total", "Transactions in rejected blocks"),
            block_verify_seconds: histogram(
                "block_verify_seconds",
                "Time to verify a block, including its transactions",
            ),
            block_accept_seconds: histogram(
                "block_accept_seconds",
                "Time to accept a block, including the synced disk write",
            ),
            processing_blocks: gauge("processing_blocks", "Verified blocks awaiting a decision"),
            signature_checks: counter(
                "signature_checks_total",
                "ed25519 signature checks run (a verdict remembered is not counted again)",
            ),
            mempool_txs: gauge("mempool_txs", "Transactions in the mempool"),
            mempool_waiting_txs: gauge(
                "mempool_waiting_txs",
                "Transactions in the mempool behind a nonce gap (never build candidates)",
            ),
            db_size_bytes: gauge(
                "db_size_bytes",
                "Approximate size of the chain database on disk",
            ),
            db_memory_bytes: gauge(
                "db_memory_bytes",
                "Memory RocksDB holds for the chain database: memtables, block cache, table readers",
            ),
            last_accepted_height: gauge(
                "last_accepted_height",
                "Height of the last accepted block",
            ),
            oldest_block_height: gauge(
                "oldest_block_height",
                "Lowest height above genesis whose block this node keeps (keepBlocks prunes below it)",
            ),
            gossip_messages_received: counter(
                "gossip_messages_received_total",
                "App messages (gossip, pull requests, pull responses) received from peers",
            ),
            gossip_messages_sent: counter(
                "gossip_messages_sent_total",
                "App messages (pushes, pull requests, pull responses) handed to the node",
            ),
            gossip_txs_received: counter(
                "gossip_txs_received_total",
                "Transactions received in pushes and pull responses",
            ),
            gossip_txs_admitted: counter(
                "gossip_txs_admitted_total",
                "Transactions received from peers that entered the mempool",
            ),
            gossip_txs_seen_skipped: counter(
                "gossip_txs_seen_skipped_total",
                "Received transactions skipped because they were already handled",
            ),
            gossip_txs_sent: counter(
                "gossip_txs_sent_total",
                "Transactions sent in pushes, regossip and pull responses",
            ),
            gossip_dropped_messages: counter(
                "gossip_dropped_messages_total",
                "Inbound app messages dropped unread: throttled, oversized, malformed, foreign or unsolicited",
            ),
            gossip_throttled_messages: counter(
                "gossip_throttled_messages_total",
                "Inbound app messages dropped by per-peer throttling, and pull requests over a peer's rate answered empty",
            ),
            gossip_send_errors: counter(
                "gossip_send_errors_total",
                "App messages the node's AppSender did not take",
            ),
            gossip_budget_deferred: counter(
                "gossip_budget_deferred_total",
                "Pushes not sent to a peer, and pull answers cut short, because gossip spent that peer's outbound budget",
            ),
            gossip_pull_failures: counter(
                "gossip_pull_failures_total",
                "Pull requests the node reported failed (timed out, peer gone); each makes that peer back off",
            ),
            state_summary_height: gauge(
                "state_summary_height",
                "Height of the newest state summary this node serves (0: only genesis's)",
            ),
            state_sync_requests_served: counter(
                "state_sync_requests_served_total",
                "State sync requests from peers answered with records or a block",
            ),
            state_sync_buckets_fetched: counter(
                "state_sync_buckets_fetched_total",
                "State buckets this node fetched, checked and kept while syncing",
            ),
            state_sync_bad_buckets: counter(
                "state_sync_bad_buckets_total",
                "State buckets a peer served that broke the summary's rules; each was fetched again elsewhere",
            ),
            registry,
        }
    }

    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_unique_and_carry_no_chain_label() {
        let metrics = Metrics::new();
        metrics.block_verify_seconds.observe(0.01);
        let families = metrics.gather();
        let mut names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(names.contains(&"blocks_accepted_total"));
        assert!(names.contains(&"block_verify_seconds"));
        for family in &families {
            for metric in family.get_metric() {
                assert!(metric.get_label().iter().all(|l| l.name() != "chain"));
            }
        }
    }
}
