//! The figures of each run, and their medians over the runs, for people or as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::roots::{all_equal, NodeRoot};
use super::run::RunOutcome;
use super::stats::{median, percentile};
use super::traffic::{LinkTraffic, ALL};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFigures {
    pub planned: usize,
    pub sent: usize,
    pub taken: usize,
    /// Not sent: an earlier transaction of their account was refused, so they could never execute.
    pub skipped: usize,
    pub accepted: usize,
    /// Transactions whose last answer was a refusal, by JSON-RPC error code ("transport" for
    /// calls with no JSON-RPC answer).
    pub refused: BTreeMap<String, usize>,
    /// Sends of a transaction beyond its first (`--resend-after-ms`).
    pub resent: usize,
    /// "Try later" refusals answered by sending again, by code.
    pub refused_then_resent: BTreeMap<String, usize>,
    /// Taken transactions sent again because their account stalled.
    pub stalled_resent: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub accepted_though_refused: usize,
    /// Accepted transactions per second, from the first submission to the last acceptance.
    pub finalized_tx_per_s: f64,
    /// Accepted transactions per second while new ones kept being sent (first submission to the
    /// last first submission): what the chain kept up under the offered load.
    pub finalized_while_sending_tx_per_s: Option<f64>,
    pub puts_per_s: f64,
    pub latency: Latency,
    pub blocks: usize,
    pub txs_per_block_mean: f64,
    pub txs_per_block_max: usize,
    pub final_height: u64,
    pub roots_equal: bool,
    pub roots: Vec<NodeRoot>,
    /// CPU seconds during the run per process kind.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// Per process kind, the largest peak resident memory (VmHWM) of one of its processes since
    /// it started, read at the run's end.
    pub peak_resident_bytes: BTreeMap<String, u64>,
    pub watch_errors: u64,
    /// Why the first call without a JSON-RPC answer failed (HTTP 413, a timeout…).
    pub first_transport_error: Option<String>,
    /// The node's message the first time it refused with each code (1009 covers several limits).
    pub first_refusal_messages: BTreeMap<String, String>,
    /// The deadline ended the run before every transaction was sent and decided.
    pub timed_out: bool,
    /// What the links between the nodes carried (`--link-traffic`).
    pub link_traffic: Option<LinkTraffic>,
    /// ed25519 checks the nodes ran per accepted transaction per node (`--link-traffic`): 1.0
    /// when each node checks each transaction once.
    pub signature_checks_per_tx_per_node: Option<f64>,
}

