//! The `sync` worker: one thread, one request at a time, one request per connection with
//! `Connection: close` (Gunicorn's semantics) — but heads are read for many connections at
//! once, so clients that trickle their heads hold no worker (DESIGN §10), and a head still
//! arriving when the worker goes off to run the app is passed to an idle sibling.
//!
//! The heartbeat comes from this loop: a request longer than `--timeout` is a stuck worker,
//! as under Gunicorn's sync worker.

use std::time::{Duration, Instant};

use super::conn::{Lane, Service};
use super::dispatch::{Dispatcher, Policy, RELOAD, WAKE};
use super::handoff::Handoff;
use super::reloader::Reloader;
use super::watchdog::{self, Interrupt};
use super::{signals, Liveness};
use crate::scoreboard::{ExitReason, WorkerState};

pub fn run(
    svc: &Service<'_>,
    mut reloader: Option<Reloader>,
    handoff: Option<&Handoff>,
    live: &Liveness,
) -> std::io::Result<i32> {
    // Passing heads on only makes sense with a sibling to take them.
    let handoff = handoff.filter(|_| svc.cfg.workers > 1);
    let dispatcher = Dispatcher::new(svc, Policy::Sync { handoff })?;
    // SAFETY: the wake pipe lives as long as the process (installed before this).
    let wake = unsafe { std::os::fd::BorrowedFd::borrow_raw(signals::wake_fd()) };
    dispatcher.watch(wake, WAKE)?;
    if let Some(fd) = reloader.as_ref().and_then(Reloader::fd) {
        dispatcher.watch(fd, RELOAD)?;
    }
    register_the_lane(svc);
    let slot = svc.slot;
    slot.set_lanes_used(1);
    slot.set_state(WorkerState::Idle);
    let beat = svc.cfg.timeout.map_or(Duration::from_secs(1), |t| {
        (t / 2).min(Duration::from_secs(1))
    });
    let mut lane = Lane::new(0);
    let mut parent_seen = Instant::now();
    while signals::is_alive() {
        slot.notify();
        // Gunicorn asks getppid(2) every turn of its loop; a turn here is about one request
        // behind a front that connects per request, so asking twice a beat is as prompt (an
        // idle turn waits a beat) for a system call fewer per request.
        if parent_seen.elapsed() >= beat / 2 {
            if !live.parent_alive() {
                break;
            }
            parent_seen = Instant::now();
        }
        live.reopen_logs();
        let woken = match dispatcher.turn(&mut lane, Some(dispatcher.sleep_for(beat))) {
            Ok(woken) => woken,
            Err(e) => {
                crate::error!("epoll_wait failed: {e}");
                slot.set_exit_reason(ExitReason::LoopFailed);
                return Ok(1);
            }
        };
        if woken.wake {
            signals::drain_wake();
            svc.hooks().check_signals();
        }
        dispatcher.expire(Instant::now());
        live.check_reload(&mut reloader);
    }
    drain(svc, &dispatcher, &mut lane);
    slot.set_exit_reason_once(ExitReason::Shutdown);
    slot.set_state(WorkerState::Dead);
    Ok(0)
}

/// The worker's one lane is this thread: the watchdog interrupts it with a signal, and its
/// scoreboard entry carries the number faulthandler prints as `Current thread 0x…` (dumps).
fn register_the_lane(svc: &Service<'_>) {
    // SAFETY: pthread_self has no preconditions.
    let thread = unsafe { libc::pthread_self() };
    let signal = watchdog::interrupt_signal();
    svc.register_lane(0, Interrupt::Signal { thread, signal });
    if let Some(entry) = svc.slot.lane(0) {
        entry.set_thread_id(thread as u64);
    }
}

/// The graceful stop: the connections this worker holds — heads arriving, a request right
/// behind its connect (given a second), lingering closes — are served or closed within
/// `--graceful-timeout`, not dropped with the process (Gunicorn's sync worker holds none: it
/// accepts one connection at a time).
fn drain(svc: &Service<'_>, dispatcher: &Dispatcher<'_>, lane: &mut Lane) {
    svc.slot.set_state(WorkerState::Draining);
    dispatcher.begin_stop();
    let until = Instant::now() + svc.cfg.graceful_timeout;
    dispatcher.cap_lingers(until);
    while Instant::now() < until {
        if dispatcher.drained() && !dispatcher.take_stranded(lane) {
            break;
        }
        svc.slot.notify();
        let tick = dispatcher.sleep_for(Duration::from_millis(100));
        if dispatcher.turn(lane, Some(tick)).is_err() {
            return;
        }
        dispatcher.expire(Instant::now());
    }
}
