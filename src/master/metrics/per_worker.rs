//! The per-worker families of `/metrics`: one series per live worker, labelled with its
//! scoreboard slot (`worker`, stable across restarts) and its `pid` (new with each worker, so
//! a counter that starts again at zero is a new series, not a reset).

use super::catalog::*;
use super::exposition::Exposition;
use crate::scoreboard::{now_ms, SlotSnapshot, STATUS_CLASSES};
use ui::protocol::WorkerState;

pub(super) const CODES: [&str; STATUS_CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One live worker, read once per scrape.
pub(super) struct WorkerSample {
    pub slot: String,
    pub pid: String,
    pub snap: SlotSnapshot,
    pub state: WorkerState,
    pub rss: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub restarts: u32,
}

impl WorkerSample {
    fn labels(&self) -> [(&str, &str); 2] {
        [("worker", self.slot.as_str()), ("pid", self.pid.as_str())]
    }
}

/// Per-worker counters; they start again at zero with each new worker (a new `pid`).
pub(super) fn worker_counters(e: &mut Exposition, workers: &[WorkerSample]) {
    e.each(&W_REQUESTS, workers, |w| {
        labelled(w, w.snap.requests as f64)
    });
    e.family(&W_RESPONSES);
    for w in workers {
        let [slot, pid] = w.labels();
        for (code, n) in CODES.iter().zip(w.snap.status) {
            e.count(W_RESPONSES.name, &[slot, pid, ("code", code)], n);
        }
    }
    e.each(&W_EXCEPTIONS, workers, |w| {
        labelled(w, w.snap.exceptions as f64)
    });
    e.family(&W_DURATION);
    for w in workers {
        e.histogram(W_DURATION.name, &w.labels(), &w.snap.latency);
    }
    e.each(&W_CPU, workers, |w| labelled(w, w.cpu_seconds?));
    e.each(&W_RESTARTS, workers, |w| {
        Some((vec![("worker", w.slot.as_str())], f64::from(w.restarts)))
    });
}

/// Per-worker gauges: what it does now.
pub(super) fn worker_gauges(e: &mut Exposition, workers: &[WorkerSample]) {
    let now = now_ms();
    let seconds_since = |ms: u64| now.saturating_sub(ms) as f64 / 1000.0;
    e.each(&W_IN_FLIGHT, workers, |w| {
        labelled(w, f64::from(w.snap.in_flight))
    });
    e.each(&W_CONNECTIONS, workers, |w| {
        labelled(w, f64::from(w.snap.connections))
    });
    e.each(&W_KEEPALIVE, workers, |w| {
        labelled(w, f64::from(w.snap.keepalive))
    });
    e.each(&W_BUSY, workers, |w| {
        labelled(w, f64::from(u8::from(w.state.is_busy())))
    });
    e.each(&W_HEARTBEAT, workers, |w| {
        labelled(w, seconds_since(w.snap.heartbeat_ms))
    });
    e.each(&W_UPTIME, workers, |w| {
        labelled(w, seconds_since(w.snap.boot_ms))
    });
    e.each(&W_RSS, workers, |w| labelled(w, w.rss? as f64));
}

/// A sample of `w` with its labels.
fn labelled(w: &WorkerSample, value: f64) -> Option<(Vec<(&str, &str)>, f64)> {
    Some((w.labels().into(), value))
}
