//! What `/metrics` reports, read at scrape time from the scoreboard (the workers' own counters,
//! right while Python is stuck), /proc (memory, CPU) and the master's book (spawns, exits,
//! the dead workers' counts); the families themselves are named in `catalog`. The totals
//! include reaped workers and never go down, the per-worker ones start again with each new
//! pid (its `pid` label).

use super::catalog::*;
use super::exposition::Exposition;
use super::per_worker::{worker_counters, worker_gauges, WorkerSample, CODES};
use crate::master::control::{cpu_ticks, listen_queue, state_of, ticks_per_second, unix_now};
use crate::master::{memory, Master, Phase};
use crate::scoreboard::{Histogram, SlotSnapshot};
use ui::protocol::WorkerState;

/// `gunicorn_rs_workers{state}` lists every state, 0 included, so a state's series exists
/// before its first worker enters it.
const STATES: [WorkerState; 9] = [
    WorkerState::Booting,
    WorkerState::Idle,
    WorkerState::Reading,
    WorkerState::App,
    WorkerState::Writing,
    WorkerState::Keepalive,
    WorkerState::Draining,
    WorkerState::TimeoutPending,
    WorkerState::Held,
];

impl Master<'_> {
    /// The whole scrape.
    pub(super) fn exposition(&mut self) -> String {
        let workers = self.worker_samples();
        let mut e = Exposition::default();
        self.server_info(&mut e);
        self.traffic_families(&mut e, &workers);
        self.pool_families(&mut e, &workers);
        worker_counters(&mut e, &workers);
        worker_gauges(&mut e, &workers);
        e.into_text()
    }

    fn worker_samples(&self) -> Vec<WorkerSample> {
        let hz = ticks_per_second();
        let mut workers: Vec<_> = self.workers.iter().collect();
        workers.sort_by_key(|w| w.slot);
        workers
            .into_iter()
            .filter_map(|w| {
                let snap = self.scoreboard.snapshot(w.slot)?;
                let pid = w.pid.as_raw();
                Some(WorkerSample {
                    slot: w.slot.to_string(),
                    pid: pid.to_string(),
                    state: state_of(w, &snap),
                    snap,
                    rss: memory::rss_bytes(pid),
                    cpu_seconds: cpu_ticks(pid).map(|t| t as f64 / hz),
                    restarts: self.book.restarts(w.slot),
                })
            })
            .collect()
    }

    /// Who is serving: version and kind, readiness, the master process itself.
    fn server_info(&self, e: &mut Exposition) {
        e.family(&INFO);
        let class = self.cfg.worker_class.name();
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("worker_class", class),
        ];
        e.count(INFO.name, &labels, 1);
        e.single(&READY, u64::from(self.readiness().0));
        let draining = matches!(self.phase, Phase::Draining { .. });
        e.single(&DRAINING, u64::from(draining));
        let started = unix_now() - self.book.started.elapsed().as_secs_f64();
        e.family(&START_TIME);
        e.sample(START_TIME.name, &[], started.floor());
        let me = self.pid.as_raw();
        if let Some(rss) = memory::rss_bytes(me) {
            e.single(&MASTER_RSS, rss);
        }
        if let Some(ticks) = cpu_ticks(me) {
            e.family(&MASTER_CPU);
            e.sample(MASTER_CPU.name, &[], ticks as f64 / ticks_per_second());
        }
    }

    /// Requests and responses over the server's life: live workers plus reaped ones.
    fn traffic_families(&self, e: &mut Exposition, workers: &[WorkerSample]) {
        let book = &self.book;
        let mut latency: Histogram = book.dead_latency;
        let mut status = book.dead_status;
        let (mut requests, mut exceptions) = (book.dead_requests, book.dead_exceptions);
        for w in workers {
            latency.merge(&w.snap.latency);
            requests += w.snap.requests;
            exceptions += w.snap.exceptions;
            for (total, n) in status.iter_mut().zip(w.snap.status) {
                *total += n;
            }
        }
        e.single(&REQUESTS, requests);
        e.family(&RESPONSES);
        for (code, n) in CODES.iter().zip(status) {
            e.count(RESPONSES.name, &[("code", code)], n);
        }
        e.single(&EXCEPTIONS, exceptions);
        e.family(&DURATION);
        e.histogram(DURATION.name, &[], &latency);
        let sum = |f: fn(&SlotSnapshot) -> u32| workers.iter().map(|w| u64::from(f(&w.snap))).sum();
        e.single(&IN_FLIGHT, sum(|s| s.in_flight));
        e.single(&CONNECTIONS, sum(|s| s.connections));
        e.single(&KEEPALIVE, sum(|s| s.keepalive));
    }

    /// The worker pool: how many in each state, spawned, killed, exited, timed out; the
    /// listen queue in front of them.
    fn pool_families(&self, e: &mut Exposition, workers: &[WorkerSample]) {
        e.family(&WORKERS);
        for state in STATES {
            let n = workers.iter().filter(|w| w.state == state).count();
            e.count(WORKERS.name, &[("state", state.label())], n as u64);
        }
        let busy = workers.iter().filter(|w| w.state.is_busy()).count();
        e.single(&BUSY, busy as u64);
        e.single(&DESIRED, self.num_workers as u64);
        let book = &self.book;
        e.single(&SPAWNED, book.spawned);
        e.single(&KILLED, book.killed);
        e.family(&EXITS);
        for (cause, n) in &book.exits {
            e.count(EXITS.name, &[("reason", cause_label(*cause))], *n);
        }
        e.single(&TIMEOUTS, book.timeouts);
        e.single(&RELOADS, book.generation);
        e.family(&BACKLOG);
        for l in &self.listeners {
            if let Some(depth) = listen_queue(l.raw_fd()) {
                let listener = l.to_string();
                e.count(BACKLOG.name, &[("listener", &listener)], u64::from(depth));
            }
        }
    }
}

/// The exit cause in the control protocol's words (its serde names).
fn cause_label(cause: ui::protocol::ExitCause) -> &'static str {
    use ui::protocol::ExitCause::*;
    match cause {
        Exited => "exited",
        Crashed => "crashed",
        Timeout => "timeout",
        MaxRequests => "max_requests",
        Stopped => "stopped",
        Restarted => "restarted",
        Reload => "reload",
        Removed => "removed",
        Shutdown => "shutdown",
        BootError => "boot_error",
        AppLoadError => "app_load_error",
        Unknown => "unknown",
    }
}
