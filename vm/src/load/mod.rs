//! `kvvm load`: a load client for a running network, through the public JSON-RPC API.
//!
//! It signs its transactions first (not timed), then sends them with `kvvm_submitTxs` in batches,
//! each account's to one node, the nodes taking turns, at an offered rate or as fast as the
//! per-account windows allow, with a bounded number of calls in flight. It follows the accepted
//! blocks on the first node (`kvvm_lastAccepted`, `kvvm_blockByHeight` with their transaction
//! IDs) to time each transaction from submission to acceptance, and ends by comparing every
//! node's block and state root at the final height. It stops by itself at a deadline.
//!
//! Three loads share that machinery: `throughput` (many accounts), `idle` (one put at a time: the
//! latency of a quiet chain) and `one-writer` (one account rewriting one key). A run is a plan
//! ([`plan`]) sent under a [`run::Flow`]; another load, a flood beside an honest writer for
//! instance, is another plan and flow.

mod ledger;
mod pace;
mod plan;
pub(crate) mod procstat;
mod report;
mod roots;
mod run;
mod stats;
mod traffic;
mod watch;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use kvvm_rpc::client::{ClientError, HttpClient};
use kvvm_rpc::{Hex32, KvvmApiClient};

use crate::cli::{connection, CliEnv, CliError};
use pace::Pacer;
use plan::{BatchLimits, Keys, Shape};
pub use procstat::ProcessGroup;
pub use report::LoadReport;
use report::{Medians, RunFigures};
use run::{Flow, Nodes};
pub use traffic::LinkTraffic;
use traffic::TrafficReader;

/// Most transactions one run signs and holds (about 200 bytes each, twice, as bytes and hex).
pub const MAX_TXS: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] CliError),
    #[error("calling {url}: {reason}")]
    Rpc { url: String, reason: String },
    #[error("reading the CPU time of process {pid}: {reason}")]
    Process { pid: u32, reason: String },
    #[error("a load task failed: {0}")]
    Task(tokio::task::JoinError),
    #[error("starting the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl LoadError {
    fn rpc(url: &str, e: ClientError) -> Self {
        Self::Rpc {
            url: url.to_string(),
            reason: e.to_string(),
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct Target {
    /// A node's JSON-RPC URL; repeat or comma-separate for several (blocks are followed on the
    /// first). Default: $KVVM_RPC, else every node of the network scripts/run-network.sh started.
    #[arg(long = "rpc", value_name = "URL", value_delimiter = ',')]
    pub rpc: Vec<String>,
    /// Runs, each with fresh accounts; the report gives every run and the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub runs: u64,
    /// A run ends this many seconds after its first submission, whatever is still undecided
    /// (counted lost).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub deadline: u64,
    /// Once everything is sent, a run also ends when no transaction of it has been accepted or
    /// refused for this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stall: u64,
    /// Milliseconds between polls of the last accepted block (how late an acceptance may be seen).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub poll_ms: u64,
    /// Seed of the accounts' keys (run r uses seed + r); default: from the clock, so that loads
    /// never share accounts.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also report the CPU time these processes use during each run, e.g. `--cpu-of
    /// avalanchego=101,102,103` (Linux, from /proc/PID/stat); repeat for several kinds.
    #[arg(long = "cpu-of", value_name = "KIND=PID,…")]
    pub cpu_of: Vec<ProcessGroup>,
    /// Also report the bytes the nodes sent each other during each run, per link and per
    /// transaction, as blocks, gossip, votes and the rest: AvalancheGo's sent-bytes counters on
    /// the `/ext/metrics` page beside each --rpc URL. Counts every node's messages on every
    /// chain, so --rpc should name every node of a network that runs nothing else.
    #[arg(long)]
    pub link_traffic: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Largest kvvm_submitTxs request, in bytes of hex-encoded transactions: a batch closes
    /// before it grows past this (the node's default rpcMaxRequestBytes is 2 MiB).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1_024..=(64 << 20)))]
    pub max_request_bytes: u64,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Args, Clone, Debug)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub target: Target,
    /// Transactions per run.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=MAX_TXS))]
    pub txs: u64,
    /// Sending accounts.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub accounts: u64,
    /// Offered transactions per second; 0 sends as fast as the windows allow.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Transactions per kvvm_submitTxs call.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// kvvm_submitTxs calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Transactions an account may have sent and not yet seen accepted (the node's default
    /// mempoolMaxFutureNonces refuses more).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub window: u64,
    /// Transactions sent and not yet seen accepted, over all accounts (each node's pool holds
    /// every pending one; its default mempoolMaxTxs is 10,000).
    #[arg(long, default_value_t = 8_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub in_flight: u64,
    /// Puts per transaction, each of a new key.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub ops_per_tx: u64,
    /// Bytes of each value.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub value_bytes: u64,
    /// Send a transaction refused with "try later" (1009: a pool limit; 1012: the node is busy)
    /// again this many milliseconds after, as a client facing back-pressure does; 0 gives up on
    /// its account's later transactions instead.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub resend_after_ms: u64,
}

#[derive(Args, Clone, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: Target,
    /// Puts, one at a time: each is sent once the previous one is accepted.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Bytes of each value.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub value_bytes: u64,
}

