//! The engine's state sync calls on an open chain: which summaries this node serves, whether and
//! how it syncs to one the engine chose, and the switch to the synced state at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kvvm_storage::{GenesisState, StateSummary, SyncRecord};
use tokio::sync::watch;

use crate::gossip::outbound::Outbound;
use crate::node::{KvVm, OpenChain, VmError};
use crate::state_sync::fetch::SyncClient;
use crate::state_sync::serve::{Intake, SummaryServer};
use crate::state_sync::StateSyncConfig;

/// What the engine should do after a summary is accepted (`StateSummaryAccept`'s mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryMode {
    /// Not worth it (the summary is too close to this node's last accepted block): bootstrap.
    Skipped,
    /// Syncing; `WaitForEvent` answers `STATE_SYNC_FINISHED` once the state is in.
    Static,
}

/// What `WaitForEvent` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmEvent {
    BuildBlock,
    StateSyncFinished,
}

/// State sync's parts of an open chain.
pub(crate) struct ChainSync {
    pub(crate) config: StateSyncConfig,
    pub(crate) server: Arc<SummaryServer>,
    pub(crate) client: Arc<SyncClient>,
    pub(crate) outbound: Option<Outbound>,
    /// The genesis state, put back if a sync under way is given up.
    pub(crate) genesis: GenesisState,
    /// The summary at height 0, offered while no snapshot is summarized yet: the engine's
    /// summary round on a joining node only ends (with a skip) when validators answer it.
    pub(crate) genesis_summary: StateSummary,
    /// True from a sync's end until `WaitForEvent` has told the engine.
    pub(crate) finished: watch::Sender<bool>,
    /// Whether a sync task runs now.
    pub(crate) running: AtomicBool,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// The summary of the genesis state, the same on every node of the chain.
pub(crate) fn genesis_summary(genesis: &GenesisState) -> Result<StateSummary, VmError> {
    let entries = genesis
        .entries
        .iter()
        .map(|(key, entry)| SyncRecord::Entry {
            key: key.clone(),
            entry: entry.clone(),
        });
    let access = genesis
        .accounts
        .iter()
        .filter(|(_, record)| record.has_access_rules())
        .map(|(account, record)| SyncRecord::Access {
            account: *account,
            role: record.role,
            quota: record.quota,
        });
    Ok(StateSummary::of_records(
        0,
        genesis.block_id,
        entries.chain(access).collect(),
    )?)
}

impl ChainSync {
    /// Summarizes, in the background, snapshots that have no summary yet.
    pub(crate) fn summarize_in_background(&self) {
        let server = self.server.clone();
        self.runtime.spawn_blocking(move || {
            if let Err(e) = server.summarize_pending() {
                tracing::warn!(error = %e, "summarizing a state snapshot failed");
            }
        });
    }
}

impl OpenChain {
    /// What `chainInfo` says of state sync on this node.
    pub(crate) fn state_sync_view(&self) -> Result<kvvm_rpc::StateSyncView, VmError> {
        let progress = self.store.state_sync_progress()?;
        Ok(kvvm_rpc::StateSyncView {
            enabled: self.sync.config.enabled,
            summary_interval: self.sync.config.summary_interval,
            last_summary_height: self.sync.server.last_summary()?.map(|s| s.height),
            syncing: progress.map(|p| kvvm_rpc::SyncingView {
                height: p.summary.height,
                buckets: p.summary.buckets.len() as u64,
                buckets_left: p.buckets_left() as u64,
            }),
        })
    }

    /// Called after each accept with the chain lock held: a summary height gets its snapshot now,
    /// and its summary in the background. A failure costs this node a summary, not the accept.
    pub(crate) fn snapshot_if_due(&self, height: u64) {
        if !self.sync.server.is_summary_height(height) {
            return;
        }
        match self.sync.server.take_snapshot(&self.store) {
            Ok(_) => self.sync.summarize_in_background(),
            Err(e) => tracing::warn!(height, error = %e, "taking a state snapshot failed"),
        }
    }

    /// Starts the task that syncs to the summary the store is syncing to.
    fn spawn_sync(self: &Arc<Self>, progress: kvvm_storage::SyncProgress) {
        self.sync.running.store(true, Ordering::SeqCst);
        let chain = self.clone();
        let max_block_bytes = self.identity.params.limits.max_block_bytes as usize;
        let chunk_bytes = self.sync.config.chunk_bytes;
        let client = self.sync.client.clone();
        let store = self.store.clone();
        self.sync.runtime.spawn(async move {
            let result = client
                .run(store, progress, max_block_bytes, chunk_bytes)
                .await;
            chain.sync.running.store(false, Ordering::SeqCst);
            match result.map_err(VmError::from).and_then(|_| chain.reload()) {
                Ok(()) => {
                    chain.sync.finished.send_replace(true);
                }
                Err(e) => tracing::error!(error = %e, "state sync failed; the node stays at genesis until it restarts"),
            }
        });
    }
}

impl KvVm {
    /// Whether the engine should try state sync: enabled, and this node at genesis or mid-sync
    /// (or anywhere, with `stateSyncWhenBehind`; `accept_state_summary` then skips a summary
    /// that is not far enough ahead).
    pub fn state_sync_enabled(&self) -> Result<bool, VmError> {
        let chain = self.open_chain()?;
        let config = &chain.sync.config;
        if !config.enabled {
            return Ok(false);
        }
        Ok(config.when_behind
            || chain.tip.last_accepted().height == 0
            || chain.store.state_sync_progress()?.is_some())
    }

