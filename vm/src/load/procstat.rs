//! CPU time of other processes (the nodes and their plugins), read from `/proc/PID/stat`.

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

/// CPU seconds `pid` has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, LoadError> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Process {
        pid,
        reason: e.to_string(),
    })?;
    let ticks = parse_cpu_ticks(&text).ok_or_else(|| LoadError::Process {
        pid,
        reason: format!("{path} does not have the expected fields"),
    })?;
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
