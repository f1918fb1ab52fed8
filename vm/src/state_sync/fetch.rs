//! The syncing side: fetch the summary's block, then every bucket not yet in, one bucket per peer
//! at a time, each checked as it arrives ([`BucketCheck`]) and written into the store. A peer that
//! sends a record that breaks the bucket's rules or its checksum is avoided from then on and the
//! bucket is fetched again elsewhere; a peer that does not answer is asked again later.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvvm_storage::{BucketCheck, ChainStore, StateSummary, StorageError, SyncProgress};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::block::Block;
use crate::gossip::outbound::Outbound;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::state_sync::wire::{self, SyncRequest, SyncResponse};

/// An answer not received within this counts as none (the node fails an unanswered request within
/// its own timeout, 10 s at most by default, so this only covers a lost failure notice).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer that did not answer is left alone.
const SILENT_PEER_PAUSE: Duration = Duration::from_secs(5);
/// How long a peer that sent bad data is avoided.
const BAD_PEER_PAUSE: Duration = Duration::from_secs(600);
/// How long to wait for peers when none may be asked.
const NO_PEER_WAIT: Duration = Duration::from_millis(500);
/// How long to wait before asking a peer that answered `Busy` again.
const BUSY_WAIT: Duration = Duration::from_millis(100);
/// `Busy` answers in a row before a peer counts as silent and its bucket goes elsewhere.
const MAX_BUSY_IN_A_ROW: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("a storage worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("this node has no channel to send requests through")]
    NoOutbound,
}

/// A request sent: the peer asked, and where its answer (`None`: failed) goes.
type Waiting = (Vec<u8>, oneshot::Sender<Option<Vec<u8>>>);

/// Requests this node sent and their answers. Its request IDs are even; gossip's are odd.
pub struct SyncClient {
    outbound: Option<Outbound>,
    peers: Peers,
    node_id: Vec<u8>,
    last_id: AtomicU32,
    waiting: Mutex<HashMap<u32, Waiting>>,
    metrics: Arc<Metrics>,
}

/// Whether a request ID is one of state sync's (even) rather than gossip's (odd).
pub fn is_state_sync_request_id(request_id: u32) -> bool {
    request_id.is_multiple_of(2)
}

/// How one bucket's fetch from one peer ended.
enum BucketOutcome {
    Done,
    Silent,
    Bad(String),
}