fn millis(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

impl RunFigures {
    pub(crate) fn of(outcome: &RunOutcome, ops_per_tx: usize) -> Self {
        let t = &outcome.tally;
        let tx_per_s = match t.span {
            Some(span) if !span.is_zero() => t.accepted as f64 / span.as_secs_f64(),
            _ => 0.0,
        };
        let ours: Vec<_> = t.blocks.iter().filter(|b| b.ours > 0).collect();
        let block_txs: usize = ours.iter().map(|b| b.txs).sum();
        Self {
            planned: t.planned,
            sent: t.sent,
            taken: t.taken,
            skipped: t.skipped,
            accepted: t.accepted,
            refused: t.refused.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            resent: t.resent,
            refused_then_resent: t
                .refused_then_resent
                .iter()
                .map(|(r, n)| (r.to_string(), *n))
                .collect(),
            stalled_resent: t.stalled_resent,
            lost: t.lost,
            duplicates: t.duplicates,
            accepted_though_refused: t.accepted_though_refused,
            finalized_tx_per_s: tx_per_s,
            finalized_while_sending_tx_per_s: t
                .while_sending
                .filter(|(span, _)| !span.is_zero())
                .map(|(span, accepted)| accepted as f64 / span.as_secs_f64()),
            puts_per_s: tx_per_s * ops_per_tx as f64,
            latency: Latency {
                p50_ms: millis(percentile(&t.latencies, 50.0)),
                p95_ms: millis(percentile(&t.latencies, 95.0)),
                p99_ms: millis(percentile(&t.latencies, 99.0)),
                max_ms: millis(t.latencies.last().copied()),
            },
            blocks: ours.len(),
            txs_per_block_mean: block_txs as f64 / ours.len().max(1) as f64,
            txs_per_block_max: ours.iter().map(|b| b.txs).max().unwrap_or(0),
            final_height: outcome.watched.height,
            roots_equal: all_equal(&outcome.roots),
            roots: outcome.roots.clone(),
            cpu_seconds: outcome.cpu.clone(),
            peak_resident_bytes: outcome.peak_resident.clone(),
            watch_errors: outcome.watched.errors,
            first_transport_error: t.first_transport_error.clone(),
            first_refusal_messages: t
                .first_refusal_messages
                .iter()
                .map(|(r, m)| (r.to_string(), m.clone()))
                .collect(),
            timed_out: outcome.timed_out,
            link_traffic: outcome.traffic.clone(),
            signature_checks_per_tx_per_node: outcome.signature_checks_per_tx,
        }
    }
}

/// Medians over the runs (totals for what must be zero).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Medians {
    pub finalized_tx_per_s: Option<f64>,
    pub finalized_while_sending_tx_per_s: Option<f64>,
    pub puts_per_s: Option<f64>,
    pub latency: Latency,
    pub txs_per_block_mean: Option<f64>,
    pub cpu_seconds: BTreeMap<String, f64>,
    /// Median CPU seconds per accepted transaction, per process kind.
    pub cpu_micros_per_tx: BTreeMap<String, f64>,
    /// The largest of the runs' peak resident memory, per process kind (a peak, not a median).
    pub peak_resident_bytes: BTreeMap<String, u64>,
    /// Median bytes per link per second, by what they carried (`--link-traffic`).
    pub link_bytes_per_s: BTreeMap<String, f64>,
    /// Median bytes per link per accepted transaction, by what they carried.
    pub link_bytes_per_tx: BTreeMap<String, f64>,
    /// Median of a link's bytes per transaction as a share of a transaction's signed size.
    pub link_share_of_tx_size: Option<f64>,
    pub signature_checks_per_tx_per_node: Option<f64>,
    pub lost_total: usize,
    pub duplicates_total: usize,
    pub refused_total: usize,
    pub all_roots_equal: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub mode: &'static str,
    pub txs: usize,
    pub accounts: usize,
    pub ops_per_tx: usize,
    pub value_bytes: usize,
    pub offered_tx_per_s: Option<f64>,
    pub nodes: usize,
    pub runs: Vec<RunFigures>,
    pub median: Medians,
}

fn med(runs: &[RunFigures], f: impl Fn(&RunFigures) -> Option<f64>) -> Option<f64> {
    median(&runs.iter().filter_map(f).collect::<Vec<_>>())
}

impl Medians {
    pub(crate) fn of(runs: &[RunFigures]) -> Self {
        let kinds: std::collections::BTreeSet<&String> =
            runs.iter().flat_map(|r| r.cpu_seconds.keys()).collect();
        let per_kind = |f: &dyn Fn(&RunFigures, f64) -> f64| {
            kinds
                .iter()
                .filter_map(|&kind| {
                    let values: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| r.cpu_seconds.get(kind).map(|&s| f(r, s)))
                        .collect();
                    Some((kind.clone(), median(&values)?))
                })
                .collect()
        };
        Self {
            finalized_tx_per_s: med(runs, |r| Some(r.finalized_tx_per_s)),
            finalized_while_sending_tx_per_s: med(runs, |r| r.finalized_while_sending_tx_per_s),
            puts_per_s: med(runs, |r| Some(r.puts_per_s)),
            latency: Latency {
                p50_ms: med(runs, |r| r.latency.p50_ms),
                p95_ms: med(runs, |r| r.latency.p95_ms),
                p99_ms: med(runs, |r| r.latency.p99_ms),
                max_ms: med(runs, |r| r.latency.max_ms),
            },
            txs_per_block_mean: med(runs, |r| Some(r.txs_per_block_mean)),
            cpu_seconds: per_kind(&|_, s| s),
            cpu_micros_per_tx: per_kind(&|r, s| s * 1e6 / r.accepted.max(1) as f64),
            peak_resident_bytes: largest_peak_of_runs(runs),
            link_bytes_per_s: median_per_kind(runs, |t| &t.bytes_per_link_per_s),
            link_bytes_per_tx: median_per_kind(runs, |t| &t.bytes_per_link_per_tx),
            link_share_of_tx_size: med(runs, |r| r.link_traffic.as_ref()?.share_of_tx_size()),
            signature_checks_per_tx_per_node: med(runs, |r| r.signature_checks_per_tx_per_node),
            lost_total: runs.iter().map(|r| r.lost).sum(),
            duplicates_total: runs.iter().map(|r| r.duplicates).sum(),
            refused_total: runs.iter().flat_map(|r| r.refused.values()).sum(),
            all_roots_equal: !runs.is_empty() && runs.iter().all(|r| r.roots_equal),
        }
    }
}

