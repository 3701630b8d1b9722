//! The high stage: a [`Config`] of ready-to-use values from the resolved settings, with
//! Gunicorn's normalisations (the clamping its parser does in `gunicorn/http/message.py`, the
//! `SENDFILE` environment variable, `-` for stdout/stderr) done once, here.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod kinds;
mod paste;
mod tls;

use kinds::{asgi, worker_class};
use paste::paste_global_conf;
use tls::tls;

use super::resolved::{invalid, setting, Resolved};
use super::value::{absolute, Env, Value};
use super::{
    AllowIps, Config, ConfigError, ControlSocket, HeaderMap, LogLevel, LogTarget, Protocol,
    ProxyProtocol, Reload, ReloadEngine,
};

/// Gunicorn's caps (`gunicorn/http/message.py`).
const MAX_REQUEST_LINE: usize = 8190;
const MAX_HEADERS: usize = 32768;
const DEFAULT_MAX_HEADERFIELD_SIZE: usize = 8190;

/// Builds the [`Config`] for `app_uri` from validated settings.
pub fn config(
    r: &Resolved,
    app_uri: String,
    config_file: Option<PathBuf>,
    env: &Env,
) -> Result<Config, ConfigError> {
    let chdir = PathBuf::from(string(r, "chdir").unwrap_or("/"));
    Ok(Config {
        app_uri: Some(app_uri),
        paste_global_conf: paste_global_conf(r)?,
        config_file,
        bind: list(r, "bind").to_vec(),
        backlog: i32::try_from(int(r, "backlog")).unwrap_or(i32::MAX),
        reuse_port: flag(r, "reuse_port"),
        workers: at_least_one(r, "workers")?,
        worker_class: worker_class(r)?,
        asgi: asgi(r),
        threads: int(r, "threads").max(1) as usize,
        worker_connections: int(r, "worker_connections") as usize,
        timeout: Some(seconds(r, "timeout")).filter(|t| !t.is_zero()),
        graceful_timeout: seconds(r, "graceful_timeout"),
        keepalive: seconds(r, "keepalive"),
        max_requests: int(r, "max_requests") as u64,
        max_requests_jitter: int(r, "max_requests_jitter") as u64,
        limit_request_line: limit_request_line(int(r, "limit_request_line")),
        limit_request_fields: limit_request_fields(int(r, "limit_request_fields")),
        limit_request_field_size: limit_request_field_size(int(r, "limit_request_field_size")),
        pythonpath: pythonpath(string(r, "pythonpath"), &chdir),
        raw_env: raw_env(r)?,
        preload_app: flag(r, "preload_app"),
        reload: reload(r),
        sendfile: sendfile(r.get("sendfile"), env),
        proc_name: string(r, "proc_name").map(String::from),
        default_proc_name: string(r, "default_proc_name").unwrap_or("gunicorn").into(),
        loglevel: loglevel(r)?,
        errorlog: log_target(string(r, "errorlog"), LogTarget::Stderr, &chdir)
            .unwrap_or(LogTarget::Stderr),
        accesslog: log_target(string(r, "accesslog"), LogTarget::Stdout, &chdir),
        access_log_format: string(r, "access_log_format").unwrap_or_default().into(),
        log_format: super::logs::log_format(r),
        logger_class: super::logs::logger_class(r),
        logconfig: string(r, "logconfig").map(String::from),
        logconfig_json: string(r, "logconfig_json").map(String::from),
        syslog: super::logs::syslog(
            r,
            string(r, "proc_name")
                .or(string(r, "default_proc_name"))
                .unwrap_or("gunicorn"),
        )?,
        capture_output: flag(r, "capture_output"),
        forwarded_allow_ips: allow_ips(r, "forwarded_allow_ips")?,
        proxy_allow_ips: allow_ips(r, "proxy_allow_ips")?,
        proxy_protocol: proxy_protocol(r),
        protocol: match string(r, "protocol") {
            Some("uwsgi") => Protocol::Uwsgi,
            _ => Protocol::Http,
        },
        uwsgi_allow_ips: allow_ips(r, "uwsgi_allow_ips")?,
        secure_scheme_headers: secure_scheme_headers(r),
        forwarder_headers: list(r, "forwarder_headers")
            .iter()
            .map(|h| h.to_uppercase())
            .collect(),
        header_map: header_map(r),
        permit_obsolete_folding: flag(r, "permit_obsolete_folding"),
        strip_header_spaces: flag(r, "strip_header_spaces"),
        permit_unconventional_http_method: flag(r, "permit_unconventional_http_method"),
        permit_unconventional_http_version: flag(r, "permit_unconventional_http_version"),
        casefold_http_method: flag(r, "casefold_http_method"),
        umask: u32::try_from(int(r, "umask")).map_err(|_| {
            invalid(
                setting("umask"),
                &int(r, "umask").to_string(),
                "too large".into(),
            )
        })?,
        header_timeout: Duration::from_secs(at_least_one(r, "header_timeout")? as u64),
        request_timeout: Some(seconds(r, "request_timeout")).filter(|t| !t.is_zero()),
        dump_signal: dump_signal(r)?,
        worker_abort_timeout: seconds(r, "worker_abort_timeout"),
        pidfile: string(r, "pidfile").map(|p| absolute(&chdir, Path::new(p))),
        daemon: flag(r, "daemon"),
        tui: flag(r, "tui") && !flag(r, "no_tui"),
        enable_stdio_inheritance: flag(r, "enable_stdio_inheritance"),
        uid: id(r, "user")?,
        gid: id(r, "group")?,
        initgroups: flag(r, "initgroups"),
        worker_tmp_dir: string(r, "worker_tmp_dir").map(PathBuf::from),
        max_worker_memory: Some(int(r, "max_worker_memory"))
            .filter(|&mib| mib > 0)
            .map(|mib| (mib as u64).saturating_mul(1024 * 1024)),
        control_socket: control_socket(r, &chdir),
        metrics_bind: metrics_bind(r)?,
        shutdown_delay: seconds(r, "shutdown_delay"),
        statsd: super::statsd::settings(
            string(r, "statsd_host"),
            string(r, "statsd_prefix").unwrap_or_default(),
            string(r, "dogstatsd_tags").unwrap_or_default(),
            &chdir,
        )?,
        enable_backlog_metric: flag(r, "enable_backlog_metric"),
        control_socket_mode: u32::try_from(int(r, "control_socket_mode") & 0o7777).unwrap_or(0o600),
        tls: tls(r, &chdir)?,
        chdir,
        values: r.values(),
        hooks: Default::default(),
        tls_server: None,
    })
}

