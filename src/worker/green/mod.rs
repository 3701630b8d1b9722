//! The greenlet workers (`-k gevent`, `-k eventlet`): one greenlet per connection on the
//! library's hub, at most `--worker-connections` of them. HTTP stays in Rust — the same
//! connection layer, parser and limits as every kind (DESIGN §10); only the waiting is the
//! hub's: when a socket would block, the connection's greenlet yields to the hub until the
//! socket is ready (`Stream`'s wait goes through [`Hub::wait`]), so the other greenlets run.
//!
//! Everything runs on the worker's one thread, with the GIL held: greenlets switch only
//! inside the hub's wait and sleep. State shared by the greenlets is in `Cell`/`RefCell`s that
//! are never borrowed across a switch.
//!
//! The heartbeat comes from the main greenlet's loop: a greenlet that blocks the hub (a CPU
//! loop, a C call, an unpatched blocking call) stops it, and the master's WORKER TIMEOUT block
//! then shows that greenlet's stack — the classic gevent failure, explained.
//!
//! Why the hub waits and Rust does the rest: the app's patched libraries (`requests`, database
//! drivers, `time.sleep`) yield to that one hub, so our sockets must wait in it too — a Rust
//! event loop beside it would have two loops on one thread, each blind while the other runs.
//! Handing the sockets to the library's own servers (pywsgi) would move HTTP to Python. So the
//! connection layer is the one every kind uses, and only its "would block" becomes a switch
//! to the hub. Measured (benches/green_wait.py, benches/green.py): gevent's `wait_read` makes
//! an io watcher per wait; one watcher per connection, started and stopped, with a bare loop
//! timer, doubled hello throughput; reading a kept-alive socket before waiting on it took a
//! hub turn out of each request's latency under load.

mod accept;
mod conn;
mod inflight;

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::balance::AcceptBalance;
use super::conn::{Conn, Lane, Service};
use super::reloader::Reloader;
use super::watchdog::Interrupt;
use super::{signals, Liveness};
use crate::config::GREEN_LANES;
use crate::scoreboard::{ExitReason, WorkerState};
use crate::wsgi::hub::{Greenlet, Hub};

/// What a spawned greenlet runs: the token's high bits say which.
const ACCEPT: u64 = 1 << 62;
const CONN: u64 = 2 << 62;
const KIND: u64 = 3 << 62;

/// The greenlet worker's state, shared by its greenlets (one thread).
pub(super) struct Green<'s, 'a> {
    svc: &'s Service<'a>,
    hub: &'s Hub,
    /// Accepted connections on their way to their greenlet.
    arriving: RefCell<Vec<Option<Conn>>>,
    /// Open connections (each has a greenlet).
    open: Cell<usize>,
    /// Greenlets waiting for their connection's next request: a stop ends them.
    idle: RefCell<Vec<(u64, Greenlet)>>,
    next_idle: Cell<u64>,
    /// Scoreboard lanes (and response buffers) for requests in flight, reused.
    lanes: RefCell<Vec<Lane>>,
    next_lane: Cell<usize>,
    inflight: RefCell<inflight::InFlight>,
    /// Take a client now or leave it to a less-loaded sibling (one for every listener).
    balance: AcceptBalance,
    stopping: Cell<bool>,
    /// The slot's stack-dump memfd (DESIGN §6), where the greenlets' stacks are appended.
    dump_fd: Option<RawFd>,
}

