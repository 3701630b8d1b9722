//! Setting the asgi worker up: its event loop, what its connections share, the loop's half
//! (the Python modules, loaded in import order) and the options that half takes.

use std::cell::{Cell, RefCell};
use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::{scope, Server, Shared};
use crate::config::{AsgiLoop, Lifespan};
use crate::wsgi::interpreter::format_exception;

const ASGI_BASE_PY: &str = include_str!("asgi_base.py");
const ASGI_CONN_PY: &str = include_str!("asgi_conn.py");
const ASGI_LOOP_PY: &str = include_str!("asgi_loop.py");
const TORNADO_ENV_PY: &str = include_str!("tornado_env.py");
const TORNADO_BRIDGE_PY: &str = include_str!("tornado_bridge.py");

/// The event loop `asgi_loop` asks for: uvloop's when it is installed (`auto`) or named.
pub(super) fn new_loop<'py>(
    py: Python<'py>,
    choice: AsgiLoop,
) -> Result<Bound<'py, PyAny>, String> {
    let uvloop = match choice {
        AsgiLoop::Asyncio => None,
        AsgiLoop::Auto => py.import("uvloop").ok(),
        AsgiLoop::Uvloop => Some(py.import("uvloop").map_err(|_| {
            "uvloop is not installed (--asgi-loop uvloop): pip install uvloop".to_string()
        })?),
    };
    let made = match &uvloop {
        Some(uv) => uv.call_method0("new_event_loop"),
        None => py
            .import("asyncio")
            .and_then(|a| a.call_method0("new_event_loop")),
    };
    let event_loop = made.map_err(|e| format_exception(py, &e))?;
    py.import("asyncio")
        .and_then(|a| a.call_method1("set_event_loop", (&event_loop,)))
        .map_err(|e| format_exception(py, &e))?;
    Ok(event_loop)
}

/// The settings asgi_loop.py's `Worker` takes; for the tornado kind, `serve`: the app in
/// tornado_bridge.py's `Bridge`.
pub(super) fn worker_opts<'py>(
    py: Python<'py>,
    cfg: &crate::config::Config,
    shared: &Shared,
    app: &Py<PyAny>,
    server: &Py<Server>,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = PyDict::new(py);
    let lifespan = match (shared.tornado, cfg.asgi.lifespan) {
        // tornado apps have no lifespan protocol.
        (true, _) | (false, Lifespan::Off) => "off",
        (false, Lifespan::Auto) => "auto",
        (false, Lifespan::On) => "on",
    };
    opts.set_item("lifespan", lifespan)?;
    opts.set_item("header_timeout", cfg.header_timeout.as_secs_f64())?;
    opts.set_item("keepalive", cfg.keepalive.as_secs_f64())?;
    opts.set_item("worker_connections", cfg.worker_connections.max(1))?;
    opts.set_item("disconnect_grace", cfg.asgi.disconnect_grace.as_secs_f64())?;
    if shared.tornado {
        // tornado_env first: the bridge imports it by name.
        load(
            py,
            TORNADO_ENV_PY,
            c"gunicorn_rs/tornado_env.py",
            c"_gunicorn_rs_tornado_env",
        )?;
        let module = load(
            py,
            TORNADO_BRIDGE_PY,
            c"gunicorn_rs/tornado_bridge.py",
            c"_gunicorn_rs_tornado",
        )?;
        let bridge = module.getattr("Bridge")?.call1((app.bind(py), server))?;
        opts.set_item("serve", bridge.getattr("serve")?)?;
    }
    Ok(opts)
}

/// What every connection of the worker shares: the scope templates, the bounds, the date.
pub(super) fn shared_state(py: Python<'_>, cfg: &crate::config::Config) -> PyResult<Shared> {
    let info = PyDict::new(py);
    info.set_item("version", "3.0")?;
    info.set_item("spec_version", "2.3")?;
    let extensions = PyDict::new(py);
    extensions.set_item("http.response.trailers", PyDict::new(py))?;
    let http_scope = scope::http_template(py, &cfg.asgi.root_path, &info)?;
    Ok(Shared {
        root_path: cfg.asgi.root_path.clone(),
        asgi_info: info.unbind(),
        http_scope: http_scope.unbind(),
        extensions: extensions.unbind(),
        stopping: Cell::new(false),
        keepalive: !cfg.keepalive.is_zero(),
        websocket_max_message: cfg.asgi.websocket_max_message_size,
        websocket_deflate: cfg.asgi.websocket_per_message_deflate,
        tornado: cfg.worker_class == crate::config::WorkerClass::Tornado,
        wsgi: Default::default(),
        date: RefCell::new((0, String::new())),
        entries: RefCell::new((0..crate::config::GREEN_LANES).rev().collect()),
        ready: Py::new(py, super::http_send::Ready)?,
        task_type: py.import("asyncio")?.getattr("Task")?.unbind(),
    })
}

/// The loop's half (asgi_loop.py and what it imports), each module before those that import
/// it by name (from_code puts each in sys.modules): the shared states, the WebSocket half,
/// the connection, then the loop.
pub(super) fn load_modules(py: Python<'_>) -> Result<Bound<'_, PyModule>, String> {
    let failed = |e: PyErr| format_exception(py, &e);
    let modules = [
        (
            ASGI_BASE_PY,
            c"gunicorn_rs/asgi_base.py",
            c"_gunicorn_rs_asgi_base",
        ),
        (
            ASGI_CONN_PY,
            c"gunicorn_rs/asgi_conn.py",
            c"_gunicorn_rs_asgi_conn",
        ),
        (
            ASGI_LOOP_PY,
            c"gunicorn_rs/asgi_loop.py",
            c"_gunicorn_rs_asgi",
        ),
    ];
    let mut last = None;
    for (source, file, name) in modules {
        last = Some(load(py, source, file, name).map_err(failed)?);
    }
    last.ok_or_else(|| "no loop module".to_string())
}

/// One of the loop's modules, run from its source as `name` (and so in `sys.modules`, where
/// the modules after it import it from).
fn load<'py>(
    py: Python<'py>,
    source: &str,
    file: &std::ffi::CStr,
    name: &std::ffi::CStr,
) -> PyResult<Bound<'py, PyModule>> {
    let code = CString::new(source)?;
    PyModule::from_code(py, &code, file, name)
}