/// `control_socket`, `control_socket_disable`: Gunicorn's default path (one fixed name per
/// user) would make two servers of one user collide, so the default is one path per server
/// (`ui::discovery`), chosen by the master; a path the user gave is used as given.
fn control_socket(r: &Resolved, chdir: &Path) -> ControlSocket {
    match string(r, "control_socket") {
        _ if flag(r, "control_socket_disable") => ControlSocket::Off,
        Some(path) if !r.is_default("control_socket") && !path.is_empty() => {
            ControlSocket::Path(absolute(chdir, Path::new(path)))
        }
        _ => ControlSocket::PerServer,
    }
}

/// `reload`, `reload_engine`, `reload_extra_files`.
fn reload(r: &Resolved) -> Option<Reload> {
    let engine = match string(r, "reload_engine") {
        Some("poll") => ReloadEngine::Poll,
        _ => ReloadEngine::Inotify,
    };
    let extra_files = list(r, "reload_extra_files").to_vec();
    flag(r, "reload").then_some(Reload {
        engine,
        extra_files,
    })
}

/// `limit_request_line`: 0 is unlimited; negative or at least 8190 means 8190.
pub fn limit_request_line(n: i64) -> usize {
    match usize::try_from(n) {
        Ok(n) if n < MAX_REQUEST_LINE => n,
        _ => MAX_REQUEST_LINE,
    }
}

/// `limit_request_fields`: 0, negative or above 32768 means 32768.
pub fn limit_request_fields(n: i64) -> usize {
    match usize::try_from(n) {
        Ok(n) if n > 0 && n <= MAX_HEADERS => n,
        _ => MAX_HEADERS,
    }
}

/// `limit_request_field_size`: 0 or negative means 8190 (not unlimited, whatever the docs say).
pub fn limit_request_field_size(n: i64) -> usize {
    match usize::try_from(n) {
        Ok(n) if n > 0 => n,
        _ => DEFAULT_MAX_HEADERFIELD_SIZE,
    }
}

fn int(r: &Resolved, name: &str) -> i64 {
    match r.get(name) {
        Value::Int(n) => *n,
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

fn flag(r: &Resolved, name: &str) -> bool {
    matches!(r.get(name), Value::Bool(true))
}

fn string<'r>(r: &'r Resolved, name: &str) -> Option<&'r str> {
    match r.get(name) {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn list<'r>(r: &'r Resolved, name: &str) -> &'r [String] {
    match r.get(name) {
        Value::List(items) => items,
        _ => &[],
    }
}

fn seconds(r: &Resolved, name: &str) -> Duration {
    Duration::from_secs(int(r, name).max(0) as u64)
}

