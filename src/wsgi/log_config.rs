//! `--log-config` (ini), `--log-config-json` and `logconfig_dict`: Python's `logging`
//! configured as Gunicorn configures it (the Python half is `log_config.py`), and every error
//! and access record handed to the `gunicorn.error` / `gunicorn.access` loggers, so the user's
//! handlers, levels and formatters apply (`reference/gunicorn.md` §4, "Logging" settings).
//!
//! Set up once in the master before anything is bound (a bad configuration is one line and
//! exit code 1); the workers inherit the configured loggers through fork, as Gunicorn's do.
//! Each record costs the GIL and a `logging` call in the process that produces it.

use std::ffi::CString;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use crate::config::{Config, LogLevel, LogTarget};
use crate::log::access::{AccessFormat, AccessRecord, AtomValue};

const LOG_CONFIG_PY: &str = include_str!("log_config.py");

/// The helper's entry points, bound once.
struct PythonLogging {
    error: Py<PyAny>,
    access: Py<PyAny>,
    reopen: Py<PyAny>,
}

/// Is any logging configuration set?
pub fn is_configured(cfg: &Config) -> bool {
    cfg.logconfig.is_some() || cfg.logconfig_json.is_some() || cfg.hooks.logconfig_dict.is_some()
}

/// `log_config.py`, compiled as a private module.
pub(super) fn helper(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let code = CString::new(LOG_CONFIG_PY).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("log_config.py has a NUL byte: {e}"))
    })?;
    PyModule::from_code(
        py,
        &code,
        c"gunicorn_rs/log_config.py",
        c"_gunicorn_rs_log_config",
    )
}

/// Configure Python's `logging` from the settings (or start `--logger-class`'s logger, which
/// reads them itself) and route the records there; nothing when neither is set. `Err` is the
/// one line to report.
pub fn install(cfg: &Config) -> Result<(), String> {
    if let Some(path) = &cfg.logger_class {
        return Python::attach(|py| super::logger_class::install(py, cfg, path)).map_err(one_line);
    }
    if !is_configured(cfg) {
        return Ok(());
    }
    let (forward, level) = Python::attach(|py| setup(py, cfg)).map_err(one_line)?;
    crate::log::set_forward(Arc::new(forward), level);
    Ok(())
}

/// A setup failure as one line: our RuntimeError's text, or `Type: value`.
fn one_line(e: PyErr) -> String {
    Python::attach(|py| {
        let value = e.value(py).to_string();
        match e.is_instance_of::<pyo3::exceptions::PyRuntimeError>(py) {
            true => value,
            false => format!("{}: {value}", e.get_type(py)),
        }
    })
}

fn target(t: &LogTarget) -> String {
    match t {
        LogTarget::Stdout | LogTarget::Stderr => "-".into(),
        LogTarget::File(path) => path.display().to_string(),
    }
}

fn setup(py: Python<'_>, cfg: &Config) -> PyResult<(PythonLogging, LogLevel)> {
    let module = helper(py)?;
    let dict = cfg.hooks.logconfig_dict.as_ref().map(|d| d.clone_ref(py));
    let level: i64 = module
        .getattr("setup")?
        .call1((
            target(&cfg.errorlog),
            cfg.accesslog.as_ref().map(target),
            cfg.loglevel.name(),
            cfg.logconfig.as_deref(),
            cfg.logconfig_json.as_deref(),
            dict,
        ))?
        .extract()?;
    let logging = PythonLogging {
        error: module.getattr("error")?.unbind(),
        access: module.getattr("access")?.unbind(),
        reopen: module.getattr("reopen_files")?.unbind(),
    };
    Ok((logging, from_python(level)))
}

/// `logging`'s numeric levels (`logging.DEBUG` = 10 … `CRITICAL` = 50).
pub(super) fn to_python(level: LogLevel) -> i64 {
    match level {
        LogLevel::Debug => 10,
        LogLevel::Info => 20,
        LogLevel::Warning => 30,
        LogLevel::Error => 40,
        LogLevel::Critical => 50,
    }
}

/// The lowest of our levels a logger at Python level `n` lets through.
fn from_python(n: i64) -> LogLevel {
    match n {
        ..=10 => LogLevel::Debug,
        11..=20 => LogLevel::Info,
        21..=30 => LogLevel::Warning,
        31..=40 => LogLevel::Error,
        _ => LogLevel::Critical,
    }
}

impl crate::log::Forward for PythonLogging {
    fn error(&self, level: LogLevel, message: &str) {
        let (message, traceback) = crate::log::json::split_traceback(message);
        Python::attach(|py| {
            let sent = self.error.call1(py, (to_python(level), message, traceback));
            report(py, sent);
        });
    }

    fn reopen(&self) {
        Python::attach(|py| report(py, self.reopen.call0(py)));
    }

    fn access(&self, format: &AccessFormat, record: &AccessRecord<'_>) {
        let atoms = format.atoms(record);
        Python::attach(|py| {
            let sent = atoms_dict(py, &atoms)
                .and_then(|atoms| self.access.call1(py, (format.text(), atoms)));
            report(py, sent);
        });
    }
}

fn atoms_dict<'py>(py: Python<'py>, atoms: &[(String, AtomValue)]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in atoms {
        match value {
            AtomValue::Text(text) => dict.set_item(key, text)?,
            AtomValue::Int(n) => dict.set_item(key, n)?,
        }
    }
    Ok(dict)
}

/// A record `logging` could not take (our helper raised, not a handler: `logging` reports
/// its handlers' failures itself) goes to stderr, the one place left.
pub(super) fn report(py: Python<'_>, sent: PyResult<Py<PyAny>>) {
    if let Err(e) = sent {
        crate::log::stderr_line(&format!(
            "gunicorn-rs: a log record could not be handed to Python's logging: {}",
            super::interpreter::format_exception(py, &e).trim_end()
        ));
    }
}
