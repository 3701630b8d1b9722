//! CPU time and resident memory of a process from /proc — the one reader for both sides: the
//! master's `--max-worker-memory`, `show workers` and `/metrics`, and the dashboard, which
//! samples the worker pids itself at 1 Hz (tui.md rows 6–7: htop's and bottom's way; the
//! master does no extra work for it). CPU % is the share of one core between two samples, so
//! the dashboard's first sample of a pid yields none.

use std::collections::HashMap;
use std::time::Instant;

use crate::app::ProcSample;

/// One read of `/proc/PID/stat` (proc(5): fields 14 `utime`, 15 `stime` and 24 `rss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `utime + stime`, in clock ticks ([`ticks_per_second`]).
    pub cpu_ticks: u64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

/// CPU time and RSS of `pid`; `None` once it is gone (or /proc is unreadable).
pub fn read(pid: i32) -> Option<ProcStat> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some(ProcStat {
        cpu_ticks: stat.utime + stat.stime,
        rss_bytes: stat.rss * procfs::page_size(),
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of [`ProcStat::cpu_ticks`].
pub fn ticks_per_second() -> u64 {
    procfs::ticks_per_second()
}

#[derive(Debug, Default)]
pub struct ProcSampler {
    /// Per pid: utime + stime in clock ticks, and when they were read.
    previous: HashMap<i32, (u64, Instant)>,
}

impl ProcSampler {
    pub fn sample(&mut self, pids: &[i32]) -> HashMap<i32, ProcSample> {
        let ticks_per_sec = ticks_per_second() as f64;
        let now = Instant::now();
        let mut out = HashMap::new();
        for &pid in pids {
            // The pid may have exited since the snapshot: skip it, the next snapshot drops it.
            let Some(stat) = read(pid) else {
                continue;
            };
            let ticks = stat.cpu_ticks;
            if let Some((prev_ticks, at)) = self.previous.get(&pid) {
                let secs = now.duration_since(*at).as_secs_f64();
                if secs > 0.0 && ticks_per_sec > 0.0 {
                    let cpu =
                        ticks.saturating_sub(*prev_ticks) as f64 / ticks_per_sec / secs * 100.0;
                    out.insert(
                        pid,
                        ProcSample {
                            cpu_percent: cpu,
                            rss_bytes: stat.rss_bytes,
                        },
                    );
                }
            }
            self.previous.insert(pid, (ticks, now));
        }
        self.previous.retain(|pid, _| pids.contains(pid));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_nothing_for_a_missing_pid() {
        let me = read(std::process::id() as i32).expect("our own /proc/self/stat");
        assert!(me.rss_bytes > 1024 * 1024, "{me:?}");
        assert_eq!(read(-1), None);
        assert_eq!(read(i32::MAX), None);
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn samples_this_process_on_the_second_call() {
        let me = std::process::id() as i32;
        let mut sampler = ProcSampler::default();
        assert!(sampler.sample(&[me]).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = sampler.sample(&[me, i32::MAX]);
        assert!(second[&me].rss_bytes > 0);
        assert!(!second.contains_key(&i32::MAX));
    }
}
