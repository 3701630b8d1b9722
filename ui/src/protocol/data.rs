//! The `data` of each reply and push: the public, stable JSON API of gunicorn-rs (DESIGN §5).
//!
//! Where Gunicorn 27 has a reply for the same command (`gunicorn/ctl/handlers.py`), its fields
//! come first with its names and meanings, so `gunicornc` prints them unchanged; gunicorn-rs's
//! fields follow. Every struct is `#[serde(default)]`: a reply missing our fields (from Gunicorn
//! itself, or an older gunicorn-rs) still parses, and the server may leave out what it lacks.
//! Times are seconds as `f64` (Gunicorn's convention), sizes are bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::is_green;

/// Bumped when a field changes meaning or goes away; new optional fields do not bump it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Reply to `hello`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hello {
    pub server: String,
    pub version: String,
    pub protocol: u32,
    pub pid: i32,
    pub name: String,
    /// Command verbs this server understands (`"show workers"`, `"dump"`, …).
    pub commands: Vec<String>,
}

/// What a worker is doing, as its own Rust code wrote it into the scoreboard (DESIGN §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerState {
    Booting,
    Idle,
    Reading,
    App,
    Writing,
    Keepalive,
    Draining,
    TimeoutPending,
    Held,
    Detached,
    Dead,
    /// A state this build does not know (a newer server).
    #[default]
    #[serde(other)]
    Unknown,
}

impl WorkerState {
    /// Serving a request: counted as busy in the header and in "requests in flight".
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            WorkerState::Reading
                | WorkerState::App
                | WorkerState::Writing
                | WorkerState::TimeoutPending
                | WorkerState::Held
                | WorkerState::Detached
        )
    }

    pub fn is_alive(self) -> bool {
        self != WorkerState::Dead
    }

    pub fn label(self) -> &'static str {
        match self {
            WorkerState::Booting => "booting",
            WorkerState::Idle => "idle",
            WorkerState::Reading => "reading",
            WorkerState::App => "app",
            WorkerState::Writing => "writing",
            WorkerState::Keepalive => "keepalive",
            WorkerState::Draining => "draining",
            WorkerState::TimeoutPending => "timeout",
            WorkerState::Held => "held",
            WorkerState::Detached => "detached",
            WorkerState::Dead => "dead",
            WorkerState::Unknown => "?",
        }
    }
}

/// A request in flight, from the scoreboard (truncated there: method 8, path 128, client 48).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub client: String,
    /// Seconds since the request line arrived.
    pub elapsed: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The thread (from 0) serving it, where the server knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<u32>,
}

/// One thread of a worker: `gthread` runs `--threads` of them, `sync` one. Each serves at most
/// one request at a time, with its own `--request-timeout` deadline (DESIGN §10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThreadInfo {
    /// The thread's number in its worker, from 0.
    pub thread: u32,
    pub state: WorkerState,
    pub request: Option<RequestInfo>,
    /// Seconds left to the request's `--request-timeout` deadline (negative when overdue);
    /// null when no clock runs: no request, no `--request-timeout`, already answered, or held.
    pub deadline_in: Option<f64>,
    /// The request was already answered with a 504 by `--request-timeout` (the app may still
    /// be running it).
    pub timed_out: bool,
    /// The thread's identity as faulthandler prints it (`0x00007f…`), so a stack in a dump
    /// can be matched to its request; absent until the worker publishes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ident: Option<String>,
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusCounts {
    #[serde(rename = "1xx")]
    pub s1xx: u64,
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
}

/// Why a worker process ended, as the master saw it when it reaped the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCause {
    /// Exited on its own (see `code`).
    Exited,
    /// Died of a signal nobody in the master sent (SIGSEGV, an OOM kill…).
    Crashed,
    /// Killed by the master: the request deadline or the heartbeat ran out.
    Timeout,
    /// Retired after `--max-requests`.
    MaxRequests,
    /// Stopped on request (`worker kill`, `x` in the dashboard).
    Stopped,
    /// Replaced on request (`worker restart`, `r`).
    Restarted,
    /// Retired by a reload (HUP, `reload`).
    Reload,
    /// Retired by `worker remove` / TTOU.
    Removed,
    Shutdown,
    /// Exit code 3 (Gunicorn's WORKER_BOOT_ERROR).
    BootError,
    /// Exit code 4 (Gunicorn's APP_LOAD_ERROR).
    AppLoadError,
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitReason {
    pub cause: ExitCause,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Unix time of the reap.
    pub at: Option<f64>,
}

impl ExitReason {
    /// A short human text: `"SIGSEGV"`, `"timeout (SIGKILL)"`, `"exit 1"`, `"max-requests"`.
    pub fn describe(&self) -> String {
        let how = match (self.signal, self.code) {
            (Some(sig), _) => signal_name(sig),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => String::new(),
        };
        let why = match self.cause {
            ExitCause::Exited | ExitCause::Crashed | ExitCause::Unknown => return how,
            ExitCause::Timeout => "timeout",
            ExitCause::MaxRequests => "max-requests",
            ExitCause::Stopped => "stopped",
            ExitCause::Restarted => "restarted",
            ExitCause::Reload => "reload",
            ExitCause::Removed => "removed",
            ExitCause::Shutdown => "shutdown",
            ExitCause::BootError => "boot error",
            ExitCause::AppLoadError => "app load error",
        };
        if how.is_empty() {
            why.to_string()
        } else {
            format!("{why} ({how})")
        }
    }
}