thread_local! {
    /// The running worker's state, for the greenlets the hub starts: set for the duration of
    /// [`run`] and cleared before its frame (which owns the state) ends.
    static CURRENT: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// What a greenlet runs (`Hub::spawn`'s entry).
pub fn enter(token: u64) {
    let ptr = CURRENT.with(Cell::get);
    if ptr.is_null() {
        return;
    }
    // SAFETY: CURRENT points at `run`'s `Green` while `run` is on the stack (cleared by its
    // guard before the `Green` is dropped); greenlets run only on this thread, inside the
    // hub calls `run` makes.
    let green = unsafe { &*(ptr as *const Green<'_, '_>) };
    match token & KIND {
        ACCEPT => accept::accept_loop(green, (token & !KIND) as usize),
        CONN => conn::serve(green, (token & !KIND) as usize),
        _ => {}
    }
}

/// The hub's wait, for every `Stream` of this worker.
fn hub_wait(fd: i32, write: bool, timeout: Option<Duration>) -> std::io::Result<bool> {
    let ptr = CURRENT.with(Cell::get);
    if ptr.is_null() {
        return Err(std::io::Error::other("no hub"));
    }
    // SAFETY: as in `enter`.
    let green = unsafe { &*(ptr as *const Green<'_, '_>) };
    green.hub.wait(fd, write, timeout)
}

/// Clears CURRENT when `run` ends, however it ends.
struct Scope;

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

impl<'s, 'a> Green<'s, 'a> {
    fn lane(&self) -> Lane {
        let reused = self.lanes.borrow_mut().pop();
        reused.unwrap_or_else(|| {
            let index = self.next_lane.get();
            self.next_lane.set(index + 1);
            self.svc.register_lane(index, Interrupt::Hub);
            Lane::new(index)
        })
    }

    fn release_lane(&self, lane: Lane) {
        self.lanes.borrow_mut().push(lane);
    }

    fn opened(&self) {
        self.open.set(self.open.get() + 1);
        self.svc.slot.count_connections(1, 0);
    }

    fn closed(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        self.svc.slot.count_connections(-1, 0);
    }

    /// A greenlet waits for its connection's next request: the stop may end it.
    fn idle_begin(&self) -> Option<u64> {
        let greenlet = self.hub.current()?;
        let id = self.next_idle.get();
        self.next_idle.set(id + 1);
        self.idle.borrow_mut().push((id, greenlet));
        self.svc.slot.count_connections(0, 1);
        Some(id)
    }

    fn idle_end(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        self.idle.borrow_mut().retain(|(i, _)| *i != id);
        self.svc.slot.count_connections(0, -1);
    }
}

/// Run the worker until it stops; the exit code.
pub fn run(
    svc: &Service<'_>,
    hub: &Hub,
    mut reloader: Option<Reloader>,
    live: &Liveness,
    dump_fd: Option<RawFd>,
) -> std::io::Result<i32> {
    let green = Green {
        svc,
        hub,
        arriving: RefCell::new(Vec::new()),
        open: Cell::new(0),
        idle: RefCell::new(Vec::new()),
        next_idle: Cell::new(0),
        lanes: RefCell::new(Vec::new()),
        next_lane: Cell::new(0),
        inflight: RefCell::new(inflight::InFlight::new()),
        balance: AcceptBalance::new(),
        stopping: Cell::new(false),
        dump_fd,
    };
    CURRENT.with(|c| c.set(&green as *const Green<'_, '_> as *const ()));
    let _scope = Scope;
    super::conn::stream::wait_through_hub(hub_wait);
    svc.slot.set_lanes_used(GREEN_LANES);
    svc.slot.set_state(WorkerState::Idle);
    for index in 0..svc.listeners.len() {
        hub.spawn(ACCEPT | index as u64)?;
    }
    heartbeat(&green, &mut reloader, live);
    Ok(drain(&green))
}

/// The main greenlet: the heartbeat, signals, the reloader — until the worker is told to stop.
fn heartbeat(green: &Green<'_, '_>, reloader: &mut Option<Reloader>, live: &Liveness) {
    let svc = green.svc;
    let wake = signals::wake_fd();
    // The hub waits on one descriptor at a time, so `--reload`'s changes are looked for on a
    // tick rather than woken for: a quarter second keeps a reload well within a second.
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
        // The wake pipe (a signal came) or a tick, whichever first.
        if let Ok(true) = green.hub.wait(wake, false, Some(tick)) {
            signals::drain_wake();
        }
        green.interrupt_timed_out();
        if signals::take_dump_asked() {
            super::answer_dump(green.dump_fd, green.serving_stacks());
        }
        live.check_reload(reloader);
    }
}

/// The graceful stop: no more accepting, idle connections ended at once, requests in flight
/// given `--graceful-timeout`. Returns the exit code.
fn drain(green: &Green<'_, '_>) -> i32 {
    let svc = green.svc;
    green.stopping.set(true);
    svc.slot.set_state(WorkerState::Draining);
    let idle: Vec<(u64, Greenlet)> = green.idle.borrow_mut().drain(..).collect();
    for (_, greenlet) in &idle {
        green.hub.stop(greenlet);
    }
    let until = Instant::now() + svc.cfg.graceful_timeout;
    while green.open.get() > 0 && Instant::now() < until {
        svc.slot.notify();
        // Greenlets that go idle during the stop end themselves (they see `stopping`).
        green.hub.sleep(0.05);
    }
    if green.open.get() > 0 {
        crate::warning!("Worker graceful timeout (pid:{})", std::process::id());
    }
    svc.slot.set_exit_reason_once(ExitReason::Shutdown);
    svc.slot.set_state(WorkerState::Dead);
    0
}