#[derive(Args, Clone, Debug)]
pub struct OneWriterArgs {
    #[command(flatten)]
    pub target: Target,
    /// Transactions per run, all from one account, every put to its one key.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=MAX_TXS))]
    pub txs: u64,
    /// Puts per transaction (the chain's maxOpsPerTx bounds it; 64 by default).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub ops_per_tx: u64,
    /// Transactions sent and not yet seen accepted (the node's default mempoolMaxFutureNonces
    /// refuses more); also the most transactions in one call.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub window: u64,
    /// Offered transactions per second; 0 sends as fast as the window allows.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Bytes of each value.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub value_bytes: u64,
}

#[derive(Subcommand, Clone, Debug)]
pub enum LoadCommand {
    /// Many accounts, pre-signed transactions: finalized tx/s and submit→accept latency.
    Throughput(ThroughputArgs),
    /// One put at a time: the submit→accept latency of a quiet chain.
    Idle(IdleArgs),
    /// One account writing one key, many puts per transaction: puts/s of a single writer.
    OneWriter(OneWriterArgs),
}

/// Most offered transactions per second accepted on the command line.
const MAX_RATE: f64 = 10_000_000.0;

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(0.0..=MAX_RATE).contains(&rate) {
        return Err(format!("{rate} is not within 0–{MAX_RATE} tx/s"));
    }
    Ok(rate)
}

/// One kind of load, as the engine runs it.
struct Load {
    mode: &'static str,
    txs: usize,
    shape: Shape,
    flow: Flow,
}

impl LoadCommand {
    /// Whether the report is wanted as JSON.
    pub fn json(&self) -> bool {
        self.target().json
    }

    /// Where the report should also be written as JSON.
    pub fn out(&self) -> Option<&std::path::Path> {
        self.target().out.as_deref()
    }

    fn target(&self) -> &Target {
        match self {
            LoadCommand::Throughput(a) => &a.target,
            LoadCommand::Idle(a) => &a.target,
            LoadCommand::OneWriter(a) => &a.target,
        }
    }