impl SyncClient {
    pub(crate) fn new(
        outbound: Option<Outbound>,
        peers: Peers,
        node_id: Vec<u8>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            outbound,
            peers,
            node_id,
            last_id: AtomicU32::new(0),
            waiting: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// An AppResponse to one of this node's requests; ignored unless `from` is the peer asked.
    pub fn on_response(&self, from: &[u8], request_id: u32, payload: Vec<u8>) {
        self.settle(from, request_id, Some(payload));
    }

    /// An AppRequestFailed for one of this node's requests.
    pub fn on_failed(&self, from: &[u8], request_id: u32) {
        self.settle(from, request_id, None);
    }

    fn settle(&self, from: &[u8], request_id: u32, payload: Option<Vec<u8>>) {
        let mut waiting = self.waiting.lock();
        if waiting
            .get(&request_id)
            .is_some_and(|(peer, _)| peer == from)
        {
            if let Some((_, answer)) = waiting.remove(&request_id) {
                let _ = answer.send(payload);
            }
        } else {
            tracing::debug!(peer = %hex::encode(from), request_id, "unsolicited state sync answer dropped");
        }
    }

    async fn ask(&self, peer: &[u8], request: &SyncRequest) -> Option<SyncResponse> {
        let outbound = self.outbound.as_ref()?;
        let request_id = self.last_id.fetch_add(2, Ordering::Relaxed).wrapping_add(2) & !1;
        let (sender, answer) = oneshot::channel();
        self.waiting
            .lock()
            .insert(request_id, (peer.to_vec(), sender));
        let sent = outbound
            .request(peer.to_vec(), request_id, wire::encode_request(request))
            .await;
        let payload = match sent {
            Ok(()) => tokio::time::timeout(REQUEST_TIMEOUT, answer)
                .await
                .ok()
                .and_then(Result::ok)
                .flatten(),
            Err(e) => {
                tracing::debug!(error = %e, "the node did not take a state sync request");
                None
            }
        };
        self.waiting.lock().remove(&request_id);
        match wire::decode_response(&payload?) {
            Ok(response) => Some(response),
            Err(e) => {
                tracing::debug!(peer = %hex::encode(peer), error = %e, "bad state sync answer");
                None
            }
        }
    }

    /// Connected peers that may be asked now.
    fn askable(&self, avoid: &HashMap<Vec<u8>, Instant>, busy: &HashSet<Vec<u8>>) -> Vec<Vec<u8>> {
        let now = Instant::now();
        self.peers
            .list()
            .into_iter()
            .filter(|p| *p != self.node_id && !busy.contains(p))
            .filter(|p| avoid.get(p).is_none_or(|until| *until <= now))
            .collect()
    }

    /// Runs the sync to its end: the summary's block, then every bucket not in yet, then the
    /// store's final switch to the summary's block. Returns that block.
    pub async fn run(
        self: Arc<Self>,
        store: ChainStore,
        progress: SyncProgress,
        max_block_bytes: usize,
        chunk_bytes: usize,
    ) -> Result<Block, SyncError> {
        if self.outbound.is_none() {
            return Err(SyncError::NoOutbound);
        }
        let summary = Arc::new(progress.summary.clone());
        let started = Instant::now();
        let mut avoid: HashMap<Vec<u8>, Instant> = HashMap::new();
        let block = self
            .fetch_block(&summary, max_block_bytes, &mut avoid)
            .await;
        let mut queue: VecDeque<usize> = (0..summary.buckets.len())
            .filter(|bucket| !progress.done[*bucket])
            .collect();
        let mut busy: HashSet<Vec<u8>> = HashSet::new();
        let mut fetching = JoinSet::new();
        let mut refetched = 0u64;
        while !queue.is_empty() || !fetching.is_empty() {
            for peer in self.askable(&avoid, &busy) {
                let Some(bucket) = queue.pop_front() else {
                    break;
                };
                busy.insert(peer.clone());
                let (client, store, summary) = (self.clone(), store.clone(), summary.clone());
                fetching.spawn(async move {
                    let outcome = client
                        .fetch_bucket(&store, &summary, bucket, &peer, chunk_bytes)
                        .await;
                    (peer, bucket, outcome)
                });
            }
            let Some(joined) = fetching.join_next().await else {
                tokio::time::sleep(NO_PEER_WAIT).await;
                continue;
            };
            let (peer, bucket, outcome) = joined?;
            busy.remove(&peer);
            match outcome? {
                BucketOutcome::Done => {
                    self.metrics.state_sync_buckets_fetched.inc();
                    continue;
                }
                BucketOutcome::Silent => {
                    avoid.insert(peer, Instant::now() + SILENT_PEER_PAUSE);
                }
                BucketOutcome::Bad(reason) => {
                    self.metrics.state_sync_bad_buckets.inc();
                    tracing::warn!(peer = %hex::encode(&peer), bucket, %reason, "a peer served a bad state bucket; fetching it elsewhere");
                    avoid.insert(peer, Instant::now() + BAD_PEER_PAUSE);
                }
            }
            refetched += 1;
            let (discarding, summary) = (store.clone(), summary.clone());
            tokio::task::spawn_blocking(move || discarding.discard_sync_bucket(&summary, bucket))
                .await??;
            queue.push_back(bucket);
        }
        let finishing = store.clone();
        let bytes = block.bytes.clone();
        tokio::task::spawn_blocking(move || finishing.finish_state_sync(&bytes)).await??;
        tracing::info!(
            height = summary.height,
            records = summary.records(),
            buckets = summary.buckets.len(),
            refetched,
            secs = started.elapsed().as_secs_f64(),
            "state synced"
        );
        Ok(block)
    }

    /// The summary's block from the first peer that sends the right one.
    async fn fetch_block(
        &self,
        summary: &StateSummary,
        max_block_bytes: usize,
        avoid: &mut HashMap<Vec<u8>, Instant>,
    ) -> Block {
        let request = SyncRequest::Block {
            height: summary.height,
        };
        loop {
            for peer in self.askable(avoid, &HashSet::new()) {
                let pause = match self.ask(&peer, &request).await {
                    Some(SyncResponse::Block { bytes }) => {
                        match Block::decode(&bytes, max_block_bytes) {
                            Ok(block)
                                if block.id.0 == summary.block_id
                                    && block.height == summary.height
                                    && block.state_root == summary.state_root =>
                            {
                                return block
                            }
                            _ => BAD_PEER_PAUSE,
                        }
                    }
                    Some(SyncResponse::Chunk { .. }) => BAD_PEER_PAUSE,
                    Some(SyncResponse::Busy) => BUSY_WAIT,
                    Some(SyncResponse::Unavailable) | None => SILENT_PEER_PAUSE,
                };
                avoid.insert(peer, Instant::now() + pause);
            }
            tokio::time::sleep(NO_PEER_WAIT).await;
        }
    }

    /// One bucket from one peer, chunk by chunk, each checked before it is written.
    async fn fetch_bucket(
        &self,
        store: &ChainStore,
        summary: &StateSummary,
        bucket: usize,
        peer: &[u8],
        chunk_bytes: usize,
    ) -> Result<BucketOutcome, SyncError> {
        let Some(mut check) = BucketCheck::new(summary, bucket) else {
            return Ok(BucketOutcome::Bad(format!(
                "no bucket {bucket} in the summary"
            )));
        };
        let mut busy_in_a_row = 0;
        loop {
            let request = SyncRequest::Chunk {
                height: summary.height,
                bucket: bucket as u16,
                after: check.resume_after().map(<[u8]>::to_vec),
                max_bytes: chunk_bytes as u32,
            };
            let (records, complete) = match self.ask(peer, &request).await {
                Some(SyncResponse::Chunk { records, complete }) => (records, complete),
                Some(SyncResponse::Block { .. }) => {
                    return Ok(BucketOutcome::Bad("a block for a chunk request".into()))
                }
                Some(SyncResponse::Busy) if busy_in_a_row < MAX_BUSY_IN_A_ROW => {
                    busy_in_a_row += 1;
                    tokio::time::sleep(BUSY_WAIT).await;
                    continue;
                }
                Some(SyncResponse::Unavailable | SyncResponse::Busy) | None => {
                    return Ok(BucketOutcome::Silent)
                }
            };
            busy_in_a_row = 0;
            if let Err(reason) = check.take_chunk(&records, complete) {
                return Ok(BucketOutcome::Bad(reason));
            }
            let writing = store.clone();
            let lattice = check.lattice().clone();
            tokio::task::spawn_blocking(move || {
                if complete {
                    writing
                        .finish_sync_bucket(bucket, &records, &lattice)
                        .map(drop)
                } else {
                    writing.write_sync_records(&records)
                }
            })
            .await??;
            if complete {
                return Ok(BucketOutcome::Done);
            }
        }
    }
}
