//! Wall time and process CPU time spent in one stage, summed over its runs.
//!
//! CPU time is the whole process's (every thread's, RocksDB's background work included), read
//! with `getrusage`; stages run one at a time, so what a stage's run adds is that stage's cost.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
}

impl Tally {
    /// Runs `work`, adding its wall and CPU time to the tally.
    pub(crate) fn time<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let cpu_before = process_cpu_time();
        let started = Instant::now();
        let out = work();
        self.wall += started.elapsed();
        self.cpu += process_cpu_time().saturating_sub(cpu_before);
        out
    }

    pub(crate) fn plus(self, other: Tally) -> Tally {
        Tally {
            wall: self.wall + other.wall,
            cpu: self.cpu + other.cpu,
        }
    }

    /// Transactions per second of wall time.
    pub(crate) fn per_second(&self, txs: u64) -> f64 {
        txs as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Microseconds of CPU per transaction.
    pub(crate) fn cpu_micros_per(&self, txs: u64) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / txs.max(1) as f64
    }
}

/// User plus system CPU time of this process so far.
fn process_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the struct it is given, which is zeroed and ours.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let of = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    of(usage.ru_utime) + of(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_cpu_time() -> Duration {
        // SAFETY: as in `process_cpu_time`.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            usage
        };
        Duration::from_secs(usage.ru_utime.tv_sec as u64)
            + Duration::from_micros(usage.ru_utime.tv_usec as u64)
    }

    /// Spins until this thread alone has used `cpu`, however busy the machine is.
    fn spin_for(cpu: Duration) {
        let until = thread_cpu_time() + cpu;
        let mut x = 0u64;
        while thread_cpu_time() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    // Lower bounds only: other tests run in this process at the same time, and their CPU counts.
    #[test]
    fn cpu_spent_in_each_run_is_summed() {
        let mut tally = Tally::default();
        for _ in 0..2 {
            tally.time(|| spin_for(Duration::from_millis(40)));
        }
        assert!(tally.cpu >= Duration::from_millis(80), "{tally:?}");
        assert!(tally.wall >= Duration::from_millis(80), "{tally:?}");
        assert!(tally.cpu_micros_per(80) >= 1000.0, "{tally:?}");
    }
}