    fn load(&self, seed: u64) -> Load {
        let target = self.target();
        let flow = |rate: f64, batch: u64, concurrency: u64, window: u64, in_flight: u64| Flow {
            resend_after: None,
            pacer: Pacer {
                rate: (rate > 0.0).then_some(rate),
            },
            batch: BatchLimits {
                txs: batch as usize,
                hex_bytes: target.max_request_bytes as usize,
            },
            concurrency: concurrency as usize,
            window: window as usize,
            max_in_flight: in_flight as usize,
            deadline: Duration::from_secs(target.deadline),
            stall: Duration::from_secs(target.stall),
            poll: Duration::from_millis(target.poll_ms),
        };
        let shape = |accounts: u64, ops_per_tx: u64, value_bytes: u64, keys| Shape {
            seed,
            accounts: accounts as usize,
            ops_per_tx: ops_per_tx as usize,
            value_bytes: value_bytes as usize,
            keys,
        };
        match self {
            LoadCommand::Throughput(a) => Load {
                mode: "throughput",
                txs: a.txs as usize,
                shape: shape(
                    a.accounts.min(a.txs),
                    a.ops_per_tx,
                    a.value_bytes,
                    Keys::Distinct,
                ),
                flow: Flow {
                    resend_after: (a.resend_after_ms > 0)
                        .then(|| Duration::from_millis(a.resend_after_ms)),
                    ..flow(a.rate, a.batch, a.concurrency, a.window, a.in_flight)
                },
            },
            LoadCommand::Idle(a) => Load {
                mode: "idle",
                txs: a.count as usize,
                shape: shape(1, 1, a.value_bytes, Keys::Distinct),
                flow: flow(0.0, 1, 1, 1, 1),
            },
            LoadCommand::OneWriter(a) => Load {
                mode: "one-writer",
                txs: a.txs as usize,
                shape: shape(1, a.ops_per_tx, a.value_bytes, Keys::Shared),
                flow: flow(a.rate, a.window, 1, a.window, a.window),
            },
        }
    }
}

/// Runs `command` against the nodes it names, printing progress to stderr; the caller prints the
/// report.
pub async fn run(command: &LoadCommand, env: &CliEnv) -> Result<LoadReport, LoadError> {
    let target = command.target();
    let urls = connection::resolve_all(&target.rpc, env)?;
    let mut clients = Vec::new();
    for url in urls {
        let client = kvvm_rpc::http_client(&url).map_err(|e| LoadError::rpc(&url, e))?;
        clients.push((url, client));
    }
    let urls: Vec<String> = clients.iter().map(|(url, _)| url.clone()).collect();
    let traffic = target
        .link_traffic
        .then(|| TrafficReader::new(&urls))
        .transpose()?;
    let nodes = Nodes { clients };
    let (first_url, first) = &nodes.clients[0];
    let chain_id = first
        .chain_info()
        .await
        .map_err(|e| LoadError::rpc(first_url, e))?
        .chain_id_hex
        .0;
    let base_seed = target.seed.unwrap_or_else(clock_seed);
    let mut runs = Vec::new();
    let mut last = None;
    for r in 0..target.runs {
        let load = command.load(base_seed.wrapping_add(r));
        eprintln!(
            "kvvm load {}: run {}/{}: signing {} transactions",
            load.mode,
            r + 1,
            target.runs,
            load.txs
        );
        let signers = load.shape.accounts();
        let nonces = next_nonces(first_url, first, &signers).await?;
        let plan = load.shape.sign(chain_id, &signers, &nonces, load.txs);
        eprintln!("kvvm load {}: run {}: sending", load.mode, r + 1);
        let outcome = run::run(&nodes, &plan, &load.flow, &target.cpu_of, traffic.as_ref()).await?;
        runs.push(RunFigures::of(&outcome, load.shape.ops_per_tx));
        last = Some(load);
    }
    let load = last.expect("at least one run");
    Ok(LoadReport {
        mode: load.mode,
        txs: load.txs,
        accounts: load.shape.accounts,
        ops_per_tx: load.shape.ops_per_tx,
        value_bytes: load.shape.value_bytes,
        offered_tx_per_s: load.flow.pacer.rate,
        nodes: nodes.clients.len(),
        median: Medians::of(&runs),
        runs,
    })
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Each account's next nonce on the first node.
async fn next_nonces(
    url: &str,
    client: &HttpClient,
    signers: &[ed25519_dalek::SigningKey],
) -> Result<Vec<u64>, LoadError> {
    let mut nonces = Vec::with_capacity(signers.len());
    for signer in signers {
        let account = Hex32(signer.verifying_key().to_bytes());
        let view = client
            .nonce(account)
            .await
            .map_err(|e| LoadError::rpc(url, e))?;
        nonces.push(view.next);
    }
    Ok(nonces)
}

#[cfg(test)]
mod tests;
