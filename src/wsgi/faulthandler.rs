//! The worker's Python side of "what is this stuck worker doing?": `faulthandler` on the dump
//! signal, writing into the slot's memfd (DESIGN §6), and the `RequestTimeout` exception that
//! `--request-timeout` raises in the app.
//!
//! faulthandler's handler is C: it dumps every thread while a C extension holds the GIL,
//! where a Python-level handler would never run (`reference/tui.md` §3.2, checked). The
//! timeout interrupt, in contrast, must be Python-level — raising an exception is only
//! possible between bytecodes — so it takes effect once the app is back in Python.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::interpreter::format_exception;

/// Set by the worker's watchdog just before it signals the main thread; taken by the Python
/// handler, so a signal that lands after the request ended (or twice) raises nothing.
static TIMEOUT_PENDING: AtomicBool = AtomicBool::new(false);

const SETUP_PY: &str = r#"
import signal, sys, types

class RequestTimeout(Exception):
    """The request ran past --request-timeout; gunicorn-rs has already answered 504."""

RequestTimeout.__module__ = "gunicorn_rs"
_module = sys.modules.setdefault("gunicorn_rs", types.ModuleType("gunicorn_rs"))
_module.RequestTimeout = RequestTimeout

def install(signum, take_pending, seconds):
    def on_request_timeout(signum, frame):
        if take_pending():
            raise RequestTimeout(f"request exceeded --request-timeout {seconds}")
    signal.signal(signum, on_request_timeout)
"#;

/// `faulthandler.register(signum, file=fd, all_threads=True, chain=chain)`. An app that
/// registers the same signal itself replaces this. `chain`: after writing, call the handler
/// that was installed before (a greenlet worker's, which wakes its hub).
pub fn register_dump(signum: i32, fd: RawFd, chain: bool) -> Result<(), String> {
    Python::attach(|py| {
        let register = || -> PyResult<()> {
            let kwargs = PyDict::new(py);
            kwargs.set_item("file", fd)?;
            kwargs.set_item("all_threads", true)?;
            kwargs.set_item("chain", chain)?;
            py.import("faulthandler")?
                .call_method("register", (signum,), Some(&kwargs))?;
            Ok(())
        };
        register().map_err(|e| format_exception(py, &e))
    })
}

#[pyfunction]
fn take_timeout_pending() -> bool {
    TIMEOUT_PENDING.swap(false, Ordering::SeqCst)
}

/// Install the Python-level handler of `signum` that raises `gunicorn_rs.RequestTimeout` in
/// the main thread when a timeout is pending. Main thread only (Python's rule for handlers).
pub fn install_request_timeout(signum: i32, seconds: u64) -> Result<(), String> {
    Python::attach(|py| {
        let install = || -> PyResult<()> {
            let code = std::ffi::CString::new(SETUP_PY)?;
            let module = PyModule::from_code(
                py,
                &code,
                c"gunicorn_rs/request_timeout.py",
                c"_gunicorn_rs_request_timeout",
            )?;
            let take = wrap_pyfunction!(take_timeout_pending, py)?;
            module.call_method1("install", (signum, take, seconds))?;
            Ok(())
        };
        install().map_err(|e| format_exception(py, &e))
    })
}

/// Watchdog: the next run of the handler raises. Async-signal-safe and GIL-free (an atomic).
pub fn set_timeout_pending(pending: bool) {
    TIMEOUT_PENDING.store(pending, Ordering::SeqCst);
}

/// `gunicorn_rs.RequestTimeout`, once `install_request_timeout` defined it.
pub(crate) fn request_timeout_type(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("gunicorn_rs")?.getattr("RequestTimeout")
}

/// Raise `RequestTimeout` in the Python thread `ident` at its next bytecode, if
/// `still_running()` (evaluated with the GIL held, so the thread cannot finish its request in
/// between) says its request is still the one that timed out.
pub fn interrupt_thread(ident: u64, still_running: impl FnOnce() -> bool) {
    Python::attach(|py| {
        if !still_running() {
            return;
        }
        if let Ok(exc) = request_timeout_type(py) {
            // SAFETY: the GIL is held; `exc` is a live exception type; SetAsyncExc takes its
            // own reference and returns the number of threads it found (0 if the thread ended).
            unsafe {
                pyo3::ffi::PyThreadState_SetAsyncExc(ident as std::ffi::c_long, exc.as_ptr());
            }
        }
    });
}

/// Take back an interrupt that has not been raised yet (the request ended before it landed).
pub fn withdraw_thread_interrupt(ident: u64) {
    Python::attach(|_py| {
        // SAFETY: the GIL is held; a NULL exception clears the thread's pending one.
        unsafe {
            pyo3::ffi::PyThreadState_SetAsyncExc(ident as std::ffi::c_long, std::ptr::null_mut());
        }
    });
}

/// The calling thread's Python identity (`threading.get_ident()`), for `interrupt_thread`.
pub fn current_thread_ident() -> u64 {
    Python::attach(|_py| {
        // SAFETY: no preconditions beyond an initialised interpreter (attach ensures it).
        let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
        // c_ulong is u64 here, u32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        u64::from(ident)
    })
}
