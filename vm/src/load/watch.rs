//! Following accepted blocks on one node: poll `kvvm_lastAccepted`, fetch every new height with
//! `kvvm_blockByHeight`, and hand its transaction IDs to the ledger with the time they were seen.
//! The poll interval bounds how late an acceptance is seen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvvm_rpc::client::HttpClient;
use kvvm_rpc::KvvmApiClient;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::ledger::Ledger;
use super::procstat::{self, ProcessGroup};

/// What the watcher ends with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watched {
    /// The last height seen accepted.
    pub(crate) height: u64,
    /// Polls or block fetches that failed (each retried at the next poll).
    pub(crate) errors: u64,
    /// When the last block holding transactions of the run was seen, and the CPU the watched
    /// processes had used by then: a run's CPU is counted up to its last acceptance, not through
    /// the wait for transactions that never come.
    pub(crate) last_ours: Option<(Instant, BTreeMap<String, f64>)>,
}

pub(crate) struct Watcher {
    pub(crate) client: HttpClient,
    pub(crate) ledger: Arc<Mutex<Ledger>>,
    /// Woken at each accepted block, so senders waiting for window room look again.
    pub(crate) progress: Arc<Notify>,
    pub(crate) poll: Duration,
    pub(crate) cpu_of: Vec<ProcessGroup>,
}

impl Watcher {
    /// Follows blocks above `from` until `stop` turns true, then makes one last pass.
    pub(crate) async fn run(self, from: u64, mut stop: watch::Receiver<bool>) -> Watched {
        let mut watched = Watched {
            height: from,
            errors: 0,
            last_ours: None,
        };
        loop {
            let stopping = *stop.borrow();
            self.catch_up(&mut watched).await;
            if stopping {
                return watched;
            }
            let _ = tokio::time::timeout(self.poll, stop.changed()).await;
        }
    }

    async fn catch_up(&self, watched: &mut Watched) {
        let tip = match self.client.last_accepted().await {
            Ok(tip) => tip.height,
            Err(_) => {
                watched.errors += 1;
                return;
            }
        };
        while watched.height < tip {
            let height = watched.height + 1;
            let block = match self.client.block_by_height(height).await {
                Ok(Some(block)) => block,
                Ok(None) | Err(_) => {
                    watched.errors += 1;
                    return;
                }
            };
            let seen = Instant::now();
            let ids: Vec<[u8; 32]> = block.tx_ids.iter().map(|id| id.0).collect();
            let ours = self.ledger.lock().accepted_block(height, &ids, seen);
            watched.height = height;
            if ours > 0 {
                if let Ok(cpu) = procstat::snapshot(&self.cpu_of) {
                    watched.last_ours = Some((seen, cpu));
                }
            }
            self.progress.notify_waiters();
        }
    }
}
