//! The scoreboard: shared-memory slots the workers write and the master reads (DESIGN.md §4).
//!
//! One anonymous `MAP_SHARED` mapping made before the first fork, so every worker inherits it.
//! Each slot has exactly one writer at a time: its worker while it lives, the master only
//! before fork and after reaping. Fields are atomics, so a reader never sees a torn value; the
//! master needs no round trip to a worker — it stays right while the worker is stuck in C.
//! The layout is private to one build: the control socket's JSON is the public view.

mod latency;
mod request;

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

pub use latency::{bucket_of, Histogram, BUCKETS as LATENCY_BUCKETS};
pub use request::{CurrentRequest, RequestLine};

const MAGIC: u64 = 0x6775_6e69_636f_726e; // "gunicorn"
const LAYOUT_VERSION: u32 = 3;

/// `--features scoreboard-off` compiles the per-request writes out, for `benches/scoreboard_cost.py`
/// only: the heartbeat, the exit reason and the dump flag stay (liveness needs them).
const WRITES_OFF: bool = cfg!(feature = "scoreboard-off");

/// What a worker is doing, as written into its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WorkerState {
    Free = 0,
    Booting = 1,
    Idle = 2,
    Reading = 3,
    App = 4,
    Writing = 5,
    Draining = 6,
    Dead = 7,
}

impl WorkerState {
    fn from_u8(v: u8) -> WorkerState {
        match v {
            1 => WorkerState::Booting,
            2 => WorkerState::Idle,
            3 => WorkerState::Reading,
            4 => WorkerState::App,
            5 => WorkerState::Writing,
            6 => WorkerState::Draining,
            7 => WorkerState::Dead,
            _ => WorkerState::Free,
        }
    }
}

/// Why a worker exited, written by the worker just before it does, so the master can explain
/// the death (the exit status alone cannot tell a recycle from a shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitReason {
    /// Nothing written: the worker died without saying why (a signal, a crash).
    Unknown = 0,
    /// Told to stop (TERM: shutdown, HUP replacement, TTOU).
    Shutdown = 1,
    /// Served `max_requests` (+ jitter) requests.
    Recycled = 2,
    /// Its master went away.
    ParentGone = 3,
    /// Could not set itself up (exit code 3).
    BootFailed = 4,
    /// Could not import the app (exit code 4).
    AppLoadFailed = 5,
    /// Its serving loop failed (e.g. `epoll_wait`).
    LoopFailed = 6,
    /// A quick stop (INT/QUIT).
    Quit = 7,
    /// The master's SIGABRT after a WORKER TIMEOUT.
    Aborted = 8,
}

impl ExitReason {
    fn from_u8(v: u8) -> ExitReason {
        use ExitReason::*;
        [
            Unknown,
            Shutdown,
            Recycled,
            ParentGone,
            BootFailed,
            AppLoadFailed,
            LoopFailed,
            Quit,
            Aborted,
        ]
        .get(usize::from(v))
        .copied()
        .unwrap_or(Unknown)
    }

    /// A few words for the log: "Worker (pid:N) exited with code 1: <this>".
    pub fn describe(self) -> &'static str {
        match self {
            ExitReason::Unknown => "no reason recorded",
            ExitReason::Shutdown => "shut down",
            ExitReason::Recycled => "recycled after max_requests",
            ExitReason::ParentGone => "its master went away",
            ExitReason::BootFailed => "worker failed to boot",
            ExitReason::AppLoadFailed => "app failed to load",
            ExitReason::LoopFailed => "its serving loop failed",
            ExitReason::Quit => "quick stop (INT/QUIT)",
            ExitReason::Aborted => "aborted (SIGABRT)",
        }
    }
}

/// Status classes counted per slot: index 0 is 1xx … index 4 is 5xx.
pub const STATUS_CLASSES: usize = 5;

/// A consistent-enough copy of one slot for the master and the dashboard. Single fields are
/// each exact; the current request is exact as a whole (seqlock); counters may be one request
/// apart from each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSnapshot {
    pub pid: i32,
    pub state: WorkerState,
    pub boot_ms: u64,
    pub heartbeat_ms: u64,
    pub requests: u64,
    /// Responses by status class, `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub status: [u64; STATUS_CLASSES],
    /// Requests whose app raised (or broke the protocol).
    pub exceptions: u64,
    pub exit_reason: ExitReason,
    pub request: Option<CurrentRequest>,
    /// The current request was already answered with a 504 by `--request-timeout`.
    pub request_timed_out: bool,
    /// The worker answers the dump signal.
    pub dump_ready: bool,
    /// Durations of the requests this worker finished.
    pub latency: Histogram,
}

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    slots: AtomicU32,
    master_pid: AtomicI32,
}

