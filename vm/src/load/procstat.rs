//! CPU time and resident memory of processes (the nodes and their plugins, or this one), read from
//! `/proc/PID/stat` and `/proc/PID/status`.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::LoadError;

/// Processes whose CPU a run reports, by kind: `--cpu-of kvvm=12,13`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessGroup {
    pub kind: String,
    pub pids: Vec<u32>,
}

impl FromStr for ProcessGroup {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, pids) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not KIND=PID[,PID…]"))?;
        if kind.is_empty() {
            return Err(format!("{s:?} names no kind"));
        }
        let pids = pids
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().map_err(|e| format!("pid {p:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if pids.is_empty() {
            return Err(format!("{s:?} lists no pid"));
        }
        Ok(Self {
            kind: kind.to_string(),
            pids,
        })
    }
}

/// User plus system CPU seconds in the text of a `/proc/PID/stat`: fields 14 and 15, counted
/// after the command name, which is in parentheses and may itself hold spaces or parentheses.
pub(crate) fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system and has no other effect.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Reads `/proc/PID/FILE` and parses it with `parse`; `expected` says what a text `parse` refuses
/// lacks.
fn read_proc<T>(
    pid: u32,
    file: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    expected: &str,
) -> Result<T, LoadError> {
    let path = format!("/proc/{pid}/{file}");
    let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Process {
        pid,
        reason: e.to_string(),
    })?;
    parse(&text).ok_or_else(|| LoadError::Process {
        pid,
        reason: format!("{path} {expected}"),
    })
}

/// CPU seconds `pid` has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, LoadError> {
    let ticks = read_proc(
        pid,
        "stat",
        parse_cpu_ticks,
        "does not have the expected fields",
    )?;
    Ok(ticks as f64 / ticks_per_second())
}

/// CPU seconds used so far by each kind's processes together.
pub(crate) fn snapshot(groups: &[ProcessGroup]) -> Result<BTreeMap<String, f64>, LoadError> {
    let mut totals = BTreeMap::new();
    for group in groups {
        let mut sum = 0.0;
        for &pid in &group.pids {
            sum += cpu_seconds(pid)?;
        }
        *totals.entry(group.kind.clone()).or_insert(0.0) += sum;
    }
    Ok(totals)
}

/// What each kind used between two snapshots.
pub(crate) fn used(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(kind, end)| (kind.clone(), end - before.get(kind).copied().unwrap_or(0.0)))
        .collect()
}

/// A process's resident memory, from the `VmRSS` and `VmHWM` lines of `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resident {
    pub(crate) now_bytes: u64,
    /// The most it has held since it started, or since its peak was last reset.
    pub(crate) peak_bytes: u64,
}

/// The resident memory in the text of a `/proc/PID/status` (sizes in kB, meaning KiB).
pub(crate) fn parse_resident(status: &str) -> Option<Resident> {
    let bytes_of = |field: &str| {
        status.lines().find_map(|line| {
            let kib = line.strip_prefix(field)?.strip_prefix(':')?;
            kib.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Resident {
        now_bytes: bytes_of("VmRSS")?.checked_mul(1024)?,
        peak_bytes: bytes_of("VmHWM")?.checked_mul(1024)?,
    })
}

/// `pid`'s resident memory now and at its peak.
pub(crate) fn resident(pid: u32) -> Result<Resident, LoadError> {
    read_proc(pid, "status", parse_resident, "has no VmRSS or VmHWM line")
}

/// Starts this process's peak anew from what it holds now (Linux: `5` into `/proc/self/clear_refs`).
pub(crate) fn reset_own_peak() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// The largest peak resident memory among each kind's processes; a process that has exited is
/// left out (its kind's CPU figure already says so).
pub(crate) fn largest_peaks(groups: &[ProcessGroup]) -> BTreeMap<String, u64> {
    let mut peaks = BTreeMap::new();
    for group in groups {
        for &pid in &group.pids {
            if let Ok(memory) = resident(pid) {
                let largest = peaks.entry(group.kind.clone()).or_insert(0);
                *largest = memory.peak_bytes.max(*largest);
            }
        }
    }
    peaks
}
