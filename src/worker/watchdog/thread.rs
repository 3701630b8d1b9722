//! The watchdog's two threads: the one that waits for deadlines and answers (it never takes
//! the GIL, so a 504 goes out on time even while C code holds it), and the interrupter, which
//! takes the GIL to raise `RequestTimeout` in another Python thread.

use super::{
    lock, log_timeout, pthread_kill, Armed, Context, Interrupt, Report, Response, Settings, Shared,
};
use crate::scoreboard::Slot;
use crate::wsgi::faulthandler;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, MutexGuard};
use std::time::Instant;

pub(super) fn spawn(
    slot: &'static Slot,
    settings: Settings,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let (interrupter, requests) = mpsc::channel();
    let message = format!(
        "The request did not complete within {} seconds.",
        settings.limit.as_secs()
    );
    let ctx = Context {
        slot,
        page: crate::http::response::error_page(504, "Gateway Timeout", &message),
        settings,
        // SAFETY: pthread_self has no preconditions; called on the worker's main thread.
        main: unsafe { libc::pthread_self() },
        interrupter,
    };
    let (watched, interrupted) = (Arc::clone(shared), Arc::clone(shared));
    // Block everything while spawning: the new threads inherit the mask.
    let mask = crate::worker::signals::block_all();
    let spawned = std::thread::Builder::new()
        .name("request-timeout".into())
        .spawn(move || {
            // It logs while the app may hold the GIL: never through Python's `logging`.
            crate::log::keep_off_python();
            watch(&watched, &ctx)
        })
        .and_then(|_| {
            std::thread::Builder::new()
                .name("interrupter".into())
                .spawn(move || interrupt_threads(&interrupted, &requests))
        });
    crate::worker::signals::restore(&mask);
    spawned.map(|_| ())
}

/// Sleep until the earliest armed deadline, then fire every lane that is due.
fn watch(shared: &Shared, ctx: &Context) {
    let mut guard = lock(shared);
    loop {
        let now = Instant::now();
        let due: Vec<usize> = (0..guard.len())
            .filter(|&i| {
                guard[i]
                    .armed
                    .as_ref()
                    .is_some_and(|a| !a.fired && a.deadline <= now)
            })
            .collect();
        if due.is_empty() {
            let next = guard
                .iter()
                .filter_map(|w| w.armed.filter(|a| !a.fired).map(|a| a.deadline))
                .min();
            guard = match next {
                None => shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(at) => match shared.wake.wait_timeout(guard, at - now) {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                },
            };
            continue;
        }
        guard = fire(shared, ctx, guard, &due);
    }
}

/// A lane that timed out, as it was when it was answered.
struct Fired {
    lane: usize,
    armed: Armed,
    snap: Option<crate::scoreboard::LaneSnapshot>,
    answered: bool,
}

