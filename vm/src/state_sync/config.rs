//! State sync tunables, part of the chain config (`crate::chain_config` declares their defaults and
//! ranges and parses them strictly).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSyncConfig {
    /// `stateSyncEnabled`: a node whose chain is at genesis (or mid-sync) may join by state sync.
    pub enabled: bool,
    /// `stateSyncWhenBehind`: a node with history may state sync too, when far enough behind.
    pub when_behind: bool,
    /// `stateSummaryInterval`: a summary is taken at every height that is a multiple of this.
    pub summary_interval: u64,
    /// `stateSummariesKept`: how many of the newest summaries (and their snapshots) are served.
    pub summaries_kept: usize,
    /// `stateSyncMinBlocks`: a summary less than this many blocks above the last accepted block
    /// is skipped; bootstrapping those blocks is cheaper than a sync.
    pub min_blocks: u64,
    /// `stateSyncChunkBytes`: records per answer to a bucket request, in encoded bytes.
    pub chunk_bytes: usize,
    /// `stateSyncPeerRequestsPerSec`: state sync requests per second one peer may have answered.
    pub peer_requests_per_sec: u64,
    /// `stateSyncPeerBytesPerSec`: bytes of state sync answers per second one peer may take.
    pub peer_bytes_per_sec: u64,
}