/// One worker's slot; 64-byte aligned so two workers never write one cache line.
#[repr(C, align(64))]
pub struct Slot {
    pid: AtomicI32,
    state: AtomicU8,
    /// Last heartbeat, CLOCK_MONOTONIC milliseconds (system-wide, so comparable across processes).
    heartbeat_ms: AtomicU64,
    requests: AtomicU64,
    boot_ms: AtomicU64,
    status: [AtomicU64; STATUS_CLASSES],
    exceptions: AtomicU64,
    exit_reason: AtomicU8,
    /// The request number (`requests` at its start) that `--request-timeout` answered with a
    /// 504: written by the worker's watchdog thread, so it is not inside the seqlock.
    timed_out_request: AtomicU64,
    /// The worker's faulthandler listens on the dump signal: before that, the signal's default
    /// action would kill it.
    dump_ready: AtomicU8,
    /// `hold PID` from the control socket: written by the master (its only write to a live
    /// worker's slot), read by the worker's `--request-timeout` watchdog.
    held: AtomicU8,
    request: request::RequestRecord,
    latency: latency::LatencyHistogram,
}

/// The mapping. Cloned handles are not needed: fork shares it.
pub struct Scoreboard {
    base: NonNull<u8>,
    len: usize,
    slots: usize,
}

// SAFETY: the mapping holds only atomics; all access goes through them.
unsafe impl Send for Scoreboard {}
// SAFETY: as above — shared references only ever perform atomic operations.
unsafe impl Sync for Scoreboard {}

/// CLOCK_MONOTONIC in milliseconds.
pub fn now_ms() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC);
    ts.map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}

impl Scoreboard {
    /// Map a scoreboard with room for `slots` workers.
    pub fn new(slots: usize, master_pid: i32) -> io::Result<Scoreboard> {
        let len = std::mem::size_of::<Slot>() * (slots + 1);
        // SAFETY: an anonymous shared mapping of `len` bytes; the kernel zero-fills it, and an
        // all-zero bit pattern is a valid value of every atomic in `Header` and `Slot`.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                std::num::NonZeroUsize::new(len).ok_or(io::ErrorKind::InvalidInput)?,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
            )
        }
        .map_err(io::Error::from)?;
        let board = Scoreboard {
            base: ptr.cast(),
            len,
            slots,
        };
        let header = board.header();
        header.magic.store(MAGIC, Ordering::Relaxed);
        header.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        header.slots.store(slots as u32, Ordering::Relaxed);
        header.master_pid.store(master_pid, Ordering::Relaxed);
        Ok(board)
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header-sized, zero-initialised region (slot 0's room).
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }

    pub fn capacity(&self) -> usize {
        self.slots
    }

    /// Slot `index` (0-based).
    pub fn slot(&self, index: usize) -> Option<&Slot> {
        if index >= self.slots {
            return None;
        }
        // SAFETY: index < slots, and the mapping has room for `slots + 1` slots (the first
        // holds the header), each aligned to its own 64-byte line.
        Some(unsafe {
            &*(self
                .base
                .as_ptr()
                .add(std::mem::size_of::<Slot>() * (index + 1)) as *const Slot)
        })
    }

    /// A copy of slot `index`.
    pub fn snapshot(&self, index: usize) -> Option<SlotSnapshot> {
        self.slot(index).map(Slot::snapshot)
    }

    /// A slot no live worker uses, for the next spawn.
    pub fn free_slot(&self) -> Option<usize> {
        (0..self.slots).find(|&i| self.slot(i).is_some_and(|s| s.pid() == 0))
    }
}

impl Drop for Scoreboard {
    fn drop(&mut self) {
        // SAFETY: base/len came from mmap_anonymous and nothing borrows the slots past `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.base.cast(), self.len) };
    }
}

impl Slot {
    /// Master, before fork: claim the slot for a new worker.
    pub fn claim(&self, pid: i32) {
        let now = now_ms();
        self.held.store(0, Ordering::Relaxed);
        self.heartbeat_ms.store(now, Ordering::Relaxed);
        self.boot_ms.store(now, Ordering::Relaxed);
        self.request.end();
        self.requests.store(0, Ordering::Relaxed);
        for counter in &self.status {
            counter.store(0, Ordering::Relaxed);
        }
        self.exceptions.store(0, Ordering::Relaxed);
        self.exit_reason
            .store(ExitReason::Unknown as u8, Ordering::Relaxed);
        self.timed_out_request.store(0, Ordering::Relaxed);
        self.dump_ready.store(0, Ordering::Relaxed);
        self.latency.clear();
        self.state
            .store(WorkerState::Booting as u8, Ordering::Relaxed);
        self.pid.store(pid, Ordering::Release);
    }

    /// Master, after reaping: free the slot.
    pub fn release(&self) {
        self.state.store(WorkerState::Free as u8, Ordering::Relaxed);
        self.pid.store(0, Ordering::Release);
    }

