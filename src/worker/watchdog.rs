//! `--request-timeout`: a Rust thread, started after fork, that holds one deadline per lane
//! (the thread a request runs on). At a request's deadline it answers 504 itself (if the app
//! has not started its response — else it cuts the connection), logs the Python stacks through
//! faulthandler, and interrupts the app on that lane only, so the lane is freed without a
//! restart while the worker's other requests go on. A request stuck inside C cannot be
//! interrupted; the master's heartbeat timeout takes over.
//!
//! Who answers is decided by one atomic per lane ([`Claim`]): the lane's first socket write of
//! the request and the watchdog race to claim it, and only the winner writes. The thread
//! blocks every signal, so signals keep going to the worker's main thread.

use crate::log::access::AccessFormat;
use crate::master::dump::Answer;
use crate::master::WorkerContext;
use crate::scoreboard::Slot;
use crate::wsgi::faulthandler;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The response of a lane's request, as the lane and the watchdog race for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Response {
    /// No request with a deadline runs on the lane.
    Idle = 0,
    /// A request with a deadline runs; nothing of its response is written yet.
    Armed = 1,
    /// The lane has begun writing the response.
    Lane = 2,
    /// The watchdog answered 504: the lane must not write to the client any more.
    TimedOut = 3,
    /// The watchdog cut a response already under way; the lane logs the request.
    Cut = 4,
}

impl Response {
    fn of(v: u8) -> Response {
        match v {
            1 => Response::Armed,
            2 => Response::Lane,
            3 => Response::TimedOut,
            4 => Response::Cut,
            _ => Response::Idle,
        }
    }
}

/// A request's right to write its response; checked before every write to the client.
#[derive(Clone, Copy)]
pub struct Claim<'a>(Option<&'a AtomicU8>);

impl Claim<'_> {
    /// No `--request-timeout`: every write may go.
    pub fn free() -> Claim<'static> {
        Claim(None)
    }

    /// Is no watchdog watching the request (no `--request-timeout`)?
    pub fn is_free(&self) -> bool {
        self.0.is_none()
    }

    /// May this request's response go out? The first write of an armed request claims it;
    /// after a timeout, nothing may.
    pub fn may_write(&self) -> bool {
        let Some(state) = self.0 else { return true };
        match Response::of(state.load(Ordering::Acquire)) {
            Response::Armed => {
                let (armed, lane) = (Response::Armed as u8, Response::Lane as u8);
                match state.compare_exchange(armed, lane, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => true,
                    Err(now) => Response::of(now) == Response::Lane,
                }
            }
            Response::TimedOut | Response::Cut => false,
            Response::Idle | Response::Lane => true,
        }
    }
}

/// Writing after `--request-timeout` answered or cut the request.
pub fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "request timed out (--request-timeout)",
    )
}

/// How the app on a lane is interrupted at its deadline.
#[derive(Debug, Clone, Copy)]
pub enum Interrupt {
    /// The worker's main thread (sync): a signal whose Python handler raises
    /// `RequestTimeout`; it also breaks a blocking call such as `time.sleep`.
    Signal {
        thread: libc::pthread_t,
        signal: i32,
    },
    /// Another Python thread (gthread): an asynchronous exception, raised at its next
    /// bytecode (CPython delivers it only between bytecodes: a thread blocked in a system
    /// call gets it when the call returns).
    Thread { ident: u64 },
    /// A greenlet on the worker's hub: the main greenlet is woken to raise `RequestTimeout`
    /// in the greenlet serving the lane (a greenlet can only be switched to from its own
    /// thread, and only through the hub).
    Hub,
}

/// The running request of a lane, as the watchdog needs it.
#[derive(Debug, Clone, Copy)]
struct Armed {
    deadline: Instant,
    started: Instant,
    /// The client socket; open while armed (the lane disarms before closing it).
    fd: RawFd,
    /// The scoreboard entry showing the request, if it has one.
    entry: Option<usize>,
    /// Which arming of the lane this is, so a late interrupt never hits the next request.
    seq: u64,
    /// A HEAD request: its 504 goes without the page's body (RFC 9110 §9.3.2).
    head_request: bool,
    /// The watchdog acted on it already.
    fired: bool,
}

struct LaneWatch {
    armed: Option<Armed>,
    interrupt: Option<Interrupt>,
    seq: u64,
}

struct Shared {
    /// Per lane; the response atomics are read lock-free through `Claim`.
    lanes: Mutex<Vec<LaneWatch>>,
    responses: Vec<AtomicU8>,
    wake: Condvar,
}

/// How the watchdog answers and explains a timeout.
pub struct Settings {
    /// `--request-timeout`.
    pub limit: Duration,
    /// The slot's memfd and the dump signal faulthandler listens on, if registered.
    pub dump: Option<(RawFd, i32)>,
    /// Who completes a dump: a greenlet worker's hub adds every request's greenlet.
    pub answer: Answer,
    pub access: Option<AccessFormat>,
}

/// What the thread needs to explain and answer a timeout.
struct Context {
    slot: &'static Slot,
    settings: Settings,
    /// The complete 504 response, made once.
    page: Vec<u8>,
    /// The worker's main thread, which takes the dump signal.
    main: libc::pthread_t,
    /// Where thread interrupts go (they need the GIL, which this thread never takes).
    interrupter: mpsc::Sender<(usize, u64, u64)>,
}

/// What the watchdog did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    No,
    /// It answered 504 and wrote the access-log line: the response is not the lane's.
    Answered,
    /// The response was under way; it cut the connection. The lane logs the request.
    Cut,
}

