//! One run of a load: send the signed plan in paced batches with bounded concurrency, follow the
//! accepted blocks, and stop once every transaction is decided or the deadline has passed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvvm_rpc::client::{ClientError, HttpClient};
use kvvm_rpc::{HexBytes, KvvmApiClient, SubmitItem};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify, Semaphore};

use super::ledger::{Ledger, Refusal, Tally};
use super::pace::Pacer;
use super::plan::{batches, batches_of, BatchLimits, Signed};
use super::procstat::{self, ProcessGroup};
use super::roots::{self, NodeRoot};
use super::traffic::{signature_checks_per_tx, LinkTraffic, TrafficReader};
use super::watch::{Watched, Watcher};
use super::LoadError;

/// How a run sends and how long it waits.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    pub(crate) pacer: Pacer,
    pub(crate) batch: BatchLimits,
    /// Submission calls in flight at once.
    pub(crate) concurrency: usize,
    /// Transactions an account may have sent and not yet seen accepted or refused.
    pub(crate) window: usize,
    /// Transactions sent and not yet seen accepted or refused, over all accounts: each node's
    /// pool holds every pending transaction (gossip), so more than its mempoolMaxTxs are refused.
    pub(crate) max_in_flight: usize,
    /// The whole run's bound: sending stops, and waiting for acceptances ends, this long after the
    /// first submission.
    pub(crate) deadline: Duration,
    /// A run whose every transaction is sent ends when none of them has been accepted or
    /// answered for this long (what is left waits behind a gap, or was dropped).
    pub(crate) stall: Duration,
    /// How often the watcher asks for the last accepted block.
    pub(crate) poll: Duration,
    /// Send a transaction refused with "try later" (1009, 1012) again this long after; `None`:
    /// give up on its account, as for any refusal.
    pub(crate) resend_after: Option<Duration>,
}

/// The nodes a run talks to; submissions go to all in turn, blocks are watched on the first.
pub(crate) struct Nodes {
    pub(crate) clients: Vec<(String, HttpClient)>,
}

/// What one run measured.
pub(crate) struct RunOutcome {
    pub(crate) tally: Tally,
    pub(crate) watched: Watched,
    pub(crate) roots: Vec<NodeRoot>,
    /// CPU seconds per process kind during the run, the load client's own as `load client`.
    pub(crate) cpu: BTreeMap<String, f64>,
    /// The largest peak resident memory among each kind's processes at the run's end.
    pub(crate) peak_resident: BTreeMap<String, u64>,
    /// Whether the deadline ended the run before every transaction was decided.
    pub(crate) timed_out: bool,
    /// What the links between the nodes carried, when asked for.
    pub(crate) traffic: Option<LinkTraffic>,
    /// The nodes' signature checks per accepted transaction per node, read with the traffic.
    pub(crate) signature_checks_per_tx: Option<f64>,
}

/// The kind under which the load client's own CPU is reported.
pub(crate) const CLIENT_KIND: &str = "load client";

