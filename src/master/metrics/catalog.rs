//! Every metric family `/metrics` reports, named once with its type and help (the README's
//! table follows this list). Names follow Prometheus' naming guide: a `gunicorn_rs_` prefix,
//! base units (seconds, bytes), counters ending in `_total`. Server totals and per-worker
//! series are separate families (`…_requests_total` and `…_worker_requests_total`), so summing
//! a family never counts twice.

use super::exposition::Kind;

/// A metric family: its name, type and `# HELP` text.
#[derive(Debug)]
pub(super) struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, kind, help }
}

use Kind::{Counter, Gauge, Histogram};

// The server and the master process.
pub(super) const INFO: Family = family(
    "gunicorn_rs_info",
    Gauge,
    "Always 1: the server's version and worker class.",
);
pub(super) const READY: Family = family(
    "gunicorn_rs_ready",
    Gauge,
    "1 while /readyz answers 200: a worker serves and no stop began.",
);
pub(super) const DRAINING: Family = family(
    "gunicorn_rs_draining",
    Gauge,
    "1 during --shutdown-delay after TERM: still serving, not ready.",
);
pub(super) const START_TIME: Family = family(
    "process_start_time_seconds",
    Gauge,
    "Start time of the master process since the Unix epoch, in seconds.",
);
pub(super) const MASTER_RSS: Family = family(
    "process_resident_memory_bytes",
    Gauge,
    "Resident memory of the master process, in bytes.",
);
pub(super) const MASTER_CPU: Family = family(
    "process_cpu_seconds_total",
    Counter,
    "CPU time (user and system) of the master process, in seconds.",
);

// Traffic over the server's life, reaped workers included (these never go down).
pub(super) const REQUESTS: Family = family(
    "gunicorn_rs_requests_total",
    Counter,
    "Requests started by any worker, reaped ones included.",
);
pub(super) const RESPONSES: Family = family(
    "gunicorn_rs_responses_total",
    Counter,
    "Responses by status class, reaped workers included.",
);
pub(super) const EXCEPTIONS: Family = family(
    "gunicorn_rs_exceptions_total",
    Counter,
    "Requests whose app raised, reaped workers included.",
);
pub(super) const DURATION: Family = family(
    "gunicorn_rs_request_duration_seconds",
    Histogram,
    "Time from a complete request head to the response written, in seconds \
     (_sum approximated from bucket midpoints: no exact sum is kept).",
);
pub(super) const IN_FLIGHT: Family = family(
    "gunicorn_rs_requests_in_flight",
    Gauge,
    "Requests being served now, all workers.",
);
pub(super) const CONNECTIONS: Family = family(
    "gunicorn_rs_connections",
    Gauge,
    "Open client connections, all workers.",
);
pub(super) const KEEPALIVE: Family = family(
    "gunicorn_rs_keepalive_connections",
    Gauge,
    "Idle kept-alive client connections, all workers.",
);

// The worker pool and its history.
pub(super) const WORKERS: Family = family("gunicorn_rs_workers", Gauge, "Live workers by state.");
pub(super) const BUSY: Family = family(
    "gunicorn_rs_workers_busy",
    Gauge,
    "Live workers serving a request.",
);
pub(super) const DESIRED: Family = family(
    "gunicorn_rs_workers_desired",
    Gauge,
    "The number of workers the master keeps (--workers, TTIN, TTOU).",
);
pub(super) const SPAWNED: Family = family(
    "gunicorn_rs_workers_spawned_total",
    Counter,
    "Workers forked.",
);
pub(super) const KILLED: Family = family(
    "gunicorn_rs_workers_killed_total",
    Counter,
    "TERM and KILL signals the master sent to workers (Gunicorn's workers_killed).",
);
pub(super) const EXITS: Family = family(
    "gunicorn_rs_worker_exits_total",
    Counter,
    "Workers reaped, by why they ended.",
);
pub(super) const TIMEOUTS: Family = family(
    "gunicorn_rs_worker_timeouts_total",
    Counter,
    "WORKER TIMEOUTs: workers aborted for a heartbeat older than --timeout.",
);
pub(super) const RELOADS: Family = family(
    "gunicorn_rs_reloads_total",
    Counter,
    "Reloads (HUP or the control socket's reload).",
);
pub(super) const BACKLOG: Family = family(
    "gunicorn_rs_listen_backlog",
    Gauge,
    "Connections the kernel accepted that no worker has taken yet, per TCP listener.",
);

// Per worker (labels `worker` and `pid`).
pub(super) const W_REQUESTS: Family = family(
    "gunicorn_rs_worker_requests_total",
    Counter,
    "Requests this worker started.",
);
pub(super) const W_RESPONSES: Family = family(
    "gunicorn_rs_worker_responses_total",
    Counter,
    "Responses of this worker by status class.",
);
pub(super) const W_EXCEPTIONS: Family = family(
    "gunicorn_rs_worker_exceptions_total",
    Counter,
    "Requests of this worker whose app raised.",
);
pub(super) const W_DURATION: Family = family(
    "gunicorn_rs_worker_request_duration_seconds",
    Histogram,
    "This worker's request durations, in seconds \
     (_sum approximated from bucket midpoints: no exact sum is kept).",
);
pub(super) const W_CPU: Family = family(
    "gunicorn_rs_worker_cpu_seconds_total",
    Counter,
    "CPU time (user and system) of this worker, in seconds (/proc/PID/stat).",
);
pub(super) const W_RESTARTS: Family = family(
    "gunicorn_rs_worker_restarts_total",
    Counter,
    "Workers spawned into this slot after its first.",
);
pub(super) const W_IN_FLIGHT: Family = family(
    "gunicorn_rs_worker_requests_in_flight",
    Gauge,
    "Requests this worker serves now.",
);
pub(super) const W_CONNECTIONS: Family = family(
    "gunicorn_rs_worker_connections",
    Gauge,
    "Open client connections of this worker.",
);
pub(super) const W_KEEPALIVE: Family = family(
    "gunicorn_rs_worker_keepalive_connections",
    Gauge,
    "Idle kept-alive connections of this worker.",
);
pub(super) const W_BUSY: Family = family(
    "gunicorn_rs_worker_busy",
    Gauge,
    "1 while this worker serves a request.",
);
pub(super) const W_HEARTBEAT: Family = family(
    "gunicorn_rs_worker_heartbeat_age_seconds",
    Gauge,
    "Seconds since this worker's last heartbeat (--timeout kills it past the limit).",
);
pub(super) const W_UPTIME: Family = family(
    "gunicorn_rs_worker_uptime_seconds",
    Gauge,
    "Seconds since this worker was forked.",
);
pub(super) const W_RSS: Family = family(
    "gunicorn_rs_worker_resident_memory_bytes",
    Gauge,
    "Resident memory of this worker, in bytes (/proc/PID/stat).",
);