    pub fn set_pid(&self, pid: i32) {
        self.pid.store(pid, Ordering::Release);
    }

    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Acquire)
    }

    /// Worker: "I am alive" (Gunicorn's `notify`).
    pub fn notify(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_state(&self, state: WorkerState) {
        if WRITES_OFF {
            return;
        }
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn last_heartbeat_ms(&self) -> u64 {
        self.heartbeat_ms.load(Ordering::Relaxed)
    }

    /// Worker, before it calls the app: a request begins.
    pub fn request_started(&self, line: &RequestLine<'_>) {
        if WRITES_OFF {
            return;
        }
        self.request.begin(now_ms(), line);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Worker: the request is done (its connection closed).
    pub fn request_finished(&self) {
        if WRITES_OFF {
            return;
        }
        self.request.end();
    }

    /// Worker: how long the request took, head read to connection closed.
    pub fn record_latency(&self, elapsed: std::time::Duration) {
        if WRITES_OFF {
            return;
        }
        self.latency.record(elapsed);
    }

    /// Worker: the response status of the current request, and whether the app failed.
    pub fn count_response(&self, status: u16, exception: bool) {
        if WRITES_OFF {
            return;
        }
        let class = usize::from(status / 100);
        if let Some(counter) = class.checked_sub(1).and_then(|i| self.status.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if exception {
            self.exceptions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Worker's watchdog: the current request was answered with a 504 (`--request-timeout`).
    pub fn mark_timed_out(&self) {
        let current = self.requests.load(Ordering::Relaxed);
        self.timed_out_request.store(current, Ordering::Relaxed);
    }

    /// Worker: its stack-dump handler is installed.
    pub fn set_dump_ready(&self) {
        self.dump_ready.store(1, Ordering::Release);
    }

    pub fn is_dump_ready(&self) -> bool {
        self.dump_ready.load(Ordering::Acquire) == 1
    }

    /// Master: `hold`/`release` — no timeout of any kind while held.
    pub fn set_held(&self, held: bool) {
        self.held.store(u8::from(held), Ordering::Release);
    }

    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire) == 1
    }

    /// Worker, just before it exits.
    pub fn set_exit_reason(&self, reason: ExitReason) {
        self.exit_reason.store(reason as u8, Ordering::Relaxed);
    }

    /// Worker: the reason, unless one was written already (the first cause wins).
    pub fn set_exit_reason_once(&self, reason: ExitReason) {
        let _ = self.exit_reason.compare_exchange(
            ExitReason::Unknown as u8,
            reason as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    pub fn exit_reason(&self) -> ExitReason {
        ExitReason::from_u8(self.exit_reason.load(Ordering::Relaxed))
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Start of the current request (monotonic ms), if one is running.
    pub fn request_start_ms(&self) -> Option<u64> {
        match self.request.start_ms() {
            0 => None,
            t => Some(t),
        }
    }

    /// A copy of everything in the slot, for the master (timeout explanations, reaping) and
    /// the control socket.
    pub fn snapshot(&self) -> SlotSnapshot {
        let requests = self.requests();
        let request = self.request.read();
        let timed_out = self.timed_out_request.load(Ordering::Relaxed);
        SlotSnapshot {
            pid: self.pid(),
            state: self.state(),
            boot_ms: self.boot_ms.load(Ordering::Relaxed),
            heartbeat_ms: self.last_heartbeat_ms(),
            requests,
            status: std::array::from_fn(|i| self.status[i].load(Ordering::Relaxed)),
            exceptions: self.exceptions.load(Ordering::Relaxed),
            exit_reason: self.exit_reason(),
            request_timed_out: request.is_some() && timed_out != 0 && timed_out == requests,
            dump_ready: self.is_dump_ready(),
            request,
            latency: self.latency.read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_counts_statuses_exceptions_and_the_current_request() {
        let board = Scoreboard::new(2, 1).expect("mmap");
        let slot = board.slot(1).expect("slot 1");
        slot.claim(7);
        let line = RequestLine {
            method: b"POST",
            path: b"/upload?x=1",
            client: b"10.0.0.1:4242",
            version: (1, 1),
        };
        slot.request_started(&line);
        let snap = board.snapshot(1).expect("snapshot");
        let req = snap.request.expect("a current request");
        assert_eq!(
            (req.method.as_str(), req.path.as_str()),
            ("POST", "/upload?x=1")
        );
        assert!(!snap.request_timed_out);
        slot.mark_timed_out();
        assert!(slot.snapshot().request_timed_out);
        slot.count_response(504, true);
        slot.request_finished();
        slot.request_started(&line);
        assert!(
            !slot.snapshot().request_timed_out,
            "only the request it answered"
        );
        slot.count_response(200, false);
        slot.request_finished();
        slot.request_started(&line);
        slot.request_finished();
        let snap = slot.snapshot();
        assert_eq!(snap.request, None);
        assert_eq!(snap.status, [0, 1, 0, 0, 1]);
        assert_eq!((snap.requests, snap.exceptions), (3, 1));
    }

    #[test]
    fn first_exit_reason_wins_and_claim_resets_it() {
        let board = Scoreboard::new(1, 1).expect("mmap");
        let slot = board.slot(0).expect("slot 0");
        slot.claim(9);
        slot.set_exit_reason_once(ExitReason::Recycled);
        slot.set_exit_reason_once(ExitReason::Shutdown);
        assert_eq!(slot.exit_reason(), ExitReason::Recycled);
        slot.claim(10);
        assert_eq!(slot.exit_reason(), ExitReason::Unknown);
    }
}