/// Answer or cut every due lane, dump the stacks once, interrupt the apps — in that order, so
/// every client gets its 504 on time (a hundred requests timing out together do not wait for
/// a dump each) and the stacks show where the app was, not the interrupt unwinding it.
fn fire<'a>(
    shared: &'a Shared,
    ctx: &Context,
    mut guard: MutexGuard<'a, Vec<super::LaneWatch>>,
    due: &[usize],
) -> MutexGuard<'a, Vec<super::LaneWatch>> {
    let mut fired = Vec::with_capacity(due.len());
    for &lane in due {
        let Some(armed) = guard[lane].armed.as_mut() else {
            continue;
        };
        if ctx.slot.is_held() {
            // `hold PID`: someone is debugging this request; look again a limit later.
            armed.deadline = Instant::now() + ctx.settings.limit;
            continue;
        }
        armed.fired = true;
        let armed = *armed;
        // The request as the slot has it, read before the interrupt: once interrupted the
        // lane may finish it and clear its entry before the log line is written.
        let snap = armed
            .entry
            .and_then(|e| ctx.slot.lane(e).map(|l| l.snapshot(e)));
        // Still holding the lock: the lane cannot close the socket meanwhile.
        let answered = answer(shared, ctx, lane, &armed);
        fired.push(Fired {
            lane,
            armed,
            snap,
            answered,
        });
    }
    if fired.is_empty() {
        return guard;
    }
    drop(guard);
    let stacks = ctx
        .settings
        .dump
        .map_or_else(String::new, |(dump_fd, signal)| {
            // SAFETY: the slot's memfd stays open for the worker's life.
            let dump_fd = unsafe { BorrowedFd::borrow_raw(dump_fd) };
            crate::master::dump::collect(dump_fd, ctx.settings.answer, || {
                pthread_kill(ctx.main, signal)
            })
            .unwrap_or_else(|e| format!("(no stacks: {e})"))
        });
    let guard = lock(shared);
    for f in &fired {
        interrupt(ctx, f.lane, &guard[f.lane], &f.armed);
    }
    drop(guard);
    for f in &fired {
        let report = Report {
            answered: f.answered,
            stacks: &stacks,
        };
        log_timeout(ctx, &f.armed, &report, f.snap.as_ref());
    }
    lock(shared)
}

/// The 504 when nothing of the response went out, else cut the connection. `true` = answered.
fn answer(shared: &Shared, ctx: &Context, lane: usize, armed: &Armed) -> bool {
    let Some(response) = shared.responses.get(lane) else {
        return false;
    };
    let (from, to) = (Response::Armed as u8, Response::TimedOut as u8);
    let answered = response
        .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    // SAFETY: the lane keeps `fd` open until `disarm`, which waits for the lock held here.
    let fd = unsafe { BorrowedFd::borrow_raw(armed.fd) };
    if answered {
        if let Some(entry) = armed.entry.and_then(|e| ctx.slot.lane(e)) {
            entry.mark_timed_out();
        }
        let page = match armed.head_request {
            true => crate::http::response::without_body(&ctx.page),
            false => &ctx.page,
        };
        let _ = crate::fd::write_all(fd, page);
        let _ = nix::sys::socket::shutdown(armed.fd, nix::sys::socket::Shutdown::Write);
    } else {
        // The head is out: a truncated response is the only honest signal left.
        response.store(Response::Cut as u8, Ordering::Release);
        let _ = nix::sys::socket::shutdown(armed.fd, nix::sys::socket::Shutdown::Both);
    }
    answered
}

/// Interrupt the app — only if the lane still runs the request that timed out (the lock is
/// held, so it cannot end meanwhile).
fn interrupt(ctx: &Context, lane: usize, watch: &super::LaneWatch, fired: &Armed) {
    let still_running = watch.armed.is_some_and(|a| a.seq == fired.seq);
    match (still_running, watch.interrupt) {
        (true, Some(Interrupt::Signal { thread, signal })) => {
            faulthandler::set_timeout_pending(true);
            let _ = pthread_kill(thread, signal);
        }
        (true, Some(Interrupt::Thread { ident })) => {
            let _ = ctx.interrupter.send((lane, fired.seq, ident));
        }
        (true, Some(Interrupt::Hub)) => super::ask_hub(lane, fired.seq),
        _ => {}
    }
}

/// The interrupter: raise `RequestTimeout` in a lane's Python thread, with the GIL, if the
/// lane still runs the request that timed out (checked under the GIL and the lock, so the
/// exception cannot land in the lane's next request: the lane withdraws a pending one after
/// it disarms, which needs the GIL too).
fn interrupt_threads(shared: &Shared, requests: &mpsc::Receiver<(usize, u64, u64)>) {
    while let Ok((lane, seq, ident)) = requests.recv() {
        faulthandler::interrupt_thread(ident, || {
            lock(shared)
                .get(lane)
                .and_then(|w| w.armed)
                .is_some_and(|a| a.seq == seq)
        });
    }
}
