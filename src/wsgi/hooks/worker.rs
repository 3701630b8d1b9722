//! The worker-side hooks: `post_fork`, `post_worker_init`, `pre_request`, `post_request`,
//! `worker_int`, `worker_abort`, `worker_exit`.
//!
//! `worker_int` / `worker_abort` run from Python-level signal handlers (a Rust signal handler
//! cannot call Python): `signal.signal` installs them and `signal.set_wakeup_fd` points at the
//! worker's wake pipe, so an idle worker wakes and runs them through [`WorkerHooks::check_signals`],
//! while a busy app runs them at its next bytecode and gets `SystemExit` inside the request, as
//! under Gunicorn.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::facades::{Application, Arbiter, Worker, STOP_REQUESTED};
use super::request::{Request, Response};
use super::run_hook;
use crate::config::{Config, Hook, Hooks};
use crate::http::RequestHead;
use crate::wsgi::interpreter::format_exception;
use crate::wsgi::response::SentResponse;
use crate::wsgi::App;

/// The exit code a Python signal handler asked for (INT/QUIT 0, ABRT 1); -1 = none.
static EXIT_CODE: AtomicI32 = AtomicI32::new(-1);

/// Was an exit requested by a signal handler (so a `SystemExit` is expected, not an error)?
pub(super) fn exit_requested() -> bool {
    EXIT_CODE.load(Ordering::Relaxed) >= 0
}

/// One worker's hooks and the `server` / `worker` objects they receive.
pub struct WorkerHooks {
    hooks: Hooks,
    server: Py<Arbiter>,
    worker: Py<Worker>,
    /// Tells the worker's loop to stop (its TERM flag).
    on_stop: fn(),
}

impl WorkerHooks {
    pub(super) fn new(
        cfg: &Config,
        server: Py<Arbiter>,
        worker: Py<Worker>,
        on_stop: fn(),
    ) -> Self {
        STOP_REQUESTED.store(false, Ordering::Relaxed);
        EXIT_CODE.store(-1, Ordering::Relaxed);
        WorkerHooks {
            hooks: cfg.hooks.clone(),
            server,
            worker,
            on_stop,
        }
    }

    /// Call `name` with `(server, worker)` or `(worker)` per its arity; errors are logged.
    fn call(&self, name: &'static str, with_server: bool) {
        let Some(hook) = self.hooks.get(name) else {
            return;
        };
        Python::attach(|py| {
            let worker = self.worker.bind(py).clone().into_any();
            let args = match with_server {
                true => vec![self.server.bind(py).clone().into_any(), worker],
                false => vec![worker],
            };
            run_hook(py, name, hook, &args);
        });
        self.sync_stop();
    }

    /// Right after fork, before the app is loaded.
    pub fn post_fork(&self) {
        self.call("post_fork", true);
    }

    /// The app is loaded: `worker.wsgi` is set, then `post_worker_init(worker)`.
    pub fn post_worker_init(&self, app: &App) {
        Python::attach(|py| {
            let worker = self.worker.bind(py);
            let callable = app.callable().clone_ref(py);
            worker.borrow_mut().wsgi = callable.clone_ref(py);
            let app_facade: &Py<Application> = &worker.borrow().app;
            app_facade.bind(py).borrow_mut().callable = callable;
        });
        self.call("post_worker_init", false);
        Python::attach(|py| self.worker.bind(py).borrow_mut().booted = true);
    }

    /// `--reload` saw a change: the worker is about to exit (Gunicorn calls `worker_int`).
    pub fn worker_int(&self) {
        self.call("worker_int", false);
    }

    /// The worker is ending: `worker_exit(server, worker)`.
    pub fn worker_exit(&self) {
        if self.hooks.worker_exit.is_some() {
            Python::attach(|py| self.worker.bind(py).borrow_mut().alive = false);
        }
        self.call("worker_exit", true);
    }

    /// The exit code a signal handler asked for, if one ran.
    pub fn exit_code(&self) -> Option<i32> {
        let code = EXIT_CODE.load(Ordering::Relaxed);
        (code >= 0).then_some(code)
    }

    /// A hook set `worker.alive = False`, or a signal handler ran: stop the loop.
    fn sync_stop(&self) {
        if STOP_REQUESTED.load(Ordering::Relaxed) {
            (self.on_stop)();
        }
    }

    /// Install Python-level INT/QUIT/ABRT handlers when `worker_int`, `worker_abort` or
    /// `worker_exit` is set (else the worker keeps its async-signal-safe Rust handlers), with
    /// the wake pipe's write end `wake_fd` as Python's wakeup fd.
    pub fn install_signal_handlers(&self, wake_fd: RawFd) -> Result<(), String> {
        let h = &self.hooks;
        if h.worker_int.is_none() && h.worker_abort.is_none() && h.worker_exit.is_none() {
            return Ok(());
        }
        Python::attach(|py| {
            let install = || -> PyResult<()> {
                let signal = py.import("signal")?;
                let kwargs = PyDict::new(py);
                kwargs.set_item("warn_on_full_buffer", false)?;
                signal
                    .getattr("set_wakeup_fd")?
                    .call((wake_fd,), Some(&kwargs))?;
                for (sig, name, code) in [
                    ("SIGINT", "worker_int", 0),
                    ("SIGQUIT", "worker_int", 0),
                    ("SIGABRT", "worker_abort", 1),
                ] {
                    let handler = SignalHandler {
                        name,
                        hook: h.get(name).cloned(),
                        worker: self.worker.clone_ref(py),
                        code,
                    };
                    signal.call_method1("signal", (signal.getattr(sig)?, handler))?;
                }
                Ok(())
            };
            install().map_err(|e| format_exception(py, &e))
        })
    }