pub(crate) async fn run(
    nodes: &Nodes,
    plan: &[Signed],
    flow: &Flow,
    cpu_of: &[ProcessGroup],
    traffic: Option<&TrafficReader>,
) -> Result<RunOutcome, LoadError> {
    let mut groups = cpu_of.to_vec();
    groups.push(ProcessGroup {
        kind: CLIENT_KIND.into(),
        pids: vec![std::process::id()],
    });
    // Before anything is spawned, so that a process that is not there fails the run at once.
    let cpu_before = procstat::snapshot(&groups)?;
    let traffic_before = match traffic {
        Some(reader) => Some((reader.read().await?, Instant::now())),
        None => None,
    };
    let (first_url, first) = &nodes.clients[0];
    let from = first
        .last_accepted()
        .await
        .map_err(|e| LoadError::rpc(first_url, e))?
        .height;
    let mut ledger = Ledger::new(
        plan.iter().map(|tx| (tx.id, tx.account)),
        flow.window,
        flow.max_in_flight,
    );
    if let Some(after) = flow.resend_after {
        ledger = ledger.resending_after(after);
    }
    let ledger = Arc::new(Mutex::new(ledger));
    let progress = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let watcher = tokio::spawn(
        Watcher {
            client: first.clone(),
            ledger: ledger.clone(),
            progress: progress.clone(),
            poll: flow.poll,
            cpu_of: groups.clone(),
        }
        .run(from, stop_rx),
    );

    let started = Instant::now();
    let deadline = started + flow.deadline;
    send_all(nodes, plan, flow, &ledger, &progress, deadline).await;
    let timed_out = wait_decided(&ledger, &progress, deadline, flow.stall).await;
    let _ = stop_tx.send(true);
    let watched = watcher.await.map_err(LoadError::Task)?;
    let cpu_after = match &watched.last_ours {
        Some((_, cpu)) => cpu.clone(),
        None => procstat::snapshot(&groups)?,
    };
    let cpu = procstat::used(&cpu_before, &cpu_after);
    let peak_resident = procstat::largest_peaks(&groups);
    let tally = ledger.lock().tally();
    let (traffic, signature_checks_per_tx) = match (traffic, traffic_before) {
        (Some(reader), Some((before, read_at))) => {
            let after = reader.read().await?;
            let links = LinkTraffic::between(
                &before.sent,
                &after.sent,
                reader.nodes(),
                read_at.elapsed(),
                tally.accepted,
                mean_tx_bytes(plan),
            );
            let checks = signature_checks_per_tx(&before, &after, reader.nodes(), tally.accepted);
            (Some(links), checks)
        }
        _ => (None, None),
    };

    let roots = roots::at_height(&nodes.clients, watched.height, Duration::from_secs(30)).await;
    Ok(RunOutcome {
        timed_out: timed_out || tally.sent + tally.skipped < tally.planned,
        tally,
        watched,
        roots,
        cpu,
        peak_resident,
        traffic,
        signature_checks_per_tx,
    })
}

fn mean_tx_bytes(plan: &[Signed]) -> f64 {
    let total: usize = plan.iter().map(|tx| tx.bytes.0.len()).sum();
    total as f64 / plan.len().max(1) as f64
}

/// How often a sender waiting for its time, for window room or for a resend looks again.
const LOOK_AGAIN: Duration = Duration::from_millis(20);

/// With resending on, an account with transactions in flight none of which has been accepted for
/// this long has its taken ones sent again: a node may have dropped one, and the rest wait behind
/// it. Many blocks long, and five times the longest wait before a refused transaction goes again
/// (2 s), so that an account is not taken for stalled while its transactions only queue.
const STALLED_AFTER: Duration = Duration::from_secs(10);

/// Sends the plan batch by batch, each when its time has come, its accounts have window room and
/// a concurrency permit is free, and the refused transactions to send again when theirs has;
/// returns once every call has been answered and nothing waits to be sent again (or the deadline
/// has passed).
async fn send_all(
    nodes: &Nodes,
    plan: &[Signed],
    flow: &Flow,
    ledger: &Arc<Mutex<Ledger>>,
    progress: &Notify,
    deadline: Instant,
) {
    let started = Instant::now();
    let mut calls = Calls::new(nodes, flow.concurrency);
    let mut sent_before = 0;
    'batches: for (node, mut batch) in batches(plan, nodes.clients.len(), flow.batch) {
        let due = started + flow.pacer.due(sent_before);
        if due >= deadline {
            break;
        }
        loop {
            // Resends first: they hold window room that the batch may be waiting for.
            calls.resend_due(plan, flow, ledger).await;
            let waiting = progress.notified();
            let room = {
                let mut ledger = ledger.lock();
                ledger.skip_blocked(&mut batch);
                ledger.has_room(&batch)
            };
            let now = Instant::now();
            if room && now >= due {
                break;
            }
            if now >= deadline {
                break 'batches;
            }
            // A refusal frees room without a block; look again now and then as well.
            let wake = if room { due } else { now + LOOK_AGAIN };
            let _ = tokio::time::timeout_at(wake.min(now + LOOK_AGAIN).into(), waiting).await;
        }
        if batch.is_empty() {
            continue;
        }
        sent_before += batch.len();
        calls.send(node, batch, plan, ledger).await;
    }
    // What is refused from here on may still be due to go again, and an account may still stall.
    while Instant::now() < deadline && (calls.running() || ledger.lock().may_send_more()) {
        calls.resend_due(plan, flow, ledger).await;
        calls.reap();
        tokio::time::sleep(LOOK_AGAIN).await;
    }
    calls.finish().await;
}

/// The submission calls of a run: at most `concurrency` at once, one at a time per node.
struct Calls<'a> {
    nodes: &'a Nodes,
    permits: Arc<Semaphore>,
    // One call at a time per node: two calls served at once could admit an account's later
    // nonces before its earlier ones, and a node holds those apart in a small waiting budget.
    in_order: Vec<Arc<tokio::sync::Mutex<()>>>,
    running: tokio::task::JoinSet<()>,
}

