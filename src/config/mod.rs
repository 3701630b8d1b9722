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
mod choices;
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
pub use choices::*;
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

/// The validated configuration. Every field corresponds to a Gunicorn setting of the same
/// name (see `settings::SETTINGS`); values are already normalised (limits clamped the way
/// Gunicorn clamps them, durations as `Duration`, `0` meaning "off" turned into `None`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `wsgi_app` / positional APP: `module[:expression]`; with `--paste`, the PasteDeploy
    /// config file's absolute path (with its `#section`, if given).
    pub app_uri: Option<String>,
    /// `--paste`: the app is PasteDeploy's from `app_uri`, with these `--paste-global`
    /// defaults (`raw_paste_global_conf`, `KEY=VALUE` split at the first `=` not after `\\`).
    pub paste_global_conf: Option<Vec<(String, String)>>,
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
    /// `--paste` names a file that is not there (Gunicorn's words).
    #[error("'{0}' not found")]
    PasteNotFound(String),
}