/// Per kind, the median over the runs that measured their links of one of `figure`'s values.
fn median_per_kind(
    runs: &[RunFigures],
    figure: impl Fn(&LinkTraffic) -> &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for traffic in runs.iter().filter_map(|r| r.link_traffic.as_ref()) {
        for (kind, &value) in figure(traffic) {
            values.entry(kind.clone()).or_default().push(value);
        }
    }
    values
        .into_iter()
        .filter_map(|(kind, values)| Some((kind, median(&values)?)))
        .collect()
}

/// `all` first, then each kind: "12.3 (blocks 8.1, gossip 4.0, …)".
fn by_kind(values: &BTreeMap<String, f64>, unit: f64, precision: usize) -> String {
    let all = values.get(ALL).copied().unwrap_or(0.0) / unit;
    let parts: Vec<String> = values
        .iter()
        .filter(|(kind, _)| kind.as_str() != ALL)
        .map(|(kind, v)| format!("{kind} {:.precision$}", v / unit))
        .collect();
    format!("{all:.precision$} ({})", parts.join(", "))
}

/// One line on what the links carried, or nothing.
fn traffic_line(
    f: &mut fmt::Formatter<'_>,
    lead: &str,
    per_s: &BTreeMap<String, f64>,
    per_tx: &BTreeMap<String, f64>,
    share_of_tx_size: Option<f64>,
) -> fmt::Result {
    if per_s.is_empty() {
        return Ok(());
    }
    write!(
        f,
        "{lead}sent per link: KiB/s {}; B per transaction {}",
        by_kind(per_s, 1024.0, 1),
        by_kind(per_tx, 1.0, 0),
    )?;
    match share_of_tx_size {
        Some(share) => writeln!(f, " ({share:.2}× a signed transaction's size)"),
        None => writeln!(f),
    }
}

/// Each kind's largest peak resident memory over all runs.
fn largest_peak_of_runs(runs: &[RunFigures]) -> BTreeMap<String, u64> {
    let mut peaks = BTreeMap::new();
    for (kind, &bytes) in runs.iter().flat_map(|r| &r.peak_resident_bytes) {
        let largest = peaks.entry(kind.clone()).or_insert(0);
        *largest = bytes.max(*largest);
    }
    peaks
}

/// Bytes as whole MiB.
fn mib_list(bytes: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = bytes
        .iter()
        .map(|(kind, &b)| format!("{kind} {} MiB", b >> 20))
        .collect();
    parts.join(", ")
}

