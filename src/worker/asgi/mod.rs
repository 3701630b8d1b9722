//! The asgi worker (`-k asgi`, and the uvicorn worker classes configs name): ASGI 3.0 apps on
//! an asyncio (or uvloop) event loop, one per process.
//!
//! How bytes cross between Rust and the loop: Rust owns the sockets and HTTP (accept, reads,
//! the parser and its limits, body framing, response heads — the connection layer of every
//! kind, DESIGN §10); the loop owns the waiting. A connection's descriptor is watched with
//! the loop's `add_reader`/`add_writer`, and readiness calls into its `Wire`, which reads and
//! writes with plain system calls: no transport or protocol object in between, no copy of
//! request bytes into Python except the body the app asks for. The loop's half is
//! `asgi_loop.py` (lifespan, accepting, the stop), `asgi_conn.py` (a connection: a request's
//! run, `receive`/`send`) and `asgi_base.py` (the states and bounds they share); one asyncio
//! task per connection runs its requests in turn (`requests.rs`). The `send`
//! of both scopes is Rust (`http_send.rs`, `ws_send.rs`): an awaitable already done unless
//! the app must wait for a slow client; so is a WebSocket session's `receive`
//! (`ws_receive.rs`) and the reader callback that hands it each message (`readable.rs`).
//!
//! Everything runs on the worker's one thread with the GIL held. The main loop in Rust beats
//! the heartbeat between turns of the event loop (`Worker.wait`, a second at most): a
//! coroutine that blocks the loop stops it, and the WORKER TIMEOUT block shows its stack.

mod fields;
mod http_send;
mod readable;
mod requests;
mod scope;
mod setup;
mod step;
mod wire;
mod wire_hooks;
mod wire_request;
mod wire_response;
mod wire_tornado;
mod wire_ws;
mod ws;
mod ws_receive;
mod ws_send;

use std::cell::{Cell, RefCell};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::balance::{Accept, AcceptBalance};
use super::conn::{Conn, Service};
use super::reloader::Reloader;
use super::{signals, Liveness};
use crate::scoreboard::{ExitReason, WorkerState};
use crate::wsgi::interpreter::format_exception;
use wire::Wire;