impl<'a> Calls<'a> {
    fn new(nodes: &'a Nodes, concurrency: usize) -> Self {
        Self {
            nodes,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            in_order: nodes
                .clients
                .iter()
                .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                .collect(),
            running: tokio::task::JoinSet::new(),
        }
    }

    /// Sends `batch` to `node` once a permit and the node's turn are free, and records the
    /// answers when they come.
    async fn send(
        &mut self,
        node: usize,
        batch: Vec<usize>,
        plan: &[Signed],
        ledger: &Arc<Mutex<Ledger>>,
    ) {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let turn = self.in_order[node].clone().lock_owned().await;
        let txs: Vec<HexBytes> = batch.iter().map(|&i| plan[i].bytes.clone()).collect();
        ledger.lock().sent(&batch, Instant::now());
        let client = self.nodes.clients[node].1.clone();
        let ledger = ledger.clone();
        self.running.spawn(async move {
            let answer = client.submit_txs(txs).await;
            record_answers(&mut ledger.lock(), &batch, answer);
            drop((turn, permit));
        });
    }

    /// Sends again, to their accounts' nodes, the refused transactions whose time has come and
    /// the taken ones of accounts that stalled.
    async fn resend_due(&mut self, plan: &[Signed], flow: &Flow, ledger: &Arc<Mutex<Ledger>>) {
        let due = {
            let mut ledger = ledger.lock();
            let now = Instant::now();
            let mut due = ledger.stalled(now, STALLED_AFTER);
            due.extend(ledger.due_resends(now));
            due
        };
        if due.is_empty() {
            return;
        }
        for (node, batch) in batches_of(plan, due, self.nodes.clients.len(), flow.batch) {
            self.send(node, batch, plan, ledger).await;
        }
    }

    /// Forgets the calls that have ended.
    fn reap(&mut self) {
        while self.running.try_join_next().is_some() {}
    }

    fn running(&mut self) -> bool {
        self.reap();
        !self.running.is_empty()
    }

    async fn finish(mut self) {
        while self.running.join_next().await.is_some() {}
    }
}

/// Puts a submitTxs answer in the ledger: per item, or the call's error for every item.
pub(crate) fn record_answers(
    ledger: &mut Ledger,
    batch: &[usize],
    answer: Result<Vec<SubmitItem>, ClientError>,
) {
    match answer {
        Ok(items) => {
            for (k, &i) in batch.iter().enumerate() {
                let outcome = match items.get(k) {
                    Some(SubmitItem { tx_id: Some(_), .. }) => Ok(()),
                    Some(SubmitItem { error: Some(e), .. }) => {
                        ledger.refusal_said(Refusal::Code(e.code), &e.message);
                        Err(Refusal::Code(e.code))
                    }
                    // An answer with neither, or too few items: not an answer the API gives.
                    _ => Err(Refusal::Transport),
                };
                ledger.answered(i, outcome);
            }
        }
        Err(e) => {
            let refusal = match e {
                ClientError::Call(call) => {
                    ledger.refusal_said(Refusal::Code(call.code()), call.message());
                    Refusal::Code(call.code())
                }
                other => {
                    ledger.transport_failed(other.to_string());
                    Refusal::Transport
                }
            };
            for &i in batch {
                ledger.answered(i, Err(refusal));
            }
        }
    }
}

/// Waits until every sent transaction is decided, the deadline passes or nothing has been
/// decided for `stall`; true if the deadline or the stall ended the wait.
async fn wait_decided(
    ledger: &Mutex<Ledger>,
    progress: &Notify,
    deadline: Instant,
    stall: Duration,
) -> bool {
    let mut decided = usize::MAX;
    let mut since = Instant::now();
    loop {
        let waiting = progress.notified();
        let (all, now_decided) = {
            let ledger = ledger.lock();
            (ledger.all_sent_resolved(), ledger.decided())
        };
        if all {
            return false;
        }
        let now = Instant::now();
        if now_decided != decided {
            (decided, since) = (now_decided, now);
        }
        if now >= deadline || now.duration_since(since) >= stall {
            return true;
        }
        let _ =
            tokio::time::timeout((deadline - now).min(Duration::from_millis(100)), waiting).await;
    }
}
