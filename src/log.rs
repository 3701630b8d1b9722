//! The error log and the access log, in Gunicorn's formats (`reference/gunicorn.md` §4).
//!
//! Error log lines: `[%Y-%m-%d %H:%M:%S %z] [PID] [LEVEL] message`. `-` means stderr for the
//! error log and stdout for the access log. Each line goes out in one `write(2)` with
//! `O_APPEND`, so lines from the master and its workers never interleave mid-line.
//!
//! `--log-format json` writes the same records as JSON objects ([`json`]); `--log-syslog`
//! sends them to a syslog daemon too ([`syslog`]).
//!
//! The state is a process-wide `Mutex`: the master is single-threaded and never forks while
//! holding it; a worker re-opens nothing after fork, it inherits the descriptors.

pub mod access;
mod forward;
pub mod json;
pub mod syslog;

use crate::config::{Config, LogFormat, LogLevel, LogTarget};
use access::{AccessFormat, AccessRecord, PartialRequest};
pub use forward::{keep_off_python, Forward};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

struct Sink {
    target: LogTarget,
    file: Option<File>,
}

impl Sink {
    fn open(target: LogTarget) -> io::Result<Sink> {
        let file = match &target {
            LogTarget::File(path) => Some(OpenOptions::new().create(true).append(true).open(path)?),
            LogTarget::Stdout | LogTarget::Stderr => None,
        };
        Ok(Sink { target, file })
    }

    fn write_all(&mut self, bytes: &[u8]) {
        // A log line that cannot be written has nowhere to be reported; dropping it is the
        // only choice that does not take the server down.
        let _ = match (&mut self.file, &self.target) {
            (Some(file), _) => file.write_all(bytes),
            (None, LogTarget::Stdout) => io::stdout()
                .lock()
                .write_all(bytes)
                .and_then(|_| io::stdout().flush()),
            (None, _) => io::stderr().lock().write_all(bytes),
        };
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let LogTarget::File(path) = &self.target {
            self.file = Some(OpenOptions::new().create(true).append(true).open(path)?);
        }
        Ok(())
    }
}

struct State {
    level: LogLevel,
    format: LogFormat,
    error: Sink,
    access: Option<Sink>,
    syslog: Option<syslog::Syslog>,
    /// Python's `logging` or a `--logger-class`, when one is set: the records go there instead
    /// of to `error` and `access`.
    forward: Option<Arc<dyn Forward>>,
}

/// From now on, records go to `forward`, for levels from `threshold` (the `gunicorn.error`
/// logger's effective level) up.
pub fn set_forward(forward: Arc<dyn Forward>, threshold: LogLevel) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(state) = state.as_mut() {
        state.forward = Some(forward);
        state.level = threshold;
    }
}

/// The forward for a record of this thread, when there is one.
fn forward_of(state: &Option<State>) -> Option<Arc<dyn Forward>> {
    let forward = state.as_ref().and_then(|s| s.forward.clone())?;
    forward::allowed_here().then_some(forward)
}

/// Why the logs could not be set up (reported before anything is bound).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file: {0}")]
    File(io::Error),
    #[error("cannot reach syslog at {addr}: {err}")]
    Syslog { addr: String, err: io::Error },
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The master's own error-log lines, kept for control-socket subscribers (the dashboard's log
/// pane) while someone wants them. Owned by one process: a forked worker, whose lines reach the
/// master through its stderr pipe anyway, never fills it.
struct Tap {
    owner: u32,
    lines: std::collections::VecDeque<String>,
}

static TAP: Mutex<Option<Tap>> = Mutex::new(None);

/// Most lines a tap holds between two drains; older ones are dropped first.
const TAP_LIMIT: usize = 1000;

/// Start (or stop) keeping this process's error-log lines for [`take_tapped`].
pub fn set_tap(on: bool) {
    let mut tap = TAP.lock().unwrap_or_else(|e| e.into_inner());
    match (
        on,
        tap.as_ref().is_some_and(|t| t.owner == std::process::id()),
    ) {
        (true, false) => {
            *tap = Some(Tap {
                owner: std::process::id(),
                lines: Default::default(),
            });
        }
        (false, _) => *tap = None,
        (true, true) => {}
    }
}

