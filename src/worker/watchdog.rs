//! `--request-timeout` for the sync worker: a Rust thread, started after fork, armed with each
//! request's deadline. At the deadline it answers 504 itself (if the app has not started its
//! response — else it cuts the connection), logs the Python stacks through faulthandler, and
//! interrupts the app: its main thread gets a signal whose Python handler raises
//! `gunicorn_rs.RequestTimeout`, so a request in Python code ends and the worker is free. A
//! request stuck inside C cannot be interrupted; the master's heartbeat timeout takes over.
//!
//! Who answers is decided by one atomic ([`RESPONSE`]): the main thread's first socket write
//! of the request and the watchdog race to claim it, and only the winner writes. The thread
//! blocks every signal, so signals keep going to the main thread as in a single-threaded worker.

use crate::log::access::{AccessFormat, PartialRequest};
use crate::master::WorkerContext;
use crate::scoreboard::{Slot, SlotSnapshot};
use crate::wsgi::faulthandler;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const IDLE: u8 = 0;
/// A request with a deadline is running; nothing of its response is written yet.
const ARMED: u8 = 1;
/// The main thread has begun writing the response.
const MAIN: u8 = 2;
/// The watchdog answered 504: the main thread must not write to the client any more.
const TIMED_OUT: u8 = 3;
/// The watchdog cut a response already under way; the main thread logs the request.
const CUT: u8 = 4;

static RESPONSE: AtomicU8 = AtomicU8::new(IDLE);

/// Main thread, before every write to the client: may this request's response go out? The
/// first write of an armed request claims the response; after a timeout, nothing may.
pub fn may_write() -> bool {
    match RESPONSE.load(Ordering::Acquire) {
        ARMED => {
            match RESPONSE.compare_exchange(ARMED, MAIN, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(now) => now == MAIN,
            }
        }
        TIMED_OUT | CUT => false,
        _ => true,
    }
}

/// The running request, as the watchdog needs it.
struct Armed {
    deadline: Instant,
    started: Instant,
    /// The client socket; open while armed (the main thread disarms before closing it).
    fd: RawFd,
}

struct Shared {
    armed: Mutex<Option<Armed>>,
    wake: Condvar,
}

/// How the watchdog answers and explains a timeout.
pub struct Settings {
    /// `--request-timeout`.
    pub limit: Duration,
    /// The slot's memfd and the dump signal faulthandler listens on, if registered.
    pub dump: Option<(RawFd, i32)>,
    /// The signal whose Python handler raises `RequestTimeout`.
    pub interrupt: i32,
    pub access: Option<AccessFormat>,
}

/// What the thread needs to explain and answer a timeout.
struct Context {
    slot: &'static Slot,
    settings: Settings,
    /// The complete 504 response, made once.
    page: Vec<u8>,
    main: libc::pthread_t,
}

/// What the watchdog did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    No,
    /// It answered 504 and wrote the access-log line: the response is not the main thread's.
    Answered,
    /// The response was under way; it cut the connection. The main thread logs the request.
    Cut,
}

pub struct Watchdog {
    shared: Arc<Shared>,
    limit: Duration,
}

impl Watchdog {
    /// Start the thread. `slot` must outlive the process's threads: it lives in the scoreboard
    /// mapping, which a worker never unmaps (it ends in `process::exit`).
    pub fn start(slot: &'static Slot, settings: Settings) -> io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            armed: Mutex::new(None),
            wake: Condvar::new(),
        });
        let limit = settings.limit;
        let message = format!(
            "The request did not complete within {} seconds.",
            limit.as_secs()
        );
        let ctx = Context {
            slot,
            page: crate::http::response::error_page(504, "Gateway Timeout", &message),
            settings,
            // SAFETY: pthread_self has no preconditions; called on the worker's main thread.
            main: unsafe { libc::pthread_self() },
        };
        let thread_shared = Arc::clone(&shared);
        // Block everything while spawning: the new thread inherits the mask.
        let mask = block_all_signals();
        let spawned = std::thread::Builder::new()
            .name("request-timeout".into())
            .spawn(move || watch(&thread_shared, &ctx));
        restore_signals(&mask);
        spawned?;
        Ok(Watchdog { shared, limit })
    }

    /// Main thread, before calling the app: the request on `fd` has `limit` from `started`.
    pub fn arm(&self, fd: RawFd, started: Instant) {
        RESPONSE.store(ARMED, Ordering::Release);
        *lock(&self.shared) = Some(Armed {
            deadline: started + self.limit,
            started,
            fd,
        });
        self.shared.wake.notify_one();
    }

    /// Main thread, after the app: did the watchdog fire for this request?
    pub fn disarm(&self) -> Fired {
        // Taking the lock waits for a firing watchdog to finish with the socket.
        lock(&self.shared).take();
        faulthandler::set_timeout_pending(false);
        match RESPONSE.swap(IDLE, Ordering::AcqRel) {
            TIMED_OUT => Fired::Answered,
            CUT => Fired::Cut,
            _ => Fired::No,
        }
    }
}