    /// The summary a sync under way is syncing to.
    pub fn ongoing_state_summary(&self) -> Result<Option<StateSummary>, VmError> {
        let chain = self.open_chain()?;
        Ok(chain.store.state_sync_progress()?.map(|p| p.summary))
    }

    /// The newest summary this node serves; genesis's before any other.
    pub fn last_state_summary(&self) -> Result<Option<StateSummary>, VmError> {
        let chain = self.open_chain()?;
        let newest = chain.sync.server.last_summary()?;
        Ok(Some(
            newest.unwrap_or_else(|| chain.sync.genesis_summary.clone()),
        ))
    }

    /// The summary at `height`, if this node serves it.
    pub fn state_summary_at(&self, height: u64) -> Result<Option<StateSummary>, VmError> {
        let chain = self.open_chain()?;
        if height == 0 {
            return Ok(Some(chain.sync.genesis_summary.clone()));
        }
        Ok(chain.sync.server.summary_at(height)?)
    }

    /// Starts syncing to `summary`, or resumes the sync to it, unless it is not worth it.
    pub fn accept_state_summary(&self, summary: StateSummary) -> Result<SummaryMode, VmError> {
        let chain = self.open_chain()?;
        if chain.sync.running.load(Ordering::SeqCst) {
            return Ok(SummaryMode::Static);
        }
        let ongoing = chain.store.state_sync_progress()?;
        let progress = match ongoing {
            Some(ongoing) if ongoing.summary == summary => {
                tracing::info!(height = summary.height, "resuming the state sync under way");
                chain
                    .store
                    .resume_state_sync()?
                    .ok_or(VmError::NotInitialized)?
            }
            Some(_) => {
                tracing::info!(
                    height = summary.height,
                    "the network moved on: syncing to a newer summary"
                );
                chain.store.begin_state_sync(&summary)?
            }
            None => {
                let height = chain.tip.last_accepted().height;
                let gain = summary.height.saturating_sub(height);
                if gain == 0 || gain < chain.sync.config.min_blocks {
                    tracing::info!(
                        summary = summary.height,
                        last_accepted = height,
                        "state summary too close to bootstrap by sync: skipped"
                    );
                    return Ok(SummaryMode::Skipped);
                }
                chain.store.begin_state_sync(&summary)?
            }
        };
        chain.spawn_sync(progress);
        Ok(SummaryMode::Static)
    }

    /// Resolves with the next event for the engine: a finished sync first, else a block to build.
    pub async fn wait_for_event(&self) -> Result<VmEvent, VmError> {
        let chain = self.open_chain()?;
        let mut finished = chain.sync.finished.subscribe();
        tokio::select! {
            built = self.wait_for_build() => built.map(|()| VmEvent::BuildBlock),
            changed = finished.wait_for(|done| *done) => {
                changed.map_err(|_| VmError::ShutDown)?;
                chain.sync.finished.send_replace(false);
                Ok(VmEvent::StateSyncFinished)
            }
        }
    }

    /// Called when the engine leaves state sync: a sync left unfinished (the engine chose to
    /// bootstrap instead of resuming it) is given up, and the chain is back at genesis.
    pub(crate) fn settle_unfinished_sync(&self, chain: &OpenChain) -> Result<(), VmError> {
        if chain.sync.running.load(Ordering::SeqCst) || chain.store.state_sync_progress()?.is_none()
        {
            return Ok(());
        }
        tracing::warn!(
            "the engine bootstraps instead of finishing the state sync under way: back to genesis"
        );
        chain.store.abandon_state_sync(&chain.sync.genesis)?;
        chain.reload()
    }
}

impl KvVm {
    /// A peer's state sync request: answered always, from a snapshot on a blocking thread when it
    /// is let through (an `Unavailable` or `Busy` answer lets the asker move on or slow down at
    /// once instead of waiting for its timeout).
    pub async fn answer_state_sync(&self, from: Vec<u8>, request_id: u32, payload: Vec<u8>) {
        let Ok(chain) = self.open_chain() else {
            return;
        };
        let Some(outbound) = chain.sync.outbound.clone() else {
            return;
        };
        let server = chain.sync.server.clone();
        let response = match server.take(&from, &payload) {
            Intake::Answer(refusal) => refusal,
            Intake::Serve(request, permit) => {
                let asker = from.clone();
                let answered = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    server.answer(&asker, request)
                });
                let Ok(response) = answered.await else {
                    return;
                };
                response
            }
        };
        if let Err(e) = outbound.respond(from, request_id, response).await {
            tracing::debug!(error = %e, "the node did not take a state sync answer");
        }
    }

    /// An AppResponse or AppRequestFailed (`payload` `None`) for one of state sync's requests.
    pub fn state_sync_answered(&self, from: &[u8], request_id: u32, payload: Option<Vec<u8>>) {
        if let Ok(chain) = self.open_chain() {
            match payload {
                Some(payload) => chain.sync.client.on_response(from, request_id, payload),
                None => chain.sync.client.on_failed(from, request_id),
            }
        }
    }
}
