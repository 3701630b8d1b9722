//! CPU % and RSS of the worker pids, read by the dashboard from /proc at 1 Hz (tui.md rows 6–7:
//! htop's and bottom's way; the master does no extra work for it). CPU % is the share of one
//! core between two samples, so the first sample of a pid yields none.

use std::collections::HashMap;
use std::time::Instant;

use crate::app::ProcSample;

#[derive(Debug, Default)]
pub struct ProcSampler {
    /// Per pid: utime + stime in clock ticks, and when they were read.
    previous: HashMap<i32, (u64, Instant)>,
}

impl ProcSampler {
    pub fn sample(&mut self, pids: &[i32]) -> HashMap<i32, ProcSample> {
        let ticks_per_sec = procfs::ticks_per_second() as f64;
        let page = procfs::page_size();
        let now = Instant::now();
        let mut out = HashMap::new();
        for &pid in pids {
            // The pid may have exited since the snapshot: skip it, the next snapshot drops it.
            let Ok(stat) = procfs::process::Process::new(pid).and_then(|p| p.stat()) else {
                continue;
            };
            let ticks = stat.utime + stat.stime;
            if let Some((prev_ticks, at)) = self.previous.get(&pid) {
                let secs = now.duration_since(*at).as_secs_f64();
                if secs > 0.0 && ticks_per_sec > 0.0 {
                    let cpu =
                        ticks.saturating_sub(*prev_ticks) as f64 / ticks_per_sec / secs * 100.0;
                    out.insert(
                        pid,
                        ProcSample {
                            cpu_percent: cpu,
                            rss_bytes: stat.rss * page,
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