    /// After a wake-up: run pending Python signal handlers (which may stop the worker).
    pub fn check_signals(&self) {
        Python::attach(|py| {
            if let Err(err) = py.check_signals() {
                if !(err.is_instance_of::<PySystemExit>(py) && exit_requested()) {
                    crate::error!(
                        "Exception in signal handler\n{}",
                        format_exception(py, &err)
                    );
                }
            }
        });
        self.sync_stop();
    }

    /// Is either request hook set (so `req`/`resp` objects are worth building)?
    pub(crate) fn wants_request(&self) -> bool {
        self.hooks.pre_request.is_some() || self.hooks.post_request.is_some()
    }

    /// `pre_request(worker, req)`; without one, Gunicorn's default DEBUG line `METHOD path`.
    /// Counts the request in `worker.nr`. Returns `req` for `post_request` (if a request hook
    /// is set) and what `pre_request` raised, which fails the request (as in Gunicorn).
    pub(crate) fn pre_request<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        conn: &crate::wsgi::ConnInfo,
    ) -> (Option<Bound<'py, PyAny>>, PyResult<()>) {
        if !self.wants_request() {
            crate::debug!("{} {}", head.method, head.path);
            return (None, Ok(()));
        }
        let worker = self.worker.bind(py);
        let req = match Request::new(py, head, conn).and_then(|r| Bound::new(py, r)) {
            Ok(req) => req,
            Err(err) => return (None, Err(err)),
        };
        let called = match &self.hooks.pre_request {
            Some(hook) => call_request_hook(py, hook, &[worker.as_any(), req.as_any()]),
            None => {
                crate::debug!("{} {}", head.method, head.path);
                Ok(())
            }
        };
        worker.borrow_mut().nr += 1;
        (Some(req.into_any()), called)
    }

    /// `post_request(worker, req, environ, resp)` (2–4 arguments per its arity); also after
    /// errors. An exception is logged as Gunicorn words it, and changes nothing else.
    /// `req` is what [`pre_request`](Self::pre_request) returned; `resp`, the response as
    /// it went out (`None`: the app never ran, and the hook gets `None`).
    pub(crate) fn post_request(
        &self,
        py: Python<'_>,
        req: Option<&Bound<'_, PyAny>>,
        environ: Option<&Bound<'_, PyDict>>,
        resp: Option<SentResponse>,
    ) {
        if let (Some(hook), Some(req)) = (&self.hooks.post_request, req) {
            let called = (|| -> PyResult<()> {
                let environ = environ.cloned().unwrap_or_else(|| PyDict::new(py));
                let resp = match resp {
                    Some(sent) => Bound::new(py, Response::new(py, sent)?)?.into_any(),
                    None => py.None().into_bound(py),
                };
                let worker = self.worker.bind(py);
                call_request_hook(
                    py,
                    hook,
                    &[worker.as_any(), req.as_any(), environ.as_any(), &resp],
                )
            })();
            if let Err(err) = called {
                crate::error!(
                    "Exception in post_request hook\n{}",
                    format_exception(py, &err)
                );
            }
        }
        self.sync_stop();
    }
}

/// Call `hook` with as many of `args` as its arity takes.
fn call_request_hook(py: Python<'_>, hook: &Hook, args: &[&Bound<'_, PyAny>]) -> PyResult<()> {
    let args = pyo3::types::PyTuple::new(py, &args[..hook.arity.min(args.len())])?;
    hook.func.bind(py).call1(args).map(|_| ())
}

/// Gunicorn's `handle_quit` / `handle_abort`: `alive = False`, the hook, then `sys.exit(code)`
/// (after 0.1 s for INT/QUIT).
#[pyclass(frozen, module = "gunicorn_rs", name = "SignalHandler")]
struct SignalHandler {
    name: &'static str,
    hook: Option<Hook>,
    worker: Py<Worker>,
    code: i32,
}

#[pymethods]
impl SignalHandler {
    fn __call__(&self, py: Python<'_>, _signum: i32, _frame: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(mut worker) = self.worker.bind(py).try_borrow_mut() {
            worker.alive = false;
        }
        STOP_REQUESTED.store(true, Ordering::Relaxed);
        EXIT_CODE.store(self.code, Ordering::Relaxed);
        if let Some(hook) = &self.hook {
            run_hook(
                py,
                self.name,
                hook,
                &[self.worker.bind(py).clone().into_any()],
            );
        }
        if self.code == 0 {
            py.detach(|| std::thread::sleep(Duration::from_millis(100)));
        }
        Err(PySystemExit::new_err(self.code))
    }
}
