//! The settings whose values are a choice among names (worker kinds, log targets and levels,
//! TLS versions, header and protocol policies) and the small structs grouping a kind's
//! settings: what [`super::Config`] holds, apart from the table that fills it.

use std::path::PathBuf;
use std::time::Duration;

/// Where a log stream goes: `-` is the process's stdout/stderr, anything else a file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
    File(PathBuf),
}

/// `--log-format` (gunicorn-rs only): how error and access records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Gunicorn's lines, unchanged.
    #[default]
    Text,
    /// One JSON object per line (`log::json`).
    Json,
}

/// Error-log levels, Gunicorn's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// Every level, lowest first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
    ];

    /// Gunicorn's name of the level, as `--log-level` takes it and Python's `logging` (lower
    /// case) knows it.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }

    /// The level as Gunicorn's error log shows it: `[INFO]`.
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

/// `worker_class`: `sync`, `gthread`, `gevent`, `eventlet`, `asgi`, `tornado`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerClass {
    Sync,
    /// Gunicorn's threaded worker (`gthread`, or `sync` with `threads > 1`).
    Gthread,
    /// A greenlet per connection on gevent's hub (also Gunicorn's `gevent_wsgi` and
    /// `gevent_pywsgi`, which parse with gevent's pywsgi there; here the Rust parser serves all).
    Gevent,
    /// A green thread per connection on eventlet's hub (Gunicorn ≤ 25's `eventlet`).
    Eventlet,
    /// ASGI apps on an asyncio (or uvloop) event loop (Gunicorn 24+'s `asgi`; uvicorn's worker
    /// classes name it too).
    Asgi,
    /// tornado apps (`tornado.web.Application`, and WSGI apps through tornado's
    /// `WSGIContainer`, as Gunicorn's `tornado` worker serves them) on the asgi kind's loop.
    Tornado,
}

impl WorkerClass {
    /// Gunicorn's short name, as in `Using worker: gthread`.
    pub fn name(self) -> &'static str {
        match self {
            WorkerClass::Sync => "sync",
            WorkerClass::Gthread => "gthread",
            WorkerClass::Gevent => "gevent",
            WorkerClass::Eventlet => "eventlet",
            WorkerClass::Asgi => "asgi",
            WorkerClass::Tornado => "tornado",
        }
    }

    /// Serves each connection on a greenlet of a hub (gevent, eventlet).
    pub fn is_green(self) -> bool {
        matches!(self, WorkerClass::Gevent | WorkerClass::Eventlet)
    }

    /// Answers a dump from its event loop as well (the stack of each greenlet or task serving
    /// a request), after faulthandler's stack of what holds the loop.
    pub fn dumps_from_loop(self) -> bool {
        self.is_green() || self.runs_event_loop()
    }

    /// Serves on an asyncio event loop, a task per request (asgi, tornado).
    pub fn runs_event_loop(self) -> bool {
        matches!(self, WorkerClass::Asgi | WorkerClass::Tornado)
    }

    /// Serves many connections at once on one thread: a greenlet hub or an event loop.
    pub fn is_cooperative(self) -> bool {
        self.is_green() || self.runs_event_loop()
    }
}

/// `asgi_loop`: which event loop runs an asgi worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsgiLoop {
    /// uvloop when it is installed, else asyncio's own.
    Auto,
    Asyncio,
    Uvloop,
}

/// `asgi_lifespan`: whether the app gets the ASGI lifespan protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifespan {
    /// Tried; an app that raises on the lifespan scope runs without it.
    Auto,
    /// Required: an app that does not support it stops the worker.
    On,
    Off,
}

/// The asgi worker's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgiSettings {
    pub event_loop: AsgiLoop,
    pub lifespan: Lifespan,
    /// `root_path`: the mount point the app sees in `scope["root_path"]`.
    pub root_path: String,
    /// `asgi_disconnect_grace_period`: how long an app may run on after `http.disconnect`.
    pub disconnect_grace: Duration,
    pub websocket_max_message_size: usize,
    /// `websocket_per_message_deflate`: offer permessage-deflate (RFC 7692), as uvicorn does.
    pub websocket_per_message_deflate: bool,
}

/// Gunicorn's SSL settings, as given (the files are read by `crate::tls::load`).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub certfile: PathBuf,
    /// `None`: the key is in `certfile` (as Python's `load_cert_chain` allows).
    pub keyfile: Option<PathBuf>,
    pub ca_certs: Option<PathBuf>,
    pub cert_reqs: ClientCerts,
    pub versions: TlsVersions,
    /// An OpenSSL cipher list (`--ciphers`); `None`: rustls's defaults.
    pub ciphers: Option<String>,
    /// A peer that closes without TLS's close_notify ends the stream quietly (True, the
    /// default) rather than as an error.
    pub suppress_ragged_eofs: bool,
}

/// `cert_reqs`: Python's `ssl.CERT_NONE`, `CERT_OPTIONAL`, `CERT_REQUIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    None,
    Optional,
    Required,
}

/// `ssl_version`, as the TLS versions it allows (Python's `PROTOCOL_TLS`/`PROTOCOL_TLS_SERVER`:
/// all the library has, here 1.2 and 1.3; `PROTOCOL_TLSv1_2`: 1.2 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    Tls12And13,
    Tls12Only,
}

/// `reload_engine`: how the reloader notices changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadEngine {
    /// inotify(7), on Linux always there (`auto` picks it).
    Inotify,
    /// Compare modification times once a second.
    Poll,
}

/// The `--reload` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    pub engine: ReloadEngine,
    /// `reload_extra_files`: paths or glob patterns, re-expanded at every check.
    pub extra_files: Vec<String>,
}

/// `header_map`: what happens to a header name containing `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMap {
    Drop,
    Refuse,
    Dangerous,
}

/// `proxy_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    Off,
    V1,
    V2,
    Auto,
}

/// `protocol`: what a connection speaks (Gunicorn 24+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    /// The uwsgi binary protocol, as nginx's `uwsgi_pass` sends it.
    Uwsgi,
}
