//! The per-worker families of `/metrics`: one series per live worker, labelled with its
//! scoreboard slot (`worker`, stable across restarts) and its `pid` (new with each worker, so
//! a counter that starts again at zero is a new series, not a reset).

use super::exposition::{Exposition, Kind};
use crate::scoreboard::{now_ms, SlotSnapshot, STATUS_CLASSES};
use ui::protocol::WorkerState;

pub(super) const CODES: [&str; STATUS_CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub(super) const SUM_NOTE: &str = "(_sum approximated from bucket midpoints: no exact sum is kept)";

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
    e.family(
        "gunicorn_rs_worker_requests_total",
        Kind::Counter,
        "Requests this worker started.",
    );
    for w in workers {
        e.count(
            "gunicorn_rs_worker_requests_total",
            &w.labels(),
            w.snap.requests,
        );
    }
    e.family(
        "gunicorn_rs_worker_responses_total",
        Kind::Counter,
        "Responses of this worker by status class.",
    );
    for w in workers {
        let [slot, pid] = w.labels();
        for (code, n) in CODES.iter().zip(w.snap.status) {
            e.count(
                "gunicorn_rs_worker_responses_total",
                &[slot, pid, ("code", code)],
                n,
            );
        }
    }
    e.family(
        "gunicorn_rs_worker_exceptions_total",
        Kind::Counter,
        "Requests of this worker whose app raised.",
    );
    for w in workers {
        e.count(
            "gunicorn_rs_worker_exceptions_total",
            &w.labels(),
            w.snap.exceptions,
        );
    }
    let help = format!("This worker's request durations, in seconds {SUM_NOTE}.");
    e.family(
        "gunicorn_rs_worker_request_duration_seconds",
        Kind::Histogram,
        &help,
    );
    for w in workers {
        e.histogram(
            "gunicorn_rs_worker_request_duration_seconds",
            &w.labels(),
            &w.snap.latency,
        );
    }
    e.family(
        "gunicorn_rs_worker_cpu_seconds_total",
        Kind::Counter,
        "CPU time (user and system) of this worker, in seconds (/proc/PID/stat).",
    );
    for w in workers.iter().filter(|w| w.cpu_seconds.is_some()) {
        e.sample(
            "gunicorn_rs_worker_cpu_seconds_total",
            &w.labels(),
            w.cpu_seconds.unwrap_or(0.0),
        );
    }
    e.family(
        "gunicorn_rs_worker_restarts_total",
        Kind::Counter,
        "Workers spawned into this slot after its first.",
    );
    for w in workers {
        e.count(
            "gunicorn_rs_worker_restarts_total",
            &[("worker", &w.slot)],
            u64::from(w.restarts),
        );
    }
}

/// A per-worker gauge's value, from the sample and the time now (monotonic ms).
type GaugeOf = fn(&WorkerSample, u64) -> Option<f64>;

/// Per-worker gauges: what it does now.
pub(super) fn worker_gauges(e: &mut Exposition, workers: &[WorkerSample]) {
    let now = now_ms();
    let gauges: [(&str, &str, GaugeOf); 7] = [
        (
            "gunicorn_rs_worker_requests_in_flight",
            "Requests this worker serves now.",
            |w, _| Some(f64::from(w.snap.in_flight)),
        ),
        (
            "gunicorn_rs_worker_connections",
            "Open client connections of this worker.",
            |w, _| Some(f64::from(w.snap.connections)),
        ),
        (
            "gunicorn_rs_worker_keepalive_connections",
            "Idle kept-alive connections of this worker.",
            |w, _| Some(f64::from(w.snap.keepalive)),
        ),
        (
            "gunicorn_rs_worker_busy",
            "1 while this worker serves a request.",
            |w, _| Some(f64::from(u8::from(w.state.is_busy()))),
        ),
        (
            "gunicorn_rs_worker_heartbeat_age_seconds",
            "Seconds since this worker's last heartbeat (--timeout kills it past the limit).",
            |w, now| Some(now.saturating_sub(w.snap.heartbeat_ms) as f64 / 1000.0),
        ),
        (
            "gunicorn_rs_worker_uptime_seconds",
            "Seconds since this worker was forked.",
            |w, now| Some(now.saturating_sub(w.snap.boot_ms) as f64 / 1000.0),
        ),
        (
            "gunicorn_rs_worker_resident_memory_bytes",
            "Resident memory of this worker, in bytes (/proc/PID/statm).",
            |w, _| w.rss.map(|b| b as f64),
        ),
    ];
    for (name, help, value) in gauges {
        e.family(name, Kind::Gauge, help);
        for w in workers {
            if let Some(v) = value(w, now) {
                e.sample(name, &w.labels(), v);
            }
        }
    }
}