/// `--request-timeout`: the interrupt handler in Python, then the thread.
pub fn start_for(
    ctx: &WorkerContext<'_>,
    access: Option<AccessFormat>,
) -> std::io::Result<Option<Watchdog>> {
    let Some(limit) = ctx.config.request_timeout else {
        return Ok(None);
    };
    let interrupt = crate::config::signum::request_timeout_signal();
    super::signals::unblock(interrupt);
    crate::wsgi::faulthandler::install_request_timeout(interrupt, limit.as_secs())
        .map_err(std::io::Error::other)?;
    // SAFETY: the slot lives in the scoreboard mapping, which this process never unmaps (a
    // worker ends in process::exit), so it outlives the watchdog thread.
    let slot: &'static Slot = unsafe { &*(ctx.slot as *const Slot) };
    let dump = slot
        .is_dump_ready()
        .then_some(ctx.dump_fd.map(|fd| (fd, ctx.config.dump_signal)))
        .flatten();
    let settings = Settings {
        limit,
        dump,
        interrupt,
        access,
    };
    Watchdog::start(slot, settings).map(Some)
}

fn lock(shared: &Shared) -> MutexGuard<'_, Option<Armed>> {
    shared.armed.lock().unwrap_or_else(|e| e.into_inner())
}

/// The thread: sleep until armed, then until the deadline, then fire.
fn watch(shared: &Shared, ctx: &Context) {
    let mut guard = lock(shared);
    loop {
        let deadline = match guard.as_ref() {
            None => {
                guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            Some(armed) => armed.deadline,
        };
        let now = Instant::now();
        if now < deadline {
            guard = match shared.wake.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            continue;
        }
        if ctx.slot.is_held() {
            // `hold PID`: someone is debugging this request; look again a limit later.
            if let Some(armed) = guard.as_mut() {
                armed.deadline = Instant::now() + ctx.settings.limit;
            }
            continue;
        }
        if let Some(armed) = guard.take() {
            // The request as the slot has it, read before the interrupt: once interrupted the
            // main thread may finish it and clear the slot before the log line is written.
            let snap = ctx.slot.snapshot();
            // Still holding the lock: the main thread cannot close the socket meanwhile.
            let report = fire(ctx, &armed);
            drop(guard);
            log_timeout(ctx, &armed, &report, &snap);
            guard = lock(shared);
        }
    }
}

/// What happened at the deadline, for the log.
struct Report {
    answered: bool,
    stacks: String,
}

/// Answer or cut, dump the stacks, interrupt the app — in that order, so the client gets its
/// 504 on time and the stacks show where the app was, not the interrupt unwinding it.
fn fire(ctx: &Context, armed: &Armed) -> Report {
    let answered = RESPONSE
        .compare_exchange(ARMED, TIMED_OUT, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    // SAFETY: the main thread keeps `fd` open until `disarm`, which waits for this lock.
    let fd = unsafe { BorrowedFd::borrow_raw(armed.fd) };
    if answered {
        ctx.slot.mark_timed_out();
        let _ = write_all(fd, &ctx.page);
        let _ = nix::sys::socket::shutdown(armed.fd, nix::sys::socket::Shutdown::Write);
    } else {
        // The head is out: a truncated response is the only honest signal left.
        RESPONSE.store(CUT, Ordering::Release);
        let _ = nix::sys::socket::shutdown(armed.fd, nix::sys::socket::Shutdown::Both);
    }
    let stacks = ctx
        .settings
        .dump
        .map_or_else(String::new, |(dump_fd, signal)| {
            // SAFETY: the slot's memfd stays open for the worker's life.
            let dump_fd = unsafe { BorrowedFd::borrow_raw(dump_fd) };
            crate::master::dump::collect(dump_fd, || pthread_kill(ctx.main, signal))
                .unwrap_or_else(|e| format!("(no stacks: {e})"))
        });
    faulthandler::set_timeout_pending(true);
    let _ = pthread_kill(ctx.main, ctx.settings.interrupt);
    Report { answered, stacks }
}

fn log_timeout(ctx: &Context, armed: &Armed, report: &Report, snap: &SlotSnapshot) {
    let elapsed = armed.started.elapsed();
    let line = snap.request.as_ref().map_or_else(
        || "unknown request".to_string(),
        |r| format!("{} {} from {}", r.method, r.path, r.client),
    );
    let action = match report.answered {
        true => "answered 504",
        false => "response already started: connection cut",
    };
    let mut text = format!(
        "Request timeout (pid:{}): {line} after {:.1} s (--request-timeout {}); {action}; \
         interrupting the app",
        std::process::id(),
        elapsed.as_secs_f64(),
        ctx.settings.limit.as_secs()
    );
    if !report.stacks.trim().is_empty() {
        text.push_str("\n  Python stacks of all threads:");
        for l in report.stacks.lines() {
            text.push_str("\n    ");
            text.push_str(l);
        }
    }
    crate::error!("{text}");
    if let (Some(format), Some(req), true) = (&ctx.settings.access, &snap.request, report.answered)
    {
        let partial = PartialRequest {
            method: &req.method,
            uri: &req.path,
            version: req.version,
            client: &req.client,
        };
        crate::log::write_access(&format.render_partial(&partial, 504, elapsed));
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn pthread_kill(thread: libc::pthread_t, signal: i32) -> io::Result<()> {
    // SAFETY: `thread` is the worker's main thread, which lives as long as the process.
    match unsafe { libc::pthread_kill(thread, signal) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigfillset/pthread_sigmask on local, properly sized sigset_t values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

fn restore_signals(mask: &libc::sigset_t) {
    // SAFETY: restores a mask returned by pthread_sigmask above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}