/// The lines kept since the last call.
pub fn take_tapped() -> Vec<String> {
    let mut tap = TAP.lock().unwrap_or_else(|e| e.into_inner());
    match tap.as_mut() {
        Some(t) if t.owner == std::process::id() => t.lines.drain(..).collect(),
        _ => Vec::new(),
    }
}

fn tap_line(line: &str) {
    let mut tap = TAP.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tap.as_mut().filter(|t| t.owner == std::process::id()) {
        if t.lines.len() == TAP_LIMIT {
            t.lines.pop_front();
        }
        t.lines.push_back(line.trim_end_matches('\n').to_string());
    }
}

/// Open the log files. Called by the master before binding, so a bad path is reported early.
pub fn configure(cfg: &Config) -> Result<(), LogError> {
    let error = Sink::open(cfg.errorlog.clone()).map_err(LogError::File)?;
    let access = cfg
        .accesslog
        .clone()
        .map(Sink::open)
        .transpose()
        .map_err(LogError::File)?;
    let syslog = match &cfg.syslog {
        Some(settings) => {
            let mut syslog = syslog::Syslog::new(settings.clone());
            syslog.check().map_err(|err| LogError::Syslog {
                addr: settings.addr.to_string(),
                err,
            })?;
            Some(syslog)
        }
        None => None,
    };
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    // A HUP re-opens the files; Python's configuration, read at start, stays.
    let forward = state.as_mut().and_then(|s| s.forward.take());
    *state = Some(State {
        level: cfg.loglevel,
        format: cfg.log_format,
        error,
        access,
        syslog,
        forward,
    });
    Ok(())
}

