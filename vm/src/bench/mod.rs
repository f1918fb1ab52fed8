//! `kvvm bench`: one node's pipeline in process, on a real RocksDB in a temporary directory, with
//! the time each stage takes per transaction.
//!
//! For each state size it opens two nodes on the same genesis and fills both with that many keys
//! (blocks built by the first, replayed by the second). Then it signs the measured transactions
//! (not timed) and runs what a node does with them: admission (decode, signature, state checks,
//! pool), and block by block build, verify and accept on the first node; the second node verifies
//! and accepts the same blocks without having seen their transactions ("replay": a validator
//! whose pool missed them, with no cached signature). The strict ed25519 check is timed in the
//! same run: it bounds what one core can do, and every figure is also given as a share of it.
//! After each size it reports the process's resident memory (both nodes, the pools, the signed
//! transactions; its peak while measuring) and RocksDB's own account of the building node's store.

mod node;
mod report;
mod tally;
mod workload;

use clap::Args;
use kvvm_genesis::Genesis;

use crate::load::procstat;

pub use node::BenchError;
use node::{BenchNode, BENCH_CHAIN_ID};
pub use report::Report;
use report::{SizeFigures, SizeMemory, Stages};
use tally::Tally;
use workload::{signed_messages, Workload};

/// Most measured transactions: the pool of the benchmark node holds them all at once.
const MAX_TXS: u64 = 1_000_000;
/// Keys each filling transaction writes (the default `maxOpsPerTx`).
const FILL_OPS_PER_TX: usize = 64;
/// Filling transactions admitted before blocks are built from them.
const FILL_BATCH_TXS: u64 = 2_000;
/// A sender's transactions beyond this count are refused (the default future-nonce window), so
/// the workload spreads its transactions over enough accounts.
const TXS_PER_ACCOUNT: u64 = 64;

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Transactions to measure, at each state size.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=MAX_TXS))]
    pub txs: u64,
    /// Keys already in state before measuring, comma-separated; one measurement per size.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub state_keys: Vec<u64>,
    /// Puts in each measured transaction.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub ops_per_tx: u64,
    /// Bytes of each value written.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub value_bytes: u64,
    /// Sending accounts (at least enough to keep each within 64 transactions).
    #[arg(long, default_value_t = 400)]
    pub accounts: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark, printing progress to stderr; the caller prints the report.
pub fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // As many signatures as transactions (within bounds): enough for a steady rate, and no more
    // than a small run's own cost.
    let ed25519_per_second = strict_verifies_per_second(args.txs.clamp(1_000, 20_000) as usize);
    let accounts = args.accounts.max(args.txs.div_ceil(TXS_PER_ACCOUNT));
    let mut sizes = Vec::new();
    for &keys in &args.state_keys {
        eprintln!("kvvm bench: filling two nodes with {keys} keys");
        let genesis = Genesis::default_at(unix_now());
        let pool_txs = args.txs.max(FILL_BATCH_TXS) as usize;
        let builder = BenchNode::open(&runtime, &genesis, pool_txs)?;
        let replayer = BenchNode::open(&runtime, &genesis, pool_txs)?;
        fill(&builder, &replayer, keys)?;
        let workload = Workload {
            chain_id: BENCH_CHAIN_ID,
            space: 2,
            accounts,
            ops_per_tx: args.ops_per_tx as usize,
            value_bytes: args.value_bytes as usize,
        };
        eprintln!("kvvm bench: signing {} transactions", args.txs);
        let encoded = workload.encoded(args.txs);
        eprintln!("kvvm bench: measuring at {keys} keys");
        // The peak from here on is the measurement's, not the fill's; where /proc is missing
        // (not Linux) the report leaves memory out.
        let peak_reset = procstat::reset_own_peak().is_ok();
        let (stages, blocks) = measure(&builder, &replayer, &encoded)?;
        if builder.state_root() != replayer.state_root() {
            return Err(BenchError::Diverged);
        }
        let memory = match procstat::resident(std::process::id()) {
            Ok(process) if peak_reset => Some(SizeMemory {
                process,
                builder_store: builder.store_memory()?,
            }),
            _ => None,
        };
        sizes.push(SizeFigures {
            state_keys: keys,
            blocks,
            stages,
            memory,
        });
    }
    Ok(Report {
        txs: args.txs,
        ops_per_tx: args.ops_per_tx,
        value_bytes: args.value_bytes,
        accounts,
        ed25519_per_second,
        sizes,
    })
}