/// `--metrics-bind HOST:PORT`, read as `-b` reads it (Gunicorn's `parse_address`), TCP only:
/// Prometheus and Kubernetes' probes speak TCP, and a Unix path or an inherited fd would need
/// the app listeners' handling (unlinking, LISTEN_FDS) for no user.
fn metrics_bind(r: &Resolved) -> Result<Option<crate::sock::Address>, ConfigError> {
    let Some(text) = string(r, "metrics_bind").filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| invalid(setting("metrics_bind"), text, why.into());
    match crate::sock::parse_address(text) {
        Ok(address @ (crate::sock::Address::Tcp(_) | crate::sock::Address::TcpHost(..))) => {
            Ok(Some(address))
        }
        Ok(_) => Err(bad("the metrics listener takes HOST:PORT")),
        Err(e) => Err(bad(&e.to_string())),
    }
}

fn dump_signal(r: &Resolved) -> Result<i32, ConfigError> {
    let text = string(r, "dump_signal").unwrap_or(super::signum::DEFAULT_DUMP_SIGNAL);
    super::signum::parse_dump_signal(text).map_err(|why| invalid(setting("dump_signal"), text, why))
}

fn at_least_one(r: &Resolved, name: &str) -> Result<usize, ConfigError> {
    match int(r, name) {
        n if n >= 1 => Ok(n as usize),
        n => Err(invalid(
            setting(name),
            &n.to_string(),
            "must be at least 1".into(),
        )),
    }
}

/// `user` / `group`, already turned into ids by the validator.
fn id(r: &Resolved, name: &str) -> Result<u32, ConfigError> {
    let n = int(r, name);
    u32::try_from(n).map_err(|_| invalid(setting(name), &n.to_string(), "not an id".into()))
}

fn pythonpath(value: Option<&str>, chdir: &Path) -> Vec<PathBuf> {
    let dirs = value
        .unwrap_or("")
        .split(',')
        .filter(|d| !d.trim().is_empty());
    dirs.map(|d| absolute(chdir, Path::new(d.trim()))).collect()
}

fn raw_env(r: &Resolved) -> Result<Vec<(String, String)>, ConfigError> {
    let parse = |entry: &String| match entry.split_once('=') {
        Some((key, value)) => Ok((key.to_string(), value.to_string())),
        None => Err(invalid(
            setting("raw_env"),
            entry,
            "expected KEY=VALUE".into(),
        )),
    };
    list(r, "raw_env").iter().map(parse).collect()
}

/// `--no-sendfile` turns it off; otherwise `$SENDFILE` (`y`, `1`, `yes`, `true`) decides when
/// set, and it is on by default. (Gunicorn also turns it off for `sendfile = True` in a config
/// file — any non-None value — which gunicorn-rs does not copy.)
fn sendfile(value: &Value, env: &Env) -> bool {
    match (value, env.get("SENDFILE")) {
        (Value::Bool(on), _) => *on,
        (_, Some(var)) => matches!(var.to_lowercase().as_str(), "y" | "1" | "yes" | "true"),
        _ => true,
    }
}

/// Gunicorn quietly falls back to `info` for an unknown level; gunicorn-rs says so instead.
fn loglevel(r: &Resolved) -> Result<LogLevel, ConfigError> {
    let level = string(r, "loglevel").unwrap_or("info");
    let lower = level.to_lowercase();
    LogLevel::ALL
        .into_iter()
        .find(|l| l.name() == lower)
        .ok_or_else(|| {
            let reason = "expected debug, info, warning, error or critical".into();
            invalid(setting("loglevel"), level, reason)
        })
}

/// `-` is the process's own stream; a path is made absolute against `chdir` (where Gunicorn
/// would open it); `None` (or empty) is no log.
fn log_target(value: Option<&str>, dash: LogTarget, chdir: &Path) -> Option<LogTarget> {
    match value? {
        "" => None,
        "-" => Some(dash),
        path => Some(LogTarget::File(absolute(chdir, Path::new(path)))),
    }
}

fn allow_ips(r: &Resolved, name: &str) -> Result<AllowIps, ConfigError> {
    let entries = list(r, name);
    AllowIps::parse(entries).map_err(|reason| invalid(setting(name), &entries.join(","), reason))
}

fn proxy_protocol(r: &Resolved) -> ProxyProtocol {
    match string(r, "proxy_protocol") {
        Some("v1") => ProxyProtocol::V1,
        Some("v2") => ProxyProtocol::V2,
        Some("auto") => ProxyProtocol::Auto,
        _ => ProxyProtocol::Off,
    }
}

fn secure_scheme_headers(r: &Resolved) -> Vec<(String, String)> {
    match r.get("secure_scheme_headers") {
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| (k.to_uppercase(), v.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn header_map(r: &Resolved) -> HeaderMap {
    match string(r, "header_map") {
        Some("refuse") => HeaderMap::Refuse,
        Some("dangerous") => HeaderMap::Dangerous,
        _ => HeaderMap::Drop,
    }
}

#[cfg(test)]
#[path = "high_tests.rs"]
mod tests;
