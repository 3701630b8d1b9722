//! The hand-off of records to Python (`wsgi::log_config`, `wsgi::logger_class`), kept here
//! as a trait so that this module, used by the master, knows no Python.

use super::access::{AccessFormat, AccessRecord};
use crate::config::LogLevel;

/// Where error and access records go when the user configured Python's `logging`
/// (`--log-config`, `--log-config-json`, `logconfig_dict`) or a `--logger-class`; implemented
/// in `wsgi::log_config` and `wsgi::logger_class`, which know Python (this module does not).
pub trait Forward: Send + Sync {
    fn error(&self, level: LogLevel, message: &str);
    fn access(&self, format: &AccessFormat, record: &AccessRecord<'_>);
    /// USR1: reopen the log files (Gunicorn's `Logger.reopen_files`).
    fn reopen(&self);
}

thread_local! {
    /// Set on a thread that must not wait for the GIL (a worker's watchdog logs while the
    /// app may hold it): its records keep to the built-in writers.
    static RUST_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keep this thread's records off Python's `logging` (see [`RUST_ONLY`]).
pub fn keep_off_python() {
    RUST_ONLY.with(|r| r.set(true));
}

/// May this thread's records go to the forward?
pub(super) fn allowed_here() -> bool {
    !RUST_ONLY.with(|r| r.get())
}
