//! Settings: declared once in [`settings`], read from the command line, `GUNICORN_CMD_ARGS`
//! and the Python config file, and validated into one [`Config`].
//!
//! Two stages (ripgrep's low/high args): every setting's value as Gunicorn would hold it
//! ([`resolved`], what `--print-config` prints), then a `Config` holding ready-to-use values
//! ([`high`]). Nothing here binds a socket, forks or changes the process's directory.
//!
//! - [`settings`]: the table of every setting (Gunicorn 27's 120 and gunicorn-rs's own)
//! - [`cli`]: the command line and `GUNICORN_CMD_ARGS`, built from the table with clap
//! - [`pyfile`]: the Python config file, executed with pyo3
//! - [`hooks`]: the server hooks it defines, resolved and arity-checked
//! - [`value`]: values, Gunicorn's validators, env-var defaults
//! - [`load`]: the order in which sources override each other

mod allow_ips;
mod cli;
mod high;
pub mod hooks;
mod load;
mod logs;
mod pyfile;
mod resolved;
pub mod settings;
pub mod signum;
mod statsd;
mod value;

pub use allow_ips::AllowIps;
pub use hooks::{Hook, Hooks};
pub use load::load_from;
pub use logs::{SyslogAddr, SyslogSettings};
pub use statsd::{StatsdSettings, StatsdTarget};
pub use value::{split_host_port, Env, Value};

use std::ffi::OsString;

/// Loads the configuration the way Gunicorn does, from `args` (the whole command line,
/// program name first, as `std::env::args_os()` gives it), the process's environment
/// (`GUNICORN_CMD_ARGS`, `PORT`, `WEB_CONCURRENCY`, `FORWARDED_ALLOW_IPS`, `SENDFILE`) and its
/// working directory (`./gunicorn.conf.py`).
///
/// A Python config file is executed in the embedded interpreter, so the caller initialises it
/// first. The caller then changes into `Config::chdir`, as Gunicorn does once its config is
/// loaded, before binding sockets or importing the app.
pub fn load(args: Vec<OsString>) -> Result<Command, ConfigError> {
    let cwd = std::env::current_dir()
        .map_err(|err| ConfigError::Usage(format!("cannot read the current directory: {err}")))?;
    load_in(args, &cwd)
}

/// [`load`] with relative paths taken from `cwd` (the launch directory, on HUP after a chdir)
/// and the process's current environment.
pub fn load_in(args: Vec<OsString>, cwd: &std::path::Path) -> Result<Command, ConfigError> {
    let env: Env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load_from(args, &env, cwd)
}

use std::path::PathBuf;
use std::time::Duration;

/// What `gunicorn-rs` was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<Config>),
    /// `--check-config`: the config loaded (and the app imported); exit 0.
    CheckConfig(Box<Config>),
    /// `--print-config`: the resolved settings, `name = value`, sorted; then like check-config.
    PrintConfig(Box<Config>, String),
    /// `-h/--help`, with its text.
    Help(String),
    /// `-v/--version`, with its text.
    Version(String),
}

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

/// Requests a greenlet worker shows in the scoreboard at once (the longest-running first):
/// enough to see what a worker with hundreds in flight is stuck on.
pub const GREEN_LANES: usize = 32;

