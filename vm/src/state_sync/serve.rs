//! The serving side: a snapshot at every `stateSummaryInterval`-th accepted height, its summary
//! computed in the background, the newest `stateSummariesKept` kept, and answers to peers' bucket
//! and block requests from them.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use kvvm_storage::{ChainStore, SnapshotReader, Snapshots, StateSummary, StorageError};
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::gossip::throttle::Throttle;
use crate::metrics::Metrics;
use crate::state_sync::config::StateSyncConfig;
use crate::state_sync::wire::{self, SyncRequest, SyncResponse};

/// Largest bucket answer, whatever a peer asks: half the node's 2 MiB message limit leaves room
/// for a last record of up to the chain's largest value.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;

/// Answers read from snapshots at once; beyond, peers are told `Busy`. Two cores here: more would
/// only queue on the disk and take threads from the node's calls.
const MAX_ANSWERS_AT_ONCE: usize = 4;

/// A peer's request once taken: to be served on a blocking thread (holding one of the
/// [`MAX_ANSWERS_AT_ONCE`] permits), or answered at once.
pub enum Intake {
    Serve(SyncRequest, OwnedSemaphorePermit),
    Answer(Vec<u8>),
}

pub struct SummaryServer {
    snapshots: Snapshots,
    config: StateSyncConfig,
    /// Per peer: requests, and answer bytes (each request charged its largest answer up front).
    requests: Throttle,
    /// The snapshot last read for a peer: peers syncing ask about the same height many times.
    reader: Mutex<Option<Arc<SnapshotReader>>>,
    /// One summarization at a time; it is a full scan of a snapshot.
    summarizing: Mutex<()>,
    /// Answers being read from snapshots now, over all peers: each holds a blocking thread.
    answering: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl SummaryServer {
    pub fn open(
        dir: &Path,
        config: StateSyncConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StorageError> {
        let server = Self {
            snapshots: Snapshots::open(dir)?,
            requests: Throttle::new(config.peer_requests_per_sec, config.peer_bytes_per_sec),
            config,
            reader: Mutex::new(None),
            summarizing: Mutex::new(()),
            answering: Arc::new(Semaphore::new(MAX_ANSWERS_AT_ONCE)),
            metrics,
        };
        server.count_summary()?;
        Ok(server)
    }

    fn count_summary(&self) -> Result<(), StorageError> {
        let newest = self.snapshots.summarized()?.last().copied().unwrap_or(0);
        self.metrics.state_summary_height.set(newest as i64);
        Ok(())
    }

    /// Whether the block just accepted at `height` is a summary height.
    pub fn is_summary_height(&self, height: u64) -> bool {
        height > 0 && height.is_multiple_of(self.config.summary_interval)
    }

    /// Snapshots `store` at its last accepted height. Called with the chain lock held, right after
    /// the accept, so no other block lands first.
    pub fn take_snapshot(&self, store: &ChainStore) -> Result<u64, StorageError> {
        self.snapshots.take(store)
    }

    /// Summarizes every snapshot that has no summary yet, then deletes the old ones. Blocking: a
    /// full scan of each snapshot.
    pub fn summarize_pending(&self) -> Result<(), StorageError> {
        let _one_at_a_time = self.summarizing.lock();
        for height in self.snapshots.unsummarized()? {
            let started = Instant::now();
            let summary = self.snapshots.summarize(height)?;
            tracing::info!(
                height,
                records = summary.records(),
                ms = started.elapsed().as_millis() as u64,
                "state summary ready to serve"
            );
        }
        self.count_summary()?;
        let deleted = self.snapshots.retain_newest(self.config.summaries_kept)?;
        if !deleted.is_empty() {
            let mut reader = self.reader.lock();
            if reader
                .as_ref()
                .is_some_and(|r| deleted.contains(&r.summary().height))
            {
                *reader = None;
            }
            tracing::info!(?deleted, "old state snapshots deleted");
        }
        Ok(())
    }

    /// The newest summary served, if any.
    pub fn last_summary(&self) -> Result<Option<StateSummary>, StorageError> {
        match self.snapshots.summarized()?.last() {
            Some(&height) => self.snapshots.summary(height),
            None => Ok(None),
        }
    }

    /// The summary at exactly `height`, if it is served.
    pub fn summary_at(&self, height: u64) -> Result<Option<StateSummary>, StorageError> {
        self.snapshots.summary(height)
    }

    fn reader(&self, height: u64) -> Result<Option<Arc<SnapshotReader>>, StorageError> {
        let mut cached = self.reader.lock();
        if let Some(reader) = cached.as_ref().filter(|r| r.summary().height == height) {
            return Ok(Some(reader.clone()));
        }
        let Some(reader) = self.snapshots.reader(height)? else {
            return Ok(None);
        };
        let reader = Arc::new(reader);
        *cached = Some(reader.clone());
        Ok(Some(reader))
    }

    /// Takes a peer's request on the async side, before any disk work: a malformed one is
    /// answered `Unavailable` at once, one over the peer's request or byte rate or beyond the
    /// answers being read now `Busy` (the asker waits and asks again). Never an error.
    pub fn take(&self, from: &[u8], payload: &[u8]) -> Intake {
        let refusal = match wire::decode_request(payload) {
            Err(e) => {
                tracing::debug!(peer = %hex::encode(from), error = %e, "bad state sync request");
                SyncResponse::Unavailable
            }
            Ok(request)
                if !self
                    .requests
                    .allow(from, self.largest_answer(&request), Instant::now()) =>
            {
                tracing::debug!(peer = %hex::encode(from), "state sync request over the peer's rate");
                SyncResponse::Busy
            }
            Ok(request) => match self.answering.clone().try_acquire_owned() {
                Ok(permit) => return Intake::Serve(request, permit),
                Err(_) => {
                    let charged = self.largest_answer(&request);
                    self.requests.settle_bytes(from, charged, 0);
                    SyncResponse::Busy
                }
            },
        };
        Intake::Answer(wire::encode_response(&refusal))
    }

    /// What a request is charged before it is served: the most its answer may carry. A block is
    /// charged a full chunk (it is asked for once per sync). An answer always holds one record,
    /// so one may pass the budget; [`SummaryServer::answer`] charges that part once it is known.
    fn largest_answer(&self, request: &SyncRequest) -> usize {
        match request {
            SyncRequest::Chunk { max_bytes, .. } => self.chunk_budget(*max_bytes),
            SyncRequest::Block { .. } => MAX_CHUNK_BYTES,
        }
    }

    /// Records per answer: what the asker wants, within this node's `stateSyncChunkBytes`.
    fn chunk_budget(&self, max_bytes: u32) -> usize {
        (max_bytes as usize).min(self.config.chunk_bytes.min(MAX_CHUNK_BYTES))
    }

    /// The answer to a request [`SummaryServer::take`] let through. Blocking: reads a snapshot.
    /// The peer is given back the part of the request's charge the answer did not use, or owes
    /// what it used beyond.
    pub fn answer(&self, from: &[u8], request: SyncRequest) -> Vec<u8> {
        let charged = self.largest_answer(&request);
        let answer = self.build_answer(from, request);
        self.requests.settle_bytes(from, charged, answer.len());
        answer
    }

    fn build_answer(&self, from: &[u8], request: SyncRequest) -> Vec<u8> {
        let response = match self.serve(request) {
            Ok(response) => {
                self.metrics.state_sync_requests_served.inc();
                response
            }
            Err(e) => {
                tracing::debug!(peer = %hex::encode(from), error = %e, "state sync request not served");
                SyncResponse::Unavailable
            }
        };
        wire::encode_response(&response)
    }

    fn serve(&self, request: SyncRequest) -> Result<SyncResponse, StorageError> {
        match request {
            SyncRequest::Chunk {
                height,
                bucket,
                after,
                max_bytes,
            } => {
                let Some(reader) = self.reader(height)? else {
                    return Ok(SyncResponse::Unavailable);
                };
                let chunk = reader.chunk(
                    bucket as usize,
                    after.as_deref(),
                    self.chunk_budget(max_bytes),
                )?;
                Ok(SyncResponse::Chunk {
                    records: chunk.records,
                    complete: chunk.complete,
                })
            }
            SyncRequest::Block { height } => Ok(match self.reader(height)? {
                Some(reader) => SyncResponse::Block {
                    bytes: reader.block()?,
                },
                None => SyncResponse::Unavailable,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain_config::ChainConfig;

    fn open_server(
        requests_per_sec: u64,
        bytes_per_sec: u64,
    ) -> (tempfile::TempDir, SummaryServer) {
        let dir = tempfile::tempdir().unwrap();
        let config = StateSyncConfig {
            peer_requests_per_sec: requests_per_sec,
            peer_bytes_per_sec: bytes_per_sec,
            ..ChainConfig::default().state_sync
        };
        let server = SummaryServer::open(dir.path(), config, Arc::new(Metrics::new())).unwrap();
        (dir, server)
    }

    fn refusal(intake: Intake) -> SyncResponse {
        match intake {
            Intake::Answer(bytes) => wire::decode_response(&bytes).unwrap(),
            Intake::Serve(..) => panic!("let through"),
        }
    }

    #[test]
    fn requests_are_refused_before_any_disk_work_when_malformed_too_frequent_or_too_many() {
        let (_dir, server) = open_server(2, 5 << 20);
        let request = wire::encode_request(&SyncRequest::Block { height: 4096 });
        assert_eq!(
            refusal(server.take(b"peer", b"junk")),
            SyncResponse::Unavailable
        );
        let mut permits = Vec::new();
        for _ in 0..2 {
            match server.take(b"peer", &request) {
                Intake::Serve(_, permit) => permits.push(permit),
                Intake::Answer(_) => panic!("refused within the peer's rate"),
            }
        }
        assert_eq!(refusal(server.take(b"peer", &request)), SyncResponse::Busy);

        // Other peers share MAX_ANSWERS_AT_ONCE answers in progress.
        let (_dir, server) = open_server(100, 5 << 20);
        let held: Vec<_> = (0..MAX_ANSWERS_AT_ONCE)
            .map(|i| match server.take(&[i as u8], &request) {
                Intake::Serve(_, permit) => permit,
                Intake::Answer(_) => panic!("refused below the limit"),
            })
            .collect();
        assert_eq!(
            refusal(server.take(b"another", &request)),
            SyncResponse::Busy
        );
        drop(held);
        assert!(matches!(
            server.take(b"another", &request),
            Intake::Serve(..)
        ));
        // A height this node keeps no snapshot of is unavailable, not an error.
        assert_eq!(
            wire::decode_response(&server.answer(b"another", SyncRequest::Block { height: 4096 })),
            Ok(SyncResponse::Unavailable)
        );
    }

    #[test]
    fn a_request_is_charged_its_largest_answer_and_given_back_what_the_answer_did_not_use() {
        // The byte bucket holds the larger of a second's worth and a gossip message's limit (2
        // MiB): eight answers of the default 256 KiB chunk, whatever the request rate.
        let (_dir, server) = open_server(1_000, 64 << 10);
        let full_chunk = wire::encode_request(&SyncRequest::Chunk {
            height: 4096,
            bucket: 0,
            after: None,
            max_bytes: 1 << 20,
        });
        let mut taken = Vec::new();
        for i in 0..8 {
            match server.take(b"peer", &full_chunk) {
                Intake::Serve(request, _permit) => taken.push(request),
                Intake::Answer(_) => panic!("request {i} refused within the byte budget"),
            }
        }
        assert_eq!(
            refusal(server.take(b"peer", &full_chunk)),
            SyncResponse::Busy
        );
        // Another peer has its own budget.
        assert!(matches!(
            server.take(b"other", &full_chunk),
            Intake::Serve(..)
        ));
        // A small answer (no snapshot at that height) gives back nearly all of its charge.
        let answer = server.answer(b"peer", taken.pop().unwrap());
        assert_eq!(
            wire::decode_response(&answer),
            Ok(SyncResponse::Unavailable)
        );
        assert!(matches!(
            server.take(b"peer", &full_chunk),
            Intake::Serve(..)
        ));
        assert_eq!(
            refusal(server.take(b"peer", &full_chunk)),
            SyncResponse::Busy
        );
    }
}