thread_local! {
    /// The running worker's service, for the `Wire`s the loop calls into: set for the
    /// duration of [`run`] (which owns the borrow) and cleared before it returns.
    static SERVICE: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Run `f` with the running worker's service; `None` outside [`run`].
fn with_service<R>(f: impl FnOnce(&Service<'_>) -> R) -> Option<R> {
    let ptr = SERVICE.with(Cell::get);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: set by `run` from a `&Service` that outlives the call, and reset to null by
    // `ServiceScope` before that borrow ends; the worker has one thread.
    Some(f(unsafe { &*(ptr as *const Service<'_>) }))
}

struct ServiceScope;

impl Drop for ServiceScope {
    fn drop(&mut self) {
        SERVICE.with(|c| c.set(std::ptr::null()));
    }
}

/// What the worker's connections share that is not the service's.
pub(super) struct Shared {
    root_path: String,
    asgi_info: Py<PyDict>,
    /// What every `http` scope starts as (`scope::http_template`).
    http_scope: Py<PyDict>,
    /// The scope's `extensions`: what this server does beyond the base spec.
    extensions: Py<PyDict>,
    stopping: Cell<bool>,
    keepalive: bool,
    /// `--websocket-max-message-size`.
    websocket_max_message: usize,
    /// permessage-deflate is offered (`websocket_per_message_deflate`).
    websocket_deflate: bool,
    /// The tornado kind: requests go to tornado's delegates, upgrades to the app.
    tornado: bool,
    /// A WSGI app's environ under tornado (`wire_tornado.rs`).
    wsgi: wire_tornado::WsgiEnviron,
    date: RefCell<(i64, String)>,
    /// Scoreboard entries free to show a request in flight.
    entries: RefCell<Vec<usize>>,
    /// What `send` returns when nothing is to be awaited (`http_send.rs`).
    ready: Py<http_send::Ready>,
    /// `asyncio.Task`, which serves each connection's requests (requests.rs).
    task_type: Py<PyAny>,
}

impl Shared {
    /// May a response say `keep-alive`? Not when `--keep-alive 0`, nor once stopping.
    fn persist_allowed(&self) -> bool {
        self.keepalive && !self.stopping.get()
    }

    /// The `Date` value of the current second.
    fn date(&self) -> String {
        self.with_date(str::to_string)
    }

    /// `f` of the `Date` value of the current second, without a copy of it.
    fn with_date<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut cache = self.date.borrow_mut();
        if cache.0 != now {
            *cache = (now, crate::http::response::http_date(now));
        }
        f(&cache.1)
    }
}

/// The worker as the loop's half sees it (`rs` there).
#[pyclass(unsendable)]
struct Server {
    shared: std::rc::Rc<Shared>,
    #[pyo3(get)]
    listener_fds: Vec<i32>,
    #[pyo3(get)]
    wake_fd: i32,
    balance: AcceptBalance,
}

#[pymethods]
impl Server {
    /// A connection from the listener `fd`, or `None` when none is waiting.
    fn accept(&self, fd: i32) -> Option<Wire> {
        with_service(|svc| {
            let (index, listener) = svc
                .listeners
                .iter()
                .enumerate()
                .find(|(_, l)| l.raw_fd() == fd)?;
            let accepted = listener.accept().ok()?;
            let conn = Conn::new(svc.stream(accepted.fd)?, accepted.peer, index);
            let server = match &listener.bound {
                crate::sock::Bound::Tcp(addr) => Some(*addr),
                crate::sock::Bound::Unix(_) => None,
            };
            Some(Wire::new(conn, server, std::rc::Rc::clone(&self.shared)))
        })
        .flatten()
    }

    /// Should the connection a listener woke the loop for be left to another worker (looked
    /// at again on the loop's next turn)? The rule is every many-connection kind's
    /// (`balance.rs`).
    fn accept_later(&self) -> bool {
        with_service(|svc| self.balance.next(svc.slot, svc.board) == Accept::Later).unwrap_or(false)
    }

    #[getter]
    fn stopping(&self) -> bool {
        self.shared.stopping.get()
    }

    fn drain_wake(&self) {
        signals::drain_wake();
    }

    fn log_error(&self, text: &str) {
        crate::error!("{text}");
    }

    fn log_debug(&self, text: &str) {
        crate::debug!("{text}");
    }

    /// A record of the app's framework (tornado's loggers), at its `logging` level.
    fn log(&self, level: u32, text: &str) {
        match level {
            0..=10 => crate::debug!("{text}"),
            11..=20 => crate::info!("{text}"),
            21..=30 => crate::warning!("{text}"),
            31..=40 => crate::error!("{text}"),
            _ => crate::critical!("{text}"),
        }
    }
}

/// Run the worker until it stops; the exit code.
pub fn run(
    svc: &Service<'_>,
    app: &Py<PyAny>,
    mut reloader: Option<Reloader>,
    live: &Liveness,
    dump_fd: Option<std::os::fd::RawFd>,
) -> std::io::Result<i32> {
    SERVICE.with(|c| c.set(svc as *const Service<'_> as *const ()));
    let _scope = ServiceScope;
    Python::attach(
        |py| match serve(py, svc, app, &mut reloader, live, dump_fd) {
            Ok(code) => Ok(code),
            Err(text) => {
                crate::error!("{text}");
                svc.slot.set_exit_reason(ExitReason::BootFailed);
                Ok(crate::master::WORKER_BOOT_ERROR)
            }
        },
    )
}

fn serve(
    py: Python<'_>,
    svc: &Service<'_>,
    app: &Py<PyAny>,
    reloader: &mut Option<Reloader>,
    live: &Liveness,
    dump_fd: Option<std::os::fd::RawFd>,
) -> Result<i32, String> {
    let event_loop = setup::new_loop(py, svc.cfg.asgi.event_loop)?;
    let (shared, worker) = new_worker(py, svc, app)?;
    let started = run_until(&event_loop, worker.call_method0("start"))?;
    if !started.is_none() {
        return Err(started.to_string());
    }
    svc.slot.set_lanes_used(crate::config::GREEN_LANES);
    svc.slot.set_state(WorkerState::Idle);
    turn_until_stopped(&event_loop, &worker, svc, reloader, live, dump_fd)?;
    shared.stopping.set(true);
    svc.slot.set_state(WorkerState::Draining);
    drain(&event_loop, &worker, svc.cfg.graceful_timeout)?;
    let _ = event_loop.call_method0("close");
    svc.slot.set_exit_reason_once(ExitReason::Shutdown);
    svc.slot.set_state(WorkerState::Dead);
    Ok(0)
}

/// asgi_loop.py's `Worker` for `app`, not yet started, and the state its connections share.
fn new_worker<'py>(
    py: Python<'py>,
    svc: &Service<'_>,
    app: &Py<PyAny>,
) -> Result<(std::rc::Rc<Shared>, Bound<'py, PyAny>), String> {
    let failed = |e: PyErr| format_exception(py, &e);
    let shared = std::rc::Rc::new(setup::shared_state(py, svc.cfg).map_err(failed)?);
    let server = Server {
        shared: std::rc::Rc::clone(&shared),
        listener_fds: svc.listeners.iter().map(|l| l.raw_fd()).collect(),
        wake_fd: signals::wake_fd(),
        balance: AcceptBalance::new(),
    };
    let module = setup::load_modules(py)?;
    let server = Py::new(py, server).map_err(failed)?;
    let opts = setup::worker_opts(py, svc.cfg, &shared, app, &server).map_err(failed)?;
    let worker = module
        .getattr("Worker")
        .and_then(|w| w.call1((&server, app.bind(py), opts)))
        .map_err(failed)?;
    Ok((shared, worker))
}

/// Run the coroutine `coro` on the event loop to its end; its result, or the text of the
/// exception that made it or that it raised.
fn run_until<'py>(
    event_loop: &Bound<'py, PyAny>,
    coro: PyResult<Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>, String> {
    coro.and_then(|coro| event_loop.call_method1("run_until_complete", (coro,)))
        .map_err(|e| format_exception(event_loop.py(), &e))
}

/// The worker's main loop: turns of the event loop (`Worker.wait`), and between them the
/// heartbeat, the signals, the parent's liveness, log reopening, dumps and the reloader —
/// until a stop is asked or the master is gone.
fn turn_until_stopped(
    event_loop: &Bound<'_, PyAny>,
    worker: &Bound<'_, PyAny>,
    svc: &Service<'_>,
    reloader: &mut Option<Reloader>,
    live: &Liveness,
    dump_fd: Option<std::os::fd::RawFd>,
) -> Result<(), String> {
    let tick = match reloader {
        Some(_) => Duration::from_millis(250),
        None => Duration::from_secs(1),
    };
    while signals::is_alive() {
        svc.hooks().check_signals();
        svc.slot.notify();
        if !live.parent_alive() {
            break;
        }
        live.reopen_logs();
        run_until(
            event_loop,
            worker.call_method1("wait", (tick.as_secs_f64(),)),
        )?;
        if signals::take_dump_asked() {
            super::answer_dump(dump_fd, task_stacks(worker));
        }
        live.check_reload(reloader);
    }
    Ok(())
}

/// Let the requests in flight finish (`Worker.drain`) for [`drain_time`], then warn of those
/// it cut.
fn drain(
    event_loop: &Bound<'_, PyAny>,
    worker: &Bound<'_, PyAny>,
    graceful_timeout: Duration,
) -> Result<(), String> {
    let drain = worker.call_method1("drain", (drain_time(graceful_timeout).as_secs_f64(),));
    let stragglers: usize = run_until(event_loop, drain)?.extract().unwrap_or(0);
    if stragglers > 0 {
        crate::warning!("Worker graceful timeout (pid:{})", std::process::id());
    }
    Ok(())
}

/// How long the stop waits for requests in flight: `--graceful-timeout`, less a tenth of it (a
/// second at most). The master kills the worker at `--graceful-timeout` after its TERM; what
/// runs after the wait — `post_request` for a request cut, lifespan `shutdown`, `worker_exit`
/// — needs that margin, or the kill comes first.
fn drain_time(graceful_timeout: Duration) -> Duration {
    graceful_timeout - (graceful_timeout / 10).min(Duration::from_secs(1))
}

/// `dump PID`: the stacks of the tasks serving requests (asgi_loop.py's `Worker.stacks`).
fn task_stacks(worker: &Bound<'_, PyAny>) -> String {
    worker
        .call_method0("stacks")
        .and_then(|t| t.extract::<String>())
        .unwrap_or_else(|e| format!("(no task stacks: {e})"))
}
