//! `--logger-class`: a user's logger class, usually a subclass of Gunicorn's
//! `gunicorn.glogging.Logger` overriding `access()`, `setup()` or the level methods.
//!
//! Instantiated once in the master with a `cfg` facade (every setting by attribute, as
//! Gunicorn's `Config`), before anything is bound; a class that cannot be imported or
//! instantiated is one line and exit code 1. The workers inherit the instance through fork,
//! as Gunicorn's workers inherit the Arbiter's logger. Then every error record calls its
//! level method (`info(msg)`, `error(msg)`… with any traceback in the text) and every request
//! calls `access(resp, req, environ, request_time)` with objects carrying what Gunicorn's own
//! `Logger.atoms` reads (the Python half is in `log_config.py`).

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyList};

use crate::config::{Config, LogLevel};
use crate::log::access::{AccessFormat, AccessRecord};

/// The instance, for the hooks' `server.log` and `worker.log` (Gunicorn hands hooks the same
/// logger object its workers log through).
static INSTANCE: OnceLock<Py<PyAny>> = OnceLock::new();

/// The `--logger-class` instance, when there is one.
pub(super) fn instance(py: Python<'_>) -> Option<Py<PyAny>> {
    INSTANCE.get().map(|logger| logger.clone_ref(py))
}

struct LoggerClass {
    logger: Py<PyAny>,
    error: Py<PyAny>,
    access: Py<PyAny>,
    reopen: Py<PyAny>,
}

/// Instantiate `cfg.logger_class` and route the records to it. `Err` is the one line to report.
pub(super) fn install(py: Python<'_>, cfg: &Config, path: &str) -> PyResult<()> {
    let module = super::log_config::helper(py)?;
    let settings = Py::new(py, super::hooks::Settings::new(cfg))?;
    let logger = module.getattr("load_logger")?.call1((path, settings))?;
    let _ = INSTANCE.set(logger.clone().unbind());
    let forward = LoggerClass {
        logger: logger.unbind(),
        error: module.getattr("class_error")?.unbind(),
        access: module.getattr("class_access")?.unbind(),
        reopen: module.getattr("class_reopen")?.unbind(),
    };
    // The class's own `setup` filters by `cfg.loglevel`, as Gunicorn's does.
    crate::log::set_forward(Arc::new(forward), cfg.loglevel);
    Ok(())
}

impl crate::log::Forward for LoggerClass {
    fn reopen(&self) {
        Python::attach(|py| {
            let sent = self.reopen.call1(py, (&self.logger,));
            super::log_config::report(py, sent);
        });
    }

    fn error(&self, level: LogLevel, message: &str) {
        Python::attach(|py| {
            let level = super::log_config::to_python(level);
            let sent = self.error.call1(py, (&self.logger, level, message));
            super::log_config::report(py, sent);
        });
    }

    fn access(&self, format: &AccessFormat, record: &AccessRecord<'_>) {
        let latin1 = |v: &[u8]| v.iter().map(|&b| b as char).collect::<String>();
        let pairs = |headers: &[(String, Vec<u8>)]| {
            headers
                .iter()
                .map(|(n, v)| (n.clone(), latin1(v)))
                .collect::<Vec<_>>()
        };
        let environ: Vec<(String, String)> = format
            .environ_keys()
            .into_iter()
            .zip(record.environ)
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .collect();
        Python::attach(|py| {
            let sent = PyList::new(py, pairs(record.request_headers)).and_then(|req_headers| {
                let request = (
                    record.method,
                    record.uri,
                    record.path_info,
                    record.query,
                    record.version,
                    req_headers,
                );
                let args = (
                    &self.logger,
                    request,
                    record.status,
                    pairs(record.response_headers),
                    record.bytes,
                    record.peer.map(|ip| ip.to_string()).unwrap_or_default(),
                    environ.into_py_dict(py)?,
                    record.duration.as_micros() as u64,
                );
                self.access.call1(py, args)
            });
            super::log_config::report(py, sent);
        });
    }
}