pub struct Watchdog {
    shared: Arc<Shared>,
    limit: Duration,
}

mod report;
mod thread;

use report::{log_timeout, Report};

impl Watchdog {
    /// Start the thread for `lanes` lanes. `slot` must outlive the process's threads: it lives
    /// in the scoreboard mapping, which a worker never unmaps (it ends in `process::exit`).
    pub fn start(slot: &'static Slot, settings: Settings, lanes: usize) -> io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            lanes: Mutex::new(
                (0..lanes)
                    .map(|_| LaneWatch {
                        armed: None,
                        interrupt: None,
                        seq: 0,
                    })
                    .collect(),
            ),
            responses: (0..lanes).map(|_| AtomicU8::new(0)).collect(),
            wake: Condvar::new(),
        });
        let limit = settings.limit;
        thread::spawn(slot, settings, &shared)?;
        Ok(Watchdog { shared, limit })
    }

    /// A lane's thread, once before its first request: how its app is interrupted.
    pub fn register(&self, lane: usize, interrupt: Interrupt) {
        if let Some(watch) = lock(&self.shared).get_mut(lane) {
            watch.interrupt = Some(interrupt);
        }
    }

    /// Before calling the app: the request on `fd` (shown in scoreboard `entry`) has `limit`
    /// from `started`.
    pub fn arm(
        &self,
        lane: usize,
        entry: Option<usize>,
        fd: RawFd,
        started: Instant,
        head_request: bool,
    ) -> Claim<'_> {
        let Some(response) = self.shared.responses.get(lane) else {
            return Claim::free();
        };
        response.store(Response::Armed as u8, Ordering::Release);
        if let Some(watch) = lock(&self.shared).get_mut(lane) {
            watch.seq += 1;
            watch.armed = Some(Armed {
                deadline: started + self.limit,
                started,
                fd,
                entry,
                seq: watch.seq,
                head_request,
                fired: false,
            });
        }
        self.shared.wake.notify_one();
        Claim(Some(response))
    }

    /// A greenlet worker showed the lane's request in another scoreboard entry.
    pub fn moved(&self, lane: usize, entry: usize) {
        if let Some(armed) = lock(&self.shared)
            .get_mut(lane)
            .and_then(|w| w.armed.as_mut())
        {
            armed.entry = Some(entry);
        }
    }

    /// Does `lane` still run the request armed as `seq` (and not yet ended)?
    pub fn is_armed(&self, lane: usize, seq: u64) -> bool {
        lock(&self.shared)
            .get(lane)
            .and_then(|w| w.armed)
            .is_some_and(|a| a.seq == seq)
    }

    /// After the app: did the watchdog fire for this lane's request? Taking the lock waits
    /// for a firing watchdog to finish with the socket.
    pub fn disarm(&self, lane: usize) -> Fired {
        let interrupt = lock(&self.shared).get_mut(lane).and_then(|w| {
            w.armed = None;
            w.interrupt
        });
        let Some(response) = self.shared.responses.get(lane) else {
            return Fired::No;
        };
        let fired = match Response::of(response.swap(Response::Idle as u8, Ordering::AcqRel)) {
            Response::TimedOut => Fired::Answered,
            Response::Cut => Fired::Cut,
            _ => Fired::No,
        };
        if fired != Fired::No {
            withdraw(interrupt);
        }
        fired
    }
}

/// After a fired request ended: an interrupt that has not reached the app yet must not hit the
/// lane's next request.
fn withdraw(interrupt: Option<Interrupt>) {
    match interrupt {
        Some(Interrupt::Signal { .. }) => faulthandler::set_timeout_pending(false),
        Some(Interrupt::Thread { ident }) => faulthandler::withdraw_thread_interrupt(ident),
        // The main greenlet checks `is_armed` before it raises; a kill it already sent lands
        // at the greenlet's next switch (see green::interrupt).
        Some(Interrupt::Hub) | None => {}
    }
}

/// `--request-timeout`: the interrupt handler in Python, then the thread.
pub fn start_for(
    ctx: &WorkerContext<'_>,
    access: Option<AccessFormat>,
    lanes: usize,
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
        answer: Answer::of(ctx.config.worker_class),
        access,
    };
    Watchdog::start(slot, settings, lanes).map(Some)
}

/// The signal `Interrupt::Signal` uses (the one `start_for` installed the handler on).
pub fn interrupt_signal() -> i32 {
    crate::config::signum::request_timeout_signal()
}

/// Interrupts waiting for the main greenlet: (lane, arming).
static HUB_INTERRUPTS: Mutex<Vec<(usize, u64)>> = Mutex::new(Vec::new());

/// Queue an interrupt for the hub and wake the main greenlet (through the wake pipe it waits
/// on, as for a signal).
fn ask_hub(lane: usize, seq: u64) {
    HUB_INTERRUPTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((lane, seq));
    super::signals::wake();
}

/// The main greenlet: the interrupts the watchdog asked for since the last call.
pub fn take_hub_interrupts() -> Vec<(usize, u64)> {
    std::mem::take(&mut *HUB_INTERRUPTS.lock().unwrap_or_else(|e| e.into_inner()))
}

fn lock(shared: &Shared) -> MutexGuard<'_, Vec<LaneWatch>> {
    shared.lanes.lock().unwrap_or_else(|e| e.into_inner())
}

fn pthread_kill(thread: libc::pthread_t, signal: i32) -> io::Result<()> {
    // SAFETY: `thread` is one of the worker's threads, which live as long as the process.
    match unsafe { libc::pthread_kill(thread, signal) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
#[path = "watchdog_tests.rs"]
mod tests;
