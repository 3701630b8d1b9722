//! The `gthread` worker (Gunicorn's threaded worker): `--threads` lanes, each a Python thread
//! for its whole life, take turns waiting on the worker's sockets without the GIL and run the
//! app for the requests they read — so a slow request never delays one that arrives on
//! another connection while a lane is free, and idle keep-alive connections cost no thread.
//!
//! One lane leads at a time ([`baton`]): it waits on the sockets and serves what it reads;
//! a follower takes over the sockets only when a request runs long.
//!
//! The main thread is the worker's loop: signals, the heartbeat, deadlines, the graceful stop.
//! Its heartbeat means "the worker still turns" (Gunicorn's rule for threaded workers), not
//! "no request is long": it takes the GIL once a tick, so an app that holds the GIL in C for
//! longer than `--timeout` is still found stuck and killed.

mod baton;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::conn::{Lane, Service};
use super::dispatch::{Dispatcher, Policy, STOP};
use super::reloader::Reloader;
use super::watchdog::Interrupt;
use super::{signals, Liveness};
use crate::scoreboard::{ExitReason, WorkerState};

/// A lane's stack: what a Python thread gets by default on Linux (glibc's 8 MiB); only the
/// pages it touches count in RSS.
const LANE_STACK: usize = 8 << 20;
/// The loop's tick while requests drain after a stop.
const DRAIN_TICK: Duration = Duration::from_millis(50);

pub fn run(
    svc: &Service<'_>,
    mut reloader: Option<Reloader>,
    live: &Liveness,
    leave: &dyn Fn(i32),
) -> std::io::Result<i32> {
    let threads = svc.cfg.threads.max(1);
    let wc = svc.cfg.worker_connections;
    let max_keepalived = wc.saturating_sub(threads);
    let policy = Policy::Threaded { max_keepalived };
    let dispatcher = Dispatcher::new(svc, policy)?;
    let stop = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
    dispatcher.watch(stop.as_fd(), STOP)?;
    let stopped = AtomicBool::new(false);
    let baton = baton::Baton::default();
    svc.slot.set_lanes_used(threads);
    svc.slot.set_state(WorkerState::Idle);
    std::thread::scope(|scope| {
        let mask = super::signals::block_all();
        let spawned: std::io::Result<Vec<_>> = (0..threads)
            .map(|index| {
                let shared = Shared {
                    svc,
                    dispatcher: &dispatcher,
                    stopped: &stopped,
                    baton: &baton,
                };
                std::thread::Builder::new()
                    .name(format!("lane-{index}"))
                    .stack_size(LANE_STACK)
                    .spawn_scoped(scope, move || lane(&shared, index))
            })
            .collect();
        super::signals::restore(&mask);
        let code = match spawned {
            Ok(_) => serve(svc, &dispatcher, &mut reloader, live),
            Err(e) => Err(e),
        };
        stopped.store(true, Ordering::Release);
        baton.stop();
        let _ = stop.write(1);
        if code.is_ok() && !dispatcher.drained() {
            // The graceful timeout passed with requests still running: they end with us.
            crate::warning!("Worker graceful timeout (pid:{})", std::process::id());
            leave(0);
            std::process::exit(0);
        }
        code
    })
}

/// What the lanes share.
struct Shared<'s, 'a> {
    svc: &'s Service<'a>,
    dispatcher: &'s Dispatcher<'a>,
    stopped: &'s AtomicBool,
    baton: &'s baton::Baton,
}

/// One lane: a Python thread that, while it leads, waits on the sockets (GIL released) and
/// serves what it reads, until the worker stops.
fn lane(shared: &Shared<'_, '_>, index: usize) {
    let svc = shared.svc;
    crate::wsgi::interpreter::as_python_thread(|| {
        let ident = crate::wsgi::faulthandler::current_thread_ident();
        svc.register_lane(index, Interrupt::Thread { ident });
        // The same number faulthandler prints as `Thread 0x…`: dumps pair stacks and requests.
        if let Some(entry) = svc.slot.lane(index) {
            entry.set_thread_id(ident);
        }
        let mut lane = Lane::new(index);
        if svc.cfg.threads <= 1 {
            // Alone, the lane serves every ready request of a wait anyway: their responses
            // may as well go together (`conn::batch`). With several lanes, the others would
            // sit idle meanwhile.
            lane.batch.enable();
        }
        while shared.baton.lead(index) {
            if !lead(shared, &mut lane) {
                break;
            }
        }
    });
}

/// Wait and serve as the leader until a follower took over (`true`: follow now) or the
/// worker stops (`false`).
fn lead(shared: &Shared<'_, '_>, lane: &mut Lane) -> bool {
    let index = lane.index;
    loop {
        if shared.stopped.load(Ordering::Acquire) {
            return false;
        }
        let taken = || shared.baton.busy(index);
        match shared.dispatcher.turn_with(lane, None, taken) {
            Ok(woken) if woken.stop => return false,
            Ok(_) => {}
            Err(e) => {
                crate::error!("epoll_wait failed in lane {index}: {e}");
                return false;
            }
        }
        if !shared.baton.done(index) {
            return true;
        }
    }
}

/// The worker's loop: until told to stop, then until every connection ended or the graceful
/// timeout passed.
fn serve(
    svc: &Service<'_>,
    dispatcher: &Dispatcher<'_>,
    reloader: &mut Option<Reloader>,
    live: &Liveness,
) -> std::io::Result<i32> {
    let slot = svc.slot;
    let mut draining_until: Option<Instant> = None;
    loop {
        // Python's signal handlers, and the proof that the GIL can be had (see above).
        svc.hooks().check_signals();
        slot.notify();
        if !live.parent_alive() {
            signals::stop();
        }
        live.reopen_logs();
        let now = Instant::now();
        if !signals::is_alive() && draining_until.is_none() {
            draining_until = Some(now + svc.cfg.graceful_timeout);
            slot.set_state(WorkerState::Draining);
            dispatcher.begin_stop();
        }
        if let Some(until) = draining_until {
            dispatcher.cap_lingers(until);
            if dispatcher.drained() || now >= until {
                break;
            }
        }
        dispatcher.expire(now);
        let tick = match draining_until {
            Some(_) => DRAIN_TICK,
            None => dispatcher.sleep_for(Duration::from_secs(1)),
        };
        if live.wait_wake(reloader.as_ref(), tick) {
            signals::drain_wake();
        }
        live.check_reload(reloader);
    }
    slot.set_exit_reason_once(ExitReason::Shutdown);
    slot.set_state(WorkerState::Dead);
    Ok(0)
}
