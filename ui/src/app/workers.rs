//! The worker table's data: one row per scoreboard slot, kept in place across respawns, with the
//! rates and /proc figures the dashboard computes itself (tui.md rows 3–7: the reader diffs
//! counters, the master does no extra work).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::protocol::{Snapshot, Stats, WorkerInfo};

/// Seconds of req/s history in the header sparkline.
pub const RATE_HISTORY: usize = 60;
/// Rates are recomputed at most this often, so a 4 Hz snapshot stream does not make them jitter.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// CPU and memory of one pid, read from /proc by the dashboard's loop.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub info: WorkerInfo,
    /// Requests per second over the last window; `None` until two samples exist.
    pub rate: Option<f64>,
    pub proc: Option<ProcSample>,
}

impl Row {
    pub fn cpu_percent(&self) -> Option<f64> {
        self.proc.map(|p| p.cpu_percent).or(self.info.cpu_percent)
    }

    pub fn rss_bytes(&self) -> Option<u64> {
        self.proc.map(|p| p.rss_bytes).or(self.info.rss_bytes)
    }

    /// Seconds the current request has run, 0 when idle.
    pub fn elapsed(&self) -> f64 {
        match &self.info.request {
            Some(req) if self.info.state.is_busy() => req.elapsed,
            _ => 0.0,
        }
    }
}

/// A counter sample for rate computation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    pid: i32,
    requests: u64,
    at: Duration,
}

/// Everything the header and the table show; cloned whole to freeze the display.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workers {
    pub stats: Stats,
    pub rows: BTreeMap<u32, Row>,
    /// Server-wide req/s, one value per window, newest last.
    pub rate_history: VecDeque<u64>,
    pub rate: Option<f64>,
    samples: HashMap<u32, Sample>,
    total_sample: Option<(u64, Duration)>,
    /// True once a snapshot arrived.
    pub loaded: bool,
}

impl Workers {
    /// Takes a snapshot received at `now`. Returns the slots whose pid changed, with the old
    /// row, so the caller can record what the previous worker was doing.
    pub fn ingest(&mut self, snap: Snapshot, now: Duration) -> Vec<Row> {
        let mut replaced = Vec::new();
        let mut rows = BTreeMap::new();
        for info in snap.workers {
            let old = self.rows.remove(&info.slot);
            let same_pid = old.as_ref().is_some_and(|o| o.info.pid == info.pid);
            let proc = old.as_ref().filter(|_| same_pid).and_then(|o| o.proc);
            let rate = old.as_ref().filter(|_| same_pid).and_then(|o| o.rate);
            if let Some(old) = old.filter(|_| !same_pid) {
                replaced.push(old);
            }
            rows.insert(info.slot, Row { info, rate, proc });
        }
        self.rows = rows;
        self.stats = snap.stats;
        self.loaded = true;
        self.update_rates(now);
        replaced
    }

    fn update_rates(&mut self, now: Duration) {
        let total = self.stats.requests;
        let due = self
            .total_sample
            .is_none_or(|(_, at)| now.saturating_sub(at) >= RATE_WINDOW);
        if !due {
            return;
        }
        if let Some((prev, at)) = self.total_sample {
            let rate = per_second(total.saturating_sub(prev), now.saturating_sub(at));
            self.rate = self.stats.req_per_s.or(Some(rate));
            if self.rate_history.len() == RATE_HISTORY {
                self.rate_history.pop_front();
            }
            self.rate_history
                .push_back(self.rate.unwrap_or(0.0).round() as u64);
        }
        self.total_sample = Some((total, now));
        for (slot, row) in &mut self.rows {
            let sample = Sample {
                pid: row.info.pid,
                requests: row.info.requests,
                at: now,
            };
            if let Some(prev) = self.samples.get(slot).filter(|p| p.pid == row.info.pid) {
                row.rate = Some(per_second(
                    row.info.requests.saturating_sub(prev.requests),
                    now - prev.at,
                ));
            }
            self.samples.insert(*slot, sample);
        }
        self.samples.retain(|slot, _| self.rows.contains_key(slot));
    }