/// Linux signal names for the signals that end workers; others print as `SIG<n>`.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}

/// One row of `show workers`: one scoreboard slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerInfo {
    // Gunicorn's fields.
    pub pid: i32,
    /// Gunicorn's spawn-order counter (not a duration; see `uptime`).
    pub age: u64,
    pub booted: bool,
    pub aborted: bool,
    /// Seconds since the worker's last heartbeat.
    pub last_heartbeat: Option<f64>,
    // gunicorn-rs's fields.
    /// Stable slot number: a respawned worker takes its predecessor's slot.
    pub slot: u32,
    /// The reload generation this worker was spawned in.
    pub generation: u64,
    /// The worker class it was spawned as, Gunicorn's `-k` value (`sync`, `gthread`, `gevent`,
    /// `eventlet`); empty from an older server. See [`is_green`].
    pub kind: String,
    pub state: WorkerState,
    /// The longest-running request in flight.
    pub request: Option<RequestInfo>,
    /// One entry per thread the worker runs (one for `sync`), busy or not; for a greenlet
    /// worker, one per scoreboard entry, each holding one of its longest-running requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadInfo>,
    /// Threads serving a request, of `threads_total` (`--threads`).
    pub threads_busy: u32,
    pub threads_total: u32,
    /// Client connections open, and of those the idle kept-alive ones.
    pub connections: u32,
    pub keepalive: u32,
    /// Requests being served, each counted whether or not it has a thread entry: a greenlet
    /// worker serves more than its `threads_total` entries. 0 from an older server.
    pub in_flight: u32,
    /// Seconds left before the master kills the worker for a timeout (negative when overdue).
    pub timeout_in: Option<f64>,
    /// Seconds since the worker booted.
    pub uptime: f64,
    pub requests: u64,
    pub status: StatusCounts,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The master may leave these out: the dashboard reads /proc itself (tui.md row 6–7).
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    /// How many times this slot's worker has been respawned.
    pub restarts: u32,
    /// How the previous worker of this slot ended.
    pub last_exit: Option<ExitReason>,
}

impl WorkerInfo {
    /// Serves its requests on greenlets (see [`is_green`]).
    pub fn is_green(&self) -> bool {
        is_green(&self.kind)
    }

    /// Runs more than one thread (`gthread`): the table shows busy/threads for it.
    pub fn is_threaded(&self) -> bool {
        self.threads_total > 1
    }

    /// Requests this worker is serving now.
    pub fn requests_in_flight(&self) -> usize {
        let by_threads = match self.threads_total {
            // An older server: no thread counts, only the state.
            0 => usize::from(self.state.is_busy()),
            _ => self.threads_busy as usize,
        };
        // The larger: an older server sends no `in_flight`, and the two are read at
        // slightly different instants.
        by_threads.max(self.in_flight as usize)
    }
}

/// `show workers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkersData {
    pub workers: Vec<WorkerInfo>,
    pub count: usize,
}

/// `show stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    // Gunicorn's fields.
    /// Seconds since the master started.
    pub uptime: Option<f64>,
    /// The master's pid.
    pub pid: i32,
    pub workers_current: usize,
    pub workers_target: usize,
    pub workers_spawned: u64,
    pub workers_killed: u64,
    pub reloads: u64,
    /// Always null: gunicorn-rs has no dirty arbiter. Kept so Gunicorn's formatter finds it.
    pub dirty_arbiter_pid: Option<i32>,
    // gunicorn-rs's fields.
    /// `--name` / proc_name.
    pub name: String,
    pub version: String,
    /// `sync`, `gthread`, …
    pub worker_class: String,
    pub binds: Vec<String>,
    /// Workers serving at least one request, and the others; a `gthread` worker with any
    /// thread busy is busy.
    pub busy: usize,
    pub idle: usize,
    pub total: usize,
    /// Requests being served now, over all workers (each worker's `in_flight`, or its busy
    /// threads from an older server).
    pub in_flight: usize,
    /// Threads over all workers (`--threads` × workers).
    pub threads_total: usize,
    /// Client connections open, and of those the idle kept-alive ones, over all workers.
    pub connections: u64,
    pub keepalive: u64,
    /// Requests served since the master started, dead workers included.
    pub requests: u64,
    pub req_per_s: Option<f64>,
    /// Server-wide latency percentiles of about the last minute (the whole history until a
    /// minute was seen, or after a quiet one).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Connections waiting in the listen queue (TCP_INFO), summed over listeners.
    pub backlog: Option<u32>,
    /// Reload generation: 0 at start, +1 per reload.
    pub generation: u64,
    /// `--timeout`, seconds.
    pub timeout: f64,
}

/// A `subscribe` snapshot: stats and workers at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub stats: Stats,
    pub workers: Vec<WorkerInfo>,
}

/// `show config`: Gunicorn's flat `{setting: value}` map.
pub type ConfigData = BTreeMap<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Listener {
    pub address: String,
    pub fd: i32,
    /// `tcp`, `tcp6` or `unix`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `show listeners`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenersData {
    pub listeners: Vec<Listener>,
    pub count: usize,
}
