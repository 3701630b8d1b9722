//! What `/metrics` reports, read at scrape time from the scoreboard (the workers' own counters,
//! right while Python is stuck), /proc (memory, CPU) and the master's book (spawns, exits,
//! the dead workers' counts). Names follow Prometheus' naming guide: a `gunicorn_rs_` prefix,
//! base units (seconds, bytes), counters ending in `_total`.
//!
//! Server totals and per-worker series are separate families (`gunicorn_rs_requests_total`
//! and `gunicorn_rs_worker_requests_total`), so summing a family never counts twice; the
//! totals include reaped workers and never go down, the per-worker ones start again with each
//! new pid (its `pid` label).

use super::exposition::{Exposition, Kind};
use super::per_worker::{worker_counters, worker_gauges, WorkerSample, CODES, SUM_NOTE};
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
        e.family(
            "gunicorn_rs_info",
            Kind::Gauge,
            "Always 1: the server's version and worker class.",
        );
        let version = env!("CARGO_PKG_VERSION");
        let class = self.cfg.worker_class.name();
        e.count(
            "gunicorn_rs_info",
            &[("version", version), ("worker_class", class)],
            1,
        );
        e.single(
            "gunicorn_rs_ready",
            Kind::Gauge,
            "1 while /readyz answers 200: a worker serves and no stop began.",
            u64::from(self.readiness().0),
        );
        e.single(
            "gunicorn_rs_draining",
            Kind::Gauge,
            "1 during --shutdown-delay after TERM: still serving, not ready.",
            u64::from(matches!(self.phase, Phase::Draining { .. })),
        );
        let me = self.pid.as_raw();
        let started = unix_now() - self.book.started.elapsed().as_secs_f64();
        e.family(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the master process since the Unix epoch, in seconds.",
        );
        e.sample("process_start_time_seconds", &[], started.floor());
        if let Some(rss) = memory::rss_bytes(me) {
            e.single(
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory of the master process, in bytes.",
                rss,
            );
        }
        if let Some(ticks) = cpu_ticks(me) {
            e.family(
                "process_cpu_seconds_total",
                Kind::Counter,
                "CPU time (user and system) of the master process, in seconds.",
            );
            e.sample(
                "process_cpu_seconds_total",
                &[],
                ticks as f64 / ticks_per_second(),
            );
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
        e.single(
            "gunicorn_rs_requests_total",
            Kind::Counter,
            "Requests started by any worker, reaped ones included.",
            requests,
        );
        e.family(
            "gunicorn_rs_responses_total",
            Kind::Counter,
            "Responses by status class, reaped workers included.",
        );
        for (code, n) in CODES.iter().zip(status) {
            e.count("gunicorn_rs_responses_total", &[("code", code)], n);
        }
        e.single(
            "gunicorn_rs_exceptions_total",
            Kind::Counter,
            "Requests whose app raised, reaped workers included.",
            exceptions,
        );
        let help = format!(
            "Time from a complete request head to the response written, in seconds {SUM_NOTE}."
        );
        e.family(
            "gunicorn_rs_request_duration_seconds",
            Kind::Histogram,
            &help,
        );
        e.histogram("gunicorn_rs_request_duration_seconds", &[], &latency);
        let sum = |f: fn(&SlotSnapshot) -> u32| workers.iter().map(|w| u64::from(f(&w.snap))).sum();
        e.single(
            "gunicorn_rs_requests_in_flight",
            Kind::Gauge,
            "Requests being served now, all workers.",
            sum(|s| s.in_flight),
        );
        e.single(
            "gunicorn_rs_connections",
            Kind::Gauge,
            "Open client connections, all workers.",
            sum(|s| s.connections),
        );
        e.single(
            "gunicorn_rs_keepalive_connections",
            Kind::Gauge,
            "Idle kept-alive client connections, all workers.",
            sum(|s| s.keepalive),
        );
    }

    /// The worker pool: how many in each state, spawned, killed, exited, timed out; the
    /// listen queue in front of them.
    fn pool_families(&self, e: &mut Exposition, workers: &[WorkerSample]) {
        e.family("gunicorn_rs_workers", Kind::Gauge, "Live workers by state.");
        for state in STATES {
            let n = workers.iter().filter(|w| w.state == state).count();
            e.count("gunicorn_rs_workers", &[("state", state.label())], n as u64);
        }
        let busy = workers.iter().filter(|w| w.state.is_busy()).count();
        e.single(
            "gunicorn_rs_workers_busy",
            Kind::Gauge,
            "Live workers serving a request.",
            busy as u64,
        );
        e.single(
            "gunicorn_rs_workers_desired",
            Kind::Gauge,
            "The number of workers the master keeps (--workers, TTIN, TTOU).",
            self.num_workers as u64,
        );
        let book = &self.book;
        e.single(
            "gunicorn_rs_workers_spawned_total",
            Kind::Counter,
            "Workers forked.",
            book.spawned,
        );
        e.single(
            "gunicorn_rs_workers_killed_total",
            Kind::Counter,
            "TERM and KILL signals the master sent to workers (Gunicorn's workers_killed).",
            book.killed,
        );
        e.family(
            "gunicorn_rs_worker_exits_total",
            Kind::Counter,
            "Workers reaped, by why they ended.",
        );
        for (cause, n) in &book.exits {
            e.count(
                "gunicorn_rs_worker_exits_total",
                &[("reason", cause_label(*cause))],
                *n,
            );
        }
        e.single(
            "gunicorn_rs_worker_timeouts_total",
            Kind::Counter,
            "WORKER TIMEOUTs: workers aborted for a heartbeat older than --timeout.",
            book.timeouts,
        );
        e.single(
            "gunicorn_rs_reloads_total",
            Kind::Counter,
            "Reloads (HUP or the control socket's reload).",
            book.generation,
        );
        e.family(
            "gunicorn_rs_listen_backlog",
            Kind::Gauge,
            "Connections the kernel accepted that no worker has taken yet, per TCP listener.",
        );
        for l in &self.listeners {
            if let Some(depth) = listen_queue(l.raw_fd()) {
                e.count(
                    "gunicorn_rs_listen_backlog",
                    &[("listener", &l.to_string())],
                    u64::from(depth),
                );
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
