//! The Python objects server hooks receive, with the attribute names of Gunicorn's own
//! (`Arbiter`, `Worker`, `Config`, `glogging.Logger`, `Application`), so existing config files
//! keep working. They are facades over plain Rust data, refreshed by `wsgi::hooks` before
//! each call; `Arbiter` and `Worker` take arbitrary attributes too (a hook may stash state).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyTuple};

use crate::config::{Config, LogLevel, Value};

/// `server.num_workers = N` from a hook, waiting for the master loop (0 = none).
pub(super) static REQUESTED_WORKERS: AtomicUsize = AtomicUsize::new(0);
/// `worker.alive = False` from a hook or a signal handler, waiting for the worker loop.
pub(super) static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// `server.log` / `worker.log`: Gunicorn's logger methods, writing Gunicorn-format lines to
/// the error log through `crate::log`. Arguments are `%`-formatted as `logging` does.
#[pyclass(frozen, module = "gunicorn_rs", name = "Logger")]
pub struct Logger;

/// Gunicorn's `Logger` methods that only differ in their level: one body, generated, so the
/// list reads as the table it is. (`#[pymethods]` sees the expanded impl.)
macro_rules! logger_methods {
    (
        levels { $($(#[$doc:meta])* $name:ident => $level:expr, $with_traceback:expr;)* }
        others { $($others:tt)* }
    ) => {
        #[pymethods]
        impl Logger {
            $(
                $(#[$doc])*
                #[pyo3(signature = (msg, *args, **kwargs))]
                fn $name(
                    &self,
                    msg: &Bound<'_, PyAny>,
                    args: &Bound<'_, PyTuple>,
                    kwargs: Option<&Bound<'_, PyDict>>,
                ) -> PyResult<()> {
                    emit($level, msg, args, kwargs, $with_traceback)
                }
            )*
            $($others)*
        }
    };
}

logger_methods! {
    levels {
        debug => LogLevel::Debug, false;
        info => LogLevel::Info, false;
        warning => LogLevel::Warning, false;
        warn => LogLevel::Warning, false;
        error => LogLevel::Error, false;
        critical => LogLevel::Critical, false;
        /// ERROR with the current exception's traceback (`logging.exception`).
        exception => LogLevel::Error, true;
    }
    others {
        /// `log(lvl, msg, *args)` with `logging`'s numeric levels.
        #[pyo3(signature = (lvl, msg, *args, **kwargs))]
        fn log(
            &self,
            lvl: i64,
            msg: &Bound<'_, PyAny>,
            args: &Bound<'_, PyTuple>,
            kwargs: Option<&Bound<'_, PyDict>>,
        ) -> PyResult<()> {
            let level = match lvl {
                ..=10 => LogLevel::Debug,
                11..=20 => LogLevel::Info,
                21..=30 => LogLevel::Warning,
                31..=40 => LogLevel::Error,
                _ => LogLevel::Critical,
            };
            emit(level, msg, args, kwargs, false)
        }
        fn reopen_files(&self) {
            let _ = crate::log::reopen();
        }
        fn close_on_exec(&self) {}
    }
}

fn emit(
    level: LogLevel,
    msg: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    exc_default: bool,
) -> PyResult<()> {
    if !crate::log::enabled(level) {
        return Ok(());
    }
    let py = msg.py();
    let mut text = msg.str()?;
    if !args.is_empty() {
        // `logging.LogRecord`: a single non-empty mapping argument is used as the mapping.
        let first = args.get_item(0)?;
        let mapping = args.len() == 1 && first.cast::<PyMapping>().is_ok() && first.is_truthy()?;
        let formatted = if mapping {
            text.rem(first)?
        } else {
            text.rem(args)?
        };
        text = formatted.str()?;
    }
    let mut line = text.to_string();
    let exc_info = match kwargs.and_then(|k| k.get_item("exc_info").ok().flatten()) {
        Some(value) => value.is_truthy()?,
        None => exc_default,
    };
    if exc_info {
        let tb: String = py
            .import("traceback")?
            .call_method0("format_exc")?
            .extract()?;
        line.push('\n');
        line.push_str(tb.trim_end());
    }
    crate::log::log(level, &line);
    Ok(())
}

/// `server.cfg` / `worker.cfg`: every setting's value by attribute (Gunicorn's
/// `Config.__getattr__`), plus the properties hooks use (`proc_name`, `uid`, `gid`, …).
#[pyclass(frozen, module = "gunicorn_rs", name = "Config")]
pub struct Settings {
    cfg: Config,
}

impl Settings {
    pub fn new(cfg: &Config) -> Settings {
        Settings { cfg: cfg.clone() }
    }
}

#[pymethods]
impl Settings {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let alias = match name {
            "proc_name" => return Ok(self.cfg.proc_name().into_pyobject(py)?.into_any().unbind()),
            "worker_class_str" => return Ok("sync".into_pyobject(py)?.into_any().unbind()),
            "is_ssl" => return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind()),
            "uid" => "user",
            "gid" => "group",
            other => other,
        };
        // The config file's own dict, nested as it was written (a logger class's `setup`
        // hands it to dictConfig).
        if let ("logconfig_dict", Some(dict)) = (alias, &self.cfg.hooks.logconfig_dict) {
            return Ok(dict.clone_ref(py));
        }
        if let Some(hook) = self.cfg.hooks.get(alias) {
            return Ok(hook.func.clone_ref(py));
        }
        match self.cfg.values.iter().find(|(n, _)| *n == alias) {
            Some((_, value)) => to_python(py, value),
            None => Err(PyAttributeError::new_err(format!(
                "No configuration setting for: {name}"
            ))),
        }
    }
}

/// A setting's value as Python holds it in Gunicorn's `cfg`.
fn to_python(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::None | Value::Callable(_) => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::Str(s) | Value::Other(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::List(items) => PyList::new(py, items)?.into_any().unbind(),
        Value::Map(pairs) => {
            let dict = PyDict::new(py);
            for (k, v) in pairs {
                dict.set_item(k, v)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// `server.app` / `worker.app`: Gunicorn's `Application` (its `cfg`; `wsgi()` returns the
/// loaded callable in a worker, `None` before it is loaded).
#[pyclass(module = "gunicorn_rs", name = "Application")]
pub struct Application {
    #[pyo3(get)]
    pub(super) cfg: Py<Settings>,
    #[pyo3(get, set)]
    pub(super) callable: Py<PyAny>,
    #[pyo3(get)]
    pub(super) app_uri: Option<String>,
}

#[pymethods]
impl Application {
    fn wsgi(&self, py: Python<'_>) -> Py<PyAny> {
        self.callable.clone_ref(py)
    }
}

/// The master (Gunicorn's `Arbiter`), as `server` in hooks.
#[pyclass(dict, module = "gunicorn_rs", name = "Arbiter")]
pub struct Arbiter {
    #[pyo3(get, set)]
    pub(super) pid: i32,
    #[pyo3(get, set)]
    pub(super) cfg: Py<Settings>,
    #[pyo3(get)]
    /// A [`Logger`] facade, or the `--logger-class` instance.
    pub(super) log: Py<PyAny>,
    #[pyo3(get)]
    pub(super) app: Py<Application>,
    #[pyo3(get, name = "WORKERS")]
    pub(super) workers: Py<PyDict>,
    #[pyo3(get)]
    pub(super) master_name: String,
    #[pyo3(get)]
    pub(super) proc_name: String,
    pub(super) num_workers: usize,
}

#[pymethods]
impl Arbiter {
    #[getter]
    fn num_workers(&self) -> usize {
        self.num_workers
    }

    /// Gunicorn's setter: the master applies it (and runs `nworkers_changed`) in its loop.
    #[setter]
    fn set_num_workers(&mut self, value: usize) {
        self.num_workers = value;
        REQUESTED_WORKERS.store(value.max(1), Ordering::Relaxed);
    }
}

/// A worker (Gunicorn's `Worker`), as `worker` in hooks.
#[pyclass(dict, module = "gunicorn_rs", name = "Worker")]
pub struct Worker {
    /// An int, or `"[booting]"` before the fork (as Gunicorn).
    #[pyo3(get, set)]
    pub(super) pid: Py<PyAny>,
    #[pyo3(get, set)]
    pub(super) ppid: i32,
    #[pyo3(get, set)]
    pub(super) age: u64,
    /// Requests handled so far.
    #[pyo3(get, set)]
    pub(super) nr: u64,
    #[pyo3(get, set)]
    pub(super) booted: bool,
    #[pyo3(get, set)]
    pub(super) aborted: bool,
    #[pyo3(get)]
    pub(super) cfg: Py<Settings>,
    #[pyo3(get)]
    /// A [`Logger`] facade, or the `--logger-class` instance.
    pub(super) log: Py<PyAny>,
    #[pyo3(get, set)]
    pub(super) wsgi: Py<PyAny>,
    #[pyo3(get)]
    pub(super) app: Py<Application>,
    /// Gunicorn's heartbeat file; gunicorn-rs keeps the heartbeat in shared memory.
    #[pyo3(get)]
    pub(super) tmp: Py<PyAny>,
    #[pyo3(get)]
    pub(super) timeout: f64,
    pub(super) alive: bool,
}

#[pymethods]
impl Worker {
    #[getter]
    fn alive(&self) -> bool {
        self.alive
    }

    /// `worker.alive = False` (e.g. in `post_request`): the worker stops after this request.
    #[setter]
    fn set_alive(&mut self, alive: bool) {
        self.alive = alive;
        if !alive {
            STOP_REQUESTED.store(true, Ordering::Relaxed);
        }
    }

    fn __str__(&self, py: Python<'_>) -> String {
        format!("<Worker {}>", self.pid.bind(py))
    }

    fn notify(&self) {}
}