    /// Applies a /proc sample; pids not in it (exited, or /proc unreadable) keep the server's
    /// figures, if any.
    pub fn apply_proc(&mut self, samples: &HashMap<i32, ProcSample>) {
        for row in self.rows.values_mut() {
            row.proc = samples.get(&row.info.pid).copied();
        }
    }

    /// Live pids, for the /proc sampler.
    pub fn live_pids(&self) -> Vec<i32> {
        self.rows
            .values()
            .filter(|r| r.info.state.is_alive() && r.info.pid > 0)
            .map(|r| r.info.pid)
            .collect()
    }

    /// Requests being served right now (every busy thread of a threaded worker).
    pub fn in_flight(&self) -> usize {
        self.rows
            .values()
            .map(|r| r.info.requests_in_flight())
            .sum()
    }

    /// A server whose workers run threads (`gthread`): the table then shows busy/threads.
    pub fn threaded(&self) -> bool {
        let class = self.stats.worker_class.as_str();
        !matches!(class, "" | "sync") || self.rows.values().any(|r| r.info.is_threaded())
    }

    pub fn busy(&self) -> usize {
        self.rows
            .values()
            .filter(|r| r.info.state.is_busy())
            .count()
    }

    pub fn idle(&self) -> usize {
        self.rows
            .values()
            .filter(|r| r.info.state.is_alive() && !r.info.state.is_busy())
            .count()
    }

    pub fn pid_of(&self, slot: u32) -> Option<i32> {
        self.rows
            .get(&slot)
            .map(|r| r.info.pid)
            .filter(|pid| *pid > 0)
    }
}

fn per_second(delta: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        delta as f64 / secs
    }
}

/// Column the table is sorted by. `Stalled` is the default (web-top's idea, tui.md row 24):
/// the longest-running request on top, so a stuck worker is the first thing on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Stalled,
    Slot,
    Requests,
    Rate,
    Cpu,
    Memory,
    Age,
    Restarts,
    Latency,
}

impl SortKey {
    const CYCLE: [SortKey; 9] = [
        SortKey::Stalled,
        SortKey::Slot,
        SortKey::Requests,
        SortKey::Rate,
        SortKey::Cpu,
        SortKey::Memory,
        SortKey::Age,
        SortKey::Restarts,
        SortKey::Latency,
    ];

    pub fn next(self) -> SortKey {
        let i = Self::CYCLE.iter().position(|k| *k == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Stalled => "stalled",
            SortKey::Slot => "slot",
            SortKey::Requests => "requests",
            SortKey::Rate => "req/s",
            SortKey::Cpu => "cpu",
            SortKey::Memory => "rss",
            SortKey::Age => "age",
            SortKey::Restarts => "restarts",
            SortKey::Latency => "p99",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub inverted: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::Stalled,
            inverted: false,
        }
    }
}

impl Sort {
    /// Rows in display order. Ties fall back to the slot, so equal rows never swap places
    /// between two frames.
    pub fn order<'a>(&self, workers: &'a Workers) -> Vec<&'a Row> {
        let mut rows: Vec<&Row> = workers.rows.values().collect();
        let key = |r: &Row| -> f64 {
            match self.key {
                SortKey::Stalled => r.elapsed(),
                SortKey::Slot => -f64::from(r.info.slot),
                SortKey::Requests => r.info.requests as f64,
                SortKey::Rate => r.rate.unwrap_or(0.0),
                SortKey::Cpu => r.cpu_percent().unwrap_or(0.0),
                SortKey::Memory => r.rss_bytes().unwrap_or(0) as f64,
                SortKey::Age => r.info.uptime,
                SortKey::Restarts => f64::from(r.info.restarts),
                SortKey::Latency => r.info.p99_ms.unwrap_or(0.0),
            }
        };
        // Descending by key (biggest first), then ascending slot.
        rows.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then(a.info.slot.cmp(&b.info.slot))
        });
        if self.inverted {
            rows.reverse();
        }
        rows
    }
}