/// Puts `keys` keys into both nodes' state through blocks, untimed.
fn fill(builder: &BenchNode, replayer: &BenchNode, keys: u64) -> Result<(), BenchError> {
    let txs = keys.div_ceil(FILL_OPS_PER_TX as u64);
    let workload = Workload {
        chain_id: BENCH_CHAIN_ID,
        space: 1,
        accounts: FILL_BATCH_TXS,
        ops_per_tx: FILL_OPS_PER_TX,
        value_bytes: 32,
    };
    // A batch at a time: 10M keys are 156,250 transactions of about 3.7 KB, which made at once
    // would be most of the process's memory.
    for start in (0..txs).step_by(FILL_BATCH_TXS as usize) {
        let batch = workload.encoded_range(start..txs.min(start + FILL_BATCH_TXS));
        builder.stage_admit(&batch)?;
        drain(builder, replayer, &mut Stages::default())?;
    }
    Ok(())
}

/// Admits `encoded`, then builds, verifies and accepts blocks until the pool is empty.
fn measure(
    builder: &BenchNode,
    replayer: &BenchNode,
    encoded: &[Vec<u8>],
) -> Result<(Stages, u64), BenchError> {
    let mut stages = Stages::default();
    stages.admit.time(|| builder.stage_admit(encoded))?;
    let blocks = drain(builder, replayer, &mut stages)?;
    Ok((stages, blocks))
}

/// Blocks built from the builder's pool until it is empty, each verified and accepted on both
/// nodes; returns how many.
fn drain(
    builder: &BenchNode,
    replayer: &BenchNode,
    stages: &mut Stages,
) -> Result<u64, BenchError> {
    let mut blocks = 0;
    while builder.pool_len() > 0 {
        let block = match stages.build.time(|| builder.stage_build()) {
            Ok(block) => block,
            Err(BenchError::Chain(crate::error::ChainError::NothingToBuild)) => {
                return Err(BenchError::Stuck(builder.pool_len()))
            }
            Err(e) => return Err(e),
        };
        let id = stages.verify.time(|| builder.stage_verify(&block.bytes))?;
        stages.accept.time(|| builder.stage_accept(&id))?;
        stages.replay.time(|| replayer.stage_replay(&block.bytes))?;
        blocks += 1;
    }
    Ok(blocks)
}

/// Strict ed25519 verifications per second on this thread.
fn strict_verifies_per_second(count: usize) -> f64 {
    let messages = signed_messages(count);
    let mut tally = Tally::default();
    tally.time(|| {
        for (key, message, signature) in &messages {
            key.verify_strict(message, signature)
                .expect("the benchmark signed this message itself");
        }
    });
    count as f64 / tally.cpu.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(txs: u64, state_keys: Vec<u64>) -> BenchArgs {
        BenchArgs {
            txs,
            state_keys,
            ops_per_tx: 2,
            value_bytes: 8,
            accounts: 3,
            json: false,
        }
    }

    #[test]
    fn every_transaction_goes_through_every_stage_at_each_size() {
        let report = run(&small(200, vec![0, 130])).unwrap();
        // 200 transactions at most 64 per account need 4 accounts, not the 3 asked.
        assert_eq!(report.accounts, 4);
        assert_eq!(report.sizes.len(), 2);
        for size in &report.sizes {
            assert!(size.blocks >= 1, "{} keys: no block", size.state_keys);
            let s = &size.stages;
            for (name, tally) in [
                ("admit", s.admit),
                ("build", s.build),
                ("verify", s.verify),
                ("accept", s.accept),
                ("replay", s.replay),
            ] {
                assert!(
                    tally.wall > std::time::Duration::ZERO,
                    "{name} was never timed"
                );
            }
        }
        let json = report.to_json();
        assert_eq!(json["stages"].as_array().unwrap().len(), 2 * 6);
        assert_eq!(json["sizes"][1]["stateKeys"], 130);
        assert!(report.to_string().contains("replay"));
        // Linux: each size reports the process and the building node's store, both read, not zero.
        for size in &json["sizes"].as_array().unwrap()[..] {
            let memory = &size["memory"];
            let process = memory["processResidentBytes"].as_u64().unwrap();
            assert!(process > 0, "{memory}");
            assert!(memory["processPeakResidentBytes"].as_u64().unwrap() >= process);
            assert!(
                memory["storeMemtableBytes"].as_u64().unwrap() > 0,
                "{memory}"
            );
        }
        assert!(report.to_string().contains("building node's RocksDB"));
    }
}