/// A whole-number figure with its unit, or "-" when there is none.
struct Figure(Option<f64>, &'static str);

impl Figure {
    fn ms(value: Option<f64>) -> Self {
        Self(value, "ms")
    }

    fn tx_per_s(value: Option<f64>) -> Self {
        Self(value, "tx/s")
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => write!(f, "{value:.0} {}", self.1),
            None => f.write_str("-"),
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offered = match (self.mode, self.offered_tx_per_s) {
            ("idle", _) => "one at a time".into(),
            (_, Some(rate)) => format!("offered {rate:.0} tx/s"),
            (_, None) => "sent as fast as the windows allow".into(),
        };
        writeln!(
            f,
            "kvvm load {}: {} transactions of {} put(s) of {} B from {} account(s) to {} node(s), {offered}",
            self.mode, self.txs, self.ops_per_tx, self.value_bytes, self.accounts, self.nodes
        )?;
        for (n, r) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "run {}: {:.0} tx/s ({:.0} puts/s) finalized, {} while sending; latency p50 {} p95 {} p99 {} max {}; \
                 {} blocks, {:.0} txs/block (max {}); accepted {}/{} sent, refused {:?}, skipped {}, lost {}, \
                 duplicates {}; height {}, roots {}{}",
                n + 1,
                r.finalized_tx_per_s,
                r.puts_per_s,
                Figure::tx_per_s(r.finalized_while_sending_tx_per_s),
                Figure::ms(r.latency.p50_ms),
                Figure::ms(r.latency.p95_ms),
                Figure::ms(r.latency.p99_ms),
                Figure::ms(r.latency.max_ms),
                r.blocks,
                r.txs_per_block_mean,
                r.txs_per_block_max,
                r.accepted,
                r.sent,
                r.refused,
                r.skipped,
                r.lost,
                r.duplicates,
                r.final_height,
                if r.roots_equal { "equal" } else { "DIFFER" },
                if r.timed_out { " (deadline reached)" } else { "" },
            )?;
            let cpu: Vec<String> = r
                .cpu_seconds
                .iter()
                .map(|(kind, s)| format!("{kind} {s:.1} s"))
                .collect();
            writeln!(f, "       CPU: {}", cpu.join(", "))?;
            writeln!(
                f,
                "       peak resident (largest process): {}",
                mib_list(&r.peak_resident_bytes)
            )?;
            if let Some(t) = &r.link_traffic {
                traffic_line(
                    f,
                    &format!("       {} links, ", t.links),
                    &t.bytes_per_link_per_s,
                    &t.bytes_per_link_per_tx,
                    t.share_of_tx_size(),
                )?;
            }
            if let Some(checks) = r.signature_checks_per_tx_per_node {
                writeln!(
                    f,
                    "       {checks:.2} signature checks per transaction per node"
                )?;
            }
            if r.resent > 0 || r.stalled_resent > 0 {
                writeln!(
                    f,
                    "       sent again {} time(s) after \"try later\" refusals {:?}; {} taken \
                     transaction(s) sent again as their account stalled",
                    r.resent, r.refused_then_resent, r.stalled_resent
                )?;
            }
            for (code, message) in &r.first_refusal_messages {
                writeln!(f, "       first refusal {code}: {message}")?;
            }
            if let Some(e) = &r.first_transport_error {
                writeln!(f, "       first call without a JSON-RPC answer: {e}")?;
            }
        }
        let m = &self.median;
        writeln!(
            f,
            "median of {} run(s): {:.0} tx/s finalized ({} while sending), {:.0} puts/s; latency p50 {} p95 {} p99 {}; {:.0} txs/block",
            self.runs.len(),
            m.finalized_tx_per_s.unwrap_or(0.0),
            Figure::tx_per_s(m.finalized_while_sending_tx_per_s),
            m.puts_per_s.unwrap_or(0.0),
            Figure::ms(m.latency.p50_ms),
            Figure::ms(m.latency.p95_ms),
            Figure::ms(m.latency.p99_ms),
            m.txs_per_block_mean.unwrap_or(0.0),
        )?;
        let cpu: Vec<String> = m
            .cpu_seconds
            .iter()
            .map(|(kind, s)| {
                format!(
                    "{kind} {s:.1} s ({:.0} µs/tx)",
                    m.cpu_micros_per_tx.get(kind).copied().unwrap_or(0.0)
                )
            })
            .collect();
        writeln!(f, "median CPU: {}", cpu.join(", "))?;
        writeln!(
            f,
            "peak resident over all runs (largest process): {}",
            mib_list(&m.peak_resident_bytes)
        )?;
        traffic_line(
            f,
            "median ",
            &m.link_bytes_per_s,
            &m.link_bytes_per_tx,
            m.link_share_of_tx_size,
        )?;
        if let Some(checks) = m.signature_checks_per_tx_per_node {
            writeln!(
                f,
                "median {checks:.2} signature checks per transaction per node"
            )?;
        }
        write!(
            f,
            "over all runs: lost {}, duplicates {}, refused {}, every node's root equal: {}",
            m.lost_total,
            m.duplicates_total,
            m.refused_total,
            if m.all_roots_equal { "yes" } else { "NO" }
        )
    }
}