/// `--capture-output`: point fds 1 and 2 at the error log file, so `print()` lands there.
pub fn capture_output() -> io::Result<()> {
    let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(State {
        error: Sink {
            file: Some(file), ..
        },
        ..
    }) = state.as_ref()
    {
        for target in [1, 2] {
            // SAFETY: dup2 on a file descriptor we own onto the standard descriptors.
            if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// USR1: reopen log files (after logrotate renamed them).
pub fn reopen() -> io::Result<()> {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let forward = guard.as_ref().and_then(|s| s.forward.clone());
    if let Some(state) = guard.as_mut() {
        state.error.reopen()?;
        if let Some(access) = state.access.as_mut() {
            access.reopen()?;
        }
    }
    drop(guard);
    if let Some(forward) = forward {
        forward.reopen();
    }
    Ok(())
}

/// Is `level` logged?
pub fn enabled(level: LogLevel) -> bool {
    let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state
        .as_ref()
        .map_or(level >= LogLevel::Info, |s| level >= s.level)
}

/// Told of every error-log record, before the level filter (statsd's `gunicorn.log.*`
/// counters count what Gunicorn's logger methods were called with, whatever the level).
static OBSERVER: std::sync::OnceLock<fn(LogLevel, &str)> = std::sync::OnceLock::new();

/// Set the observer of every record (once per process; later calls change nothing).
pub fn observe(observer: fn(LogLevel, &str)) {
    let _ = OBSERVER.set(observer);
}

/// Write one error-log record (several lines if `message` has newlines, e.g. a traceback).
pub fn log(level: LogLevel, message: &str) {
    if let Some(observer) = OBSERVER.get() {
        observer(level, message);
    }
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let threshold = state.as_ref().map_or(LogLevel::Info, |s| s.level);
    if level < threshold {
        return;
    }
    let mut line = match state.as_ref().map(|s| s.format) {
        Some(LogFormat::Json) => json::error_line(level, message),
        _ => format!(
            "{} [{}] [{}] {}",
            timestamp("[%Y-%m-%d %H:%M:%S %z]"),
            std::process::id(),
            level.label(),
            message
        ),
    };
    if !line.ends_with('\n') {
        line.push('\n');
    }
    tap_line(&line);
    if let Some(forward) = forward_of(&state) {
        if let Some(syslog) = state.as_mut().and_then(|s| s.syslog.as_mut()) {
            syslog.send(level, "error", message);
        }
        // Outside the lock: a thread holding the GIL may be waiting for it.
        drop(state);
        return forward.error(level, message);
    }
    match state.as_mut() {
        Some(state) => {
            state.error.write_all(line.as_bytes());
            if let Some(syslog) = state.syslog.as_mut() {
                syslog.send(level, "error", message);
            }
        }
        None => {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Raw bytes to the error log stream (`wsgi.errors`, `print` to stderr under capture).
pub fn write_error_stream(bytes: &[u8]) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    match state.as_mut() {
        // Under JSON each write is one record: a stream of bare text would break every line
        // after it for a JSON reader. A blank write (`print`'s separate newline) is dropped.
        Some(state) if state.format == LogFormat::Json => {
            if !bytes.trim_ascii().is_empty() {
                let pid = std::process::id() as i32;
                if let Some(line) = json::foreign_line(pid, "wsgi.errors", bytes) {
                    state.error.write_all(line.as_bytes());
                }
            }
        }
        Some(state) => state.error.write_all(bytes),
        None => {
            let _ = io::stderr().write_all(bytes);
        }
    }
}

/// Write one access-log record: `format`'s line, or under JSON an object with the record's
/// fields and that line. No-op when there is no access log.
pub fn access(format: &AccessFormat, record: &AccessRecord<'_>) {
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let forward = forward_of(&guard);
    let Some(state) = guard.as_mut() else { return };
    if let Some(syslog) = state.syslog.as_mut().filter(|s| s.takes_access()) {
        syslog.send(LogLevel::Info, "access", &format.render(record));
    }
    if let Some(forward) = forward {
        // Outside the lock, as in `log`.
        drop(guard);
        return forward.access(format, record);
    }
    let Some(access) = state.access.as_mut() else {
        return;
    };
    let line = format.render(record);
    let line = match state.format {
        LogFormat::Json => json::access_line(record, &line),
        LogFormat::Text => line + "\n",
    };
    access.write_all(line.as_bytes());
}

/// The access-log record of a request known only from the scoreboard (see [`PartialRequest`]).
pub fn access_partial(
    format: &AccessFormat,
    request: &PartialRequest<'_>,
    status: u16,
    elapsed: std::time::Duration,
) {
    request.with_record(status, elapsed, format, |record| access(format, record));
}

/// Is the process writing JSON records (`--log-format json`)?
pub fn is_json() -> bool {
    let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.as_ref().is_some_and(|s| s.format == LogFormat::Json)
}

/// Is there an access log (a file or stream, or syslog taking access lines)? Gunicorn's
/// `access_log_enabled`: requests build no record otherwise.
pub fn has_access_log() -> bool {
    let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    state.as_ref().is_some_and(|s| {
        s.access.is_some()
            || s.forward.is_some()
            || s.syslog.as_ref().is_some_and(syslog::Syslog::takes_access)
    })
}

/// Now, in local time (the C library's tz data gives the offset): the broken-down time and
/// the milliseconds into its second. The one reader of the clock for every log timestamp.
pub(crate) fn local_now() -> Option<(libc::tm, u32)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` and `localtime_r` write into live locals passed by pointer; an
    // all-zero `tm` is a valid value of the plain C struct.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&ts.tv_sec, &mut tm).is_null() {
            return None;
        }
        Some((tm, (ts.tv_nsec / 1_000_000) as u32))
    }
}

/// Local time formatted with `strftime(3)` (Gunicorn's `[%Y-%m-%d %H:%M:%S %z]`).
pub fn timestamp(format: &str) -> String {
    let (Ok(fmt), Some((tm, _))) = (std::ffi::CString::new(format), local_now()) else {
        return String::new();
    };
    let mut buf = [0u8; 64];
    // SAFETY: `strftime` gets valid pointers to live locals, writes at most `buf.len()` bytes
    // and returns how many it wrote.
    let written = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm) };
    String::from_utf8_lossy(&buf[..written]).into_owned()
}

/// Raw stderr for the last words of a process whose log is not configured yet.
pub fn stderr_line(message: &str) {
    use std::os::fd::AsFd;
    // Nowhere to report a failure to write the last words.
    let _ = crate::fd::write_all(io::stderr().as_fd(), format!("{message}\n").as_bytes());
}

#[macro_export]
macro_rules! debug { ($($t:tt)*) => { if $crate::log::enabled($crate::config::LogLevel::Debug) { $crate::log::log($crate::config::LogLevel::Debug, &format!($($t)*)) } } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::log($crate::config::LogLevel::Info, &format!($($t)*)) } }
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::config::LogLevel::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::log($crate::config::LogLevel::Error, &format!($($t)*)) } }
#[macro_export]
macro_rules! critical { ($($t:tt)*) => { $crate::log::log($crate::config::LogLevel::Critical, &format!($($t)*)) } }
