//! `--max-worker-memory MiB` (gunicorn-rs only; users ask for it, `gunicorn-users.md` §5):
//! about once a second the master reads each worker's resident set size from
//! /proc (through [`ui::procstat`], the one /proc reader) and recycles a worker above the
//! limit the graceful way — marked for replacement, so its successor is spawned first and it
//! gets TERM (finishing its request) once the successor has booted (`maintain_worker_count`).

use super::Master;
use std::time::{Duration, Instant};

/// How often RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// When the workers' memory was last sampled.
#[derive(Debug)]
pub(super) struct MemoryWatch {
    last: Instant,
}

impl MemoryWatch {
    pub fn new() -> MemoryWatch {
        MemoryWatch {
            last: Instant::now(),
        }
    }
}

/// Resident set size of `pid` in bytes (`None` once it is gone).
pub fn rss_bytes(pid: i32) -> Option<u64> {
    ui::procstat::read(pid).map(|s| s.rss_bytes)
}

const MIB: u64 = 1024 * 1024;

impl Master<'_> {
    /// Mark every worker over the limit for replacement (at most once a second).
    pub(super) fn check_worker_memory(&mut self) {
        let Some(limit) = self.cfg.max_worker_memory else {
            return;
        };
        if self.memory.last.elapsed() < SAMPLE_EVERY {
            return;
        }
        self.memory.last = Instant::now();
        for worker in self.workers.iter_mut() {
            // Already on its way out: its successor is coming anyway.
            if !worker.lifecycle.is_serving() {
                continue;
            }
            let Some(rss) = rss_bytes(worker.pid.as_raw()) else {
                continue;
            };
            if rss > limit {
                crate::info!(
                    "Worker (pid:{}) recycled: RSS {} MiB over --max-worker-memory {} MiB",
                    worker.pid,
                    rss / MIB,
                    limit / MIB
                );
                worker.lifecycle.replace();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_rss() {
        let rss = rss_bytes(std::process::id() as i32).unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
        assert_eq!(rss_bytes(-1), None);
    }
}
