//! The benchmark's figures, as a table for people or as JSON for scripts.

use std::fmt;

use serde::Serialize;

use kvvm_storage::MemoryUsage;

use crate::bench::tally::Tally;
use crate::load::procstat::Resident;

/// Time spent in each stage over all measured transactions of one state size.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stages {
    pub(crate) admit: Tally,
    pub(crate) build: Tally,
    pub(crate) verify: Tally,
    pub(crate) accept: Tally,
    /// Verify and accept on a node that never admitted the transactions.
    pub(crate) replay: Tally,
}

pub(crate) struct SizeFigures {
    pub(crate) state_keys: u64,
    pub(crate) blocks: u64,
    pub(crate) stages: Stages,
    /// None where the process's memory cannot be read (no /proc).
    pub(crate) memory: Option<SizeMemory>,
}

/// Memory at the end of one size's measurement.
pub(crate) struct SizeMemory {
    /// The whole benchmark process (two nodes); its peak is the measurement's, the fill left out.
    pub(crate) process: Resident,
    pub(crate) builder_store: MemoryUsage,
}

pub struct Report {
    pub(crate) txs: u64,
    pub(crate) ops_per_tx: u64,
    pub(crate) value_bytes: u64,
    pub(crate) accounts: u64,
    pub(crate) ed25519_per_second: f64,
    pub(crate) sizes: Vec<SizeFigures>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StageLine {
    state_keys: u64,
    stage: &'static str,
    tx_per_second: f64,
    cpu_micros_per_tx: f64,
    /// This stage's CPU-bound rate over the strict-ed25519 rate on one core.
    of_ed25519_limit: f64,
}

impl Report {
    fn lines(&self) -> Vec<StageLine> {
        let mut lines = Vec::new();
        for size in &self.sizes {
            let s = &size.stages;
            let node = s.admit.plus(s.build).plus(s.verify).plus(s.accept);
            let named = [
                ("admit", s.admit),
                ("build", s.build),
                ("verify", s.verify),
                ("accept", s.accept),
                ("node", node),
                ("replay", s.replay),
            ];
            for (stage, tally) in named {
                let cpu_micros = tally.cpu_micros_per(self.txs);
                lines.push(StageLine {
                    state_keys: size.state_keys,
                    stage,
                    tx_per_second: tally.per_second(self.txs),
                    cpu_micros_per_tx: cpu_micros,
                    of_ed25519_limit: 1e6
                        / cpu_micros.max(f64::MIN_POSITIVE)
                        / self.ed25519_per_second,
                });
            }
        }
        lines
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "txs": self.txs,
            "opsPerTx": self.ops_per_tx,
            "valueBytes": self.value_bytes,
            "accounts": self.accounts,
            "ed25519StrictPerSecond": self.ed25519_per_second,
            "sizes": self.sizes.iter().map(|s| serde_json::json!({
                "stateKeys": s.state_keys,
                "blocks": s.blocks,
                "memory": s.memory.as_ref().map(|m| serde_json::json!({
                    "processResidentBytes": m.process.now_bytes,
                    "processPeakResidentBytes": m.process.peak_bytes,
                    "storeMemtableBytes": m.builder_store.memtables,
                    "storeBlockCacheBytes": m.builder_store.block_cache,
                    "storeTableReaderBytes": m.builder_store.table_readers,
                })),
            })).collect::<Vec<_>>(),
            "stages": self.lines(),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} transactions of {} put(s) of {} B values from {} accounts; strict ed25519: {:.0} verifies/s on one core",
            self.txs, self.ops_per_tx, self.value_bytes, self.accounts, self.ed25519_per_second
        )?;
        writeln!(
            f,
            "{:>10}  {:<7} {:>10} {:>12} {:>14}",
            "state keys", "stage", "tx/s", "CPU µs/tx", "of ed25519"
        )?;
        for line in self.lines() {
            writeln!(
                f,
                "{:>10}  {:<7} {:>10.0} {:>12.1} {:>13.0}%",
                line.state_keys,
                line.stage,
                line.tx_per_second,
                line.cpu_micros_per_tx,
                line.of_ed25519_limit * 100.0
            )?;
        }
        for size in &self.sizes {
            if let Some(m) = &size.memory {
                writeln!(
                    f,
                    "{:>10}  memory: process (two nodes) {} MiB resident, peak {} MiB while measuring; \
                     building node's RocksDB {} MiB (memtables {}, block cache {}, table readers {})",
                    size.state_keys,
                    m.process.now_bytes >> 20,
                    m.process.peak_bytes >> 20,
                    m.builder_store.total() >> 20,
                    m.builder_store.memtables >> 20,
                    m.builder_store.block_cache >> 20,
                    m.builder_store.table_readers >> 20,
                )?;
            }
        }
        write!(
            f,
            "node = admit + build + verify + accept on the building node; replay = verify + accept on a node that never saw the transactions"
        )
    }
}