impl Config {
    /// Scoreboard entries per worker: a thread each for gthread, the longest-running requests
    /// for greenlet kinds, one for sync.
    pub fn lanes_per_worker(&self) -> usize {
        match self.worker_class {
            WorkerClass::Gevent
            | WorkerClass::Eventlet
            | WorkerClass::Asgi
            | WorkerClass::Tornado => GREEN_LANES.max(self.threads),
            _ => self.threads.max(1),
        }
    }
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

/// The validated configuration. Every field corresponds to a Gunicorn setting of the same
/// name (see `settings::SETTINGS`); values are already normalised (limits clamped the way
/// Gunicorn clamps them, durations as `Duration`, `0` meaning "off" turned into `None`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `wsgi_app` / positional APP: `module[:expression]`.
    pub app_uri: Option<String>,
    /// Path of the config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// `bind`, raw addresses (`HOST:PORT`, `[V6]:PORT`, `unix:PATH`, `fd://N`); `sock` parses them.
    pub bind: Vec<String>,
    pub backlog: i32,
    pub reuse_port: bool,
    pub workers: usize,
    pub worker_class: WorkerClass,
    pub asgi: AsgiSettings,
    pub threads: usize,
    pub worker_connections: usize,
    /// `timeout`; `None` when 0 (heartbeat check disabled).
    pub timeout: Option<Duration>,
    pub graceful_timeout: Duration,
    pub keepalive: Duration,
    pub max_requests: u64,
    pub max_requests_jitter: u64,
    /// Request line limit after Gunicorn's normalisation; `0` = unlimited.
    pub limit_request_line: usize,
    pub limit_request_fields: usize,
    pub limit_request_field_size: usize,
    /// Absolute; the caller changes into it once the config is loaded (as Gunicorn does).
    pub chdir: PathBuf,
    /// `pythonpath`, split on commas, absolute (relative ones against `chdir`).
    pub pythonpath: Vec<PathBuf>,
    /// `raw_env` as `(KEY, VALUE)`.
    pub raw_env: Vec<(String, String)>,
    pub preload_app: bool,
    /// `--reload`: each worker watches the app's files and exits to be replaced on a change.
    pub reload: Option<Reload>,
    pub sendfile: bool,
    pub proc_name: Option<String>,
    /// `default_proc_name`: the positional APP_MODULE (Gunicorn leaves `gunicorn` when the app
    /// comes from `wsgi_app`), unless a config file sets it.
    pub default_proc_name: String,
    pub loglevel: LogLevel,
    /// `errorlog`; a relative file path is made absolute against `chdir`.
    pub errorlog: LogTarget,
    /// `None` = no access log (Gunicorn's default).
    pub accesslog: Option<LogTarget>,
    pub access_log_format: String,
    pub log_format: LogFormat,
    /// `--logger-class`: a user's logger class (dotted path); `None` for Gunicorn's own
    /// (`gunicorn.glogging.Logger`, the built-in writers).
    pub logger_class: Option<String>,
    /// `--log-config`: an ini file for `logging.config.fileConfig`, as given (relative to
    /// `chdir`).
    pub logconfig: Option<String>,
    /// `--log-config-json`: a JSON file for `logging.config.dictConfig`.
    pub logconfig_json: Option<String>,
    /// `--log-syslog` and its settings; `None` when off.
    pub syslog: Option<SyslogSettings>,
    pub capture_output: bool,
    pub forwarded_allow_ips: AllowIps,
    pub proxy_allow_ips: AllowIps,
    pub proxy_protocol: ProxyProtocol,
    pub protocol: Protocol,
    /// Peers allowed to send uwsgi packets (Unix-socket peers always are, as in Gunicorn).
    pub uwsgi_allow_ips: AllowIps,
    /// `secure_scheme_headers`, names upper-cased.
    pub secure_scheme_headers: Vec<(String, String)>,
    /// `forwarder_headers`, upper-cased.
    pub forwarder_headers: Vec<String>,
    pub header_map: HeaderMap,
    pub permit_obsolete_folding: bool,
    pub strip_header_spaces: bool,
    pub permit_unconventional_http_method: bool,
    pub permit_unconventional_http_version: bool,
    pub casefold_http_method: bool,
    pub umask: u32,
    /// Seconds a client gets to send a complete request head (beyond Gunicorn: a trickling
    /// client cannot hold a sync worker for the whole `timeout`).
    pub header_timeout: Duration,
    /// `--request-timeout` (gunicorn-rs only): a request running longer is answered 504 and
    /// interrupted; `None` when 0 (off).
    pub request_timeout: Option<Duration>,
    /// `--dump-signal` (gunicorn-rs only): the signal a worker's faulthandler dumps its Python
    /// stacks on.
    pub dump_signal: i32,
    /// `--worker-abort-timeout` (gunicorn-rs only): after a WORKER TIMEOUT's SIGABRT, how long
    /// the worker gets (for `worker_abort`) before SIGKILL.
    pub worker_abort_timeout: Duration,
    /// Process management (`reference/gunicorn.md` §2 "Server Mechanics"): the `pidfile`, made
    /// absolute against `chdir`; `.2` is appended while a USR2 child waits for promotion.
    pub pidfile: Option<PathBuf>,
    pub daemon: bool,
    /// `--tui` and no `--no-tui` (gunicorn-rs only): this process becomes the dashboard and
    /// runs the server as its child (DESIGN §1).
    pub tui: bool,
    pub enable_stdio_inheritance: bool,
    /// `user`/`group` as ids; workers switch to them after fork.
    pub uid: u32,
    pub gid: u32,
    pub initgroups: bool,
    /// `worker_tmp_dir`: accepted and unused (the heartbeat lives in the scoreboard).
    pub worker_tmp_dir: Option<PathBuf>,
    /// `max_worker_memory` in bytes (gunicorn-rs only); `None` when 0.
    pub max_worker_memory: Option<u64>,
    /// Where the control socket listens (DESIGN §5).
    pub control_socket: ControlSocket,
    /// `--metrics-bind` (gunicorn-rs only): the TCP address of the master's metrics and health
    /// listener; `None` when off.
    pub metrics_bind: Option<crate::sock::Address>,
    /// `--shutdown-delay` (gunicorn-rs only): after TERM, how long readiness fails while the
    /// server still serves, before the graceful stop begins.
    pub shutdown_delay: Duration,
    /// `statsd_host` and its companions: `None` when statsd is off (Gunicorn's default).
    pub statsd: Option<StatsdSettings>,
    /// `enable_backlog_metric`: the master sends `gunicorn.backlog` (Linux's listen queue).
    pub enable_backlog_metric: bool,
    /// `--control-socket-mode`, 0600 by default.
    pub control_socket_mode: u32,
    /// Every setting's validated value by name, as Gunicorn's `cfg.NAME` returns it (for the
    /// hooks' `server.cfg`).
    pub values: Vec<(&'static str, Value)>,
    /// The server hooks the config file set (Python callables).
    pub hooks: Hooks,
    /// `certfile` and the other SSL settings: TLS on every listener (`None`: plain HTTP).
    pub tls: Option<TlsSettings>,
    /// The TLS server configuration those settings load to (`crate::tls::load`), filled in
    /// before anything is bound and again on each HUP: workers fork with it.
    pub tls_server: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// `--control-socket PATH`, `--no-control-socket`, or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlSocket {
    Off,
    /// One path per server in a private directory, found by `ctl` and `attach` (ui::discovery).
    PerServer,
    Path(PathBuf),
}

impl Config {
    /// The name in process titles: `--name`, else the app URI.
    pub fn proc_name(&self) -> &str {
        self.proc_name.as_deref().unwrap_or(&self.default_proc_name)
    }
}

/// A configuration problem, reported as one line and exit code 1, before anything is bound.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Usage(String),
    #[error("Invalid value for {setting}: {value}: {reason}")]
    InvalidValue {
        setting: String,
        value: String,
        reason: String,
    },
    #[error("setting '{0}' is not supported yet by gunicorn-rs")]
    Unsupported(String),
    /// The `ssl_context` hook returns a Python `SSLContext`: nothing rustls can take.
    #[error(
        "the ssl_context hook returns a Python SSLContext, which cannot configure gunicorn-rs's \
         TLS (rustls): use certfile, keyfile, ca_certs, cert_reqs, ciphers and ssl_version instead"
    )]
    SslContext,
    /// A supported setting with a value gunicorn-rs cannot act on yet (`-k gevent`).
    #[error("{setting} = {value:?} is not supported yet by gunicorn-rs: {why}")]
    UnsupportedValue {
        setting: String,
        value: String,
        why: String,
    },
    #[error("config file {path}: {message}")]
    ConfigFile { path: String, message: String },
    #[error("No application module specified.")]
    NoApp,
}
