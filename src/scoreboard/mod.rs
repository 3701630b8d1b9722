//! The scoreboard: shared-memory slots the workers write and the master reads (DESIGN.md §4).
//!
//! One anonymous `MAP_SHARED` mapping made before the first fork, so every worker inherits it.
//! Each slot has exactly one writer at a time: its worker while it lives, the master only
//! before fork and after reaping. Fields are atomics, so a reader never sees a torn value; the
//! master needs no round trip to a worker — it stays right while the worker is stuck in C.
//! The layout is private to one build: the control socket's JSON is the public view.

mod entry;
mod latency;
mod request;
mod slot;

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

pub use entry::{Lane, LaneSnapshot};
pub use latency::{bucket_of, octave_bounds, Histogram, BUCKETS as LATENCY_BUCKETS};
pub use request::{CurrentRequest, RequestLine};
pub use slot::Slot;

const MAGIC: u64 = 0x6775_6e69_636f_726e; // "gunicorn"
/// 4: per-thread lanes after each slot, connection counters. 5: requests in flight.
const LAYOUT_VERSION: u32 = 5;

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
/// each exact; each lane's request is exact as a whole (seqlock); counters may be one request
/// apart from each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSnapshot {
    pub pid: i32,
    /// The worker's own state, or its busiest lane's while a request runs.
    pub state: WorkerState,
    pub boot_ms: u64,
    pub heartbeat_ms: u64,
    pub requests: u64,
    /// Responses by status class, `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub status: [u64; STATUS_CLASSES],
    /// Requests whose app raised (or broke the protocol).
    pub exceptions: u64,
    pub exit_reason: ExitReason,
    /// The longest-running request in flight (any lane).
    pub request: Option<CurrentRequest>,
    /// That request was already answered with a 504 by `--request-timeout`.
    pub request_timed_out: bool,
    /// The worker answers the dump signal.
    pub dump_ready: bool,
    /// Durations of the requests this worker finished.
    pub latency: Histogram,
    /// One entry per lane the worker runs (threads of `gthread`; one for `sync`).
    pub lanes: Vec<LaneSnapshot>,
    /// Client connections open, and of those the idle kept-alive ones.
    pub connections: u32,
    pub keepalive: u32,
    /// Requests being served, with a lane or not (a greenlet worker has more than lanes).
    pub in_flight: u32,
}

impl Default for SlotSnapshot {
    fn default() -> Self {
        SlotSnapshot {
            pid: 0,
            state: WorkerState::Free,
            boot_ms: 0,
            heartbeat_ms: 0,
            requests: 0,
            status: [0; STATUS_CLASSES],
            exceptions: 0,
            exit_reason: ExitReason::Unknown,
            request: None,
            request_timed_out: false,
            dump_ready: false,
            latency: Histogram::default(),
            lanes: Vec::new(),
            connections: 0,
            keepalive: 0,
            in_flight: 0,
        }
    }
}

impl SlotSnapshot {
    /// Lanes serving a request.
    pub fn busy_lanes(&self) -> usize {
        self.lanes.iter().filter(|l| l.request.is_some()).count()
    }
}

#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    slots: AtomicU32,
    lanes: AtomicU32,
    master_pid: AtomicI32,
}

/// Room for the header at the start of the mapping, keeping the slots 64-byte aligned.
const HEADER_ROOM: usize = 64;
const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_ROOM);

/// The mapping. Cloned handles are not needed: fork shares it.
pub struct Scoreboard {
    base: NonNull<u8>,
    len: usize,
    slots: usize,
    /// Bytes from one slot to the next: the slot and its lanes.
    stride: usize,
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
    /// Map a scoreboard with room for `slots` workers of `lanes` lanes each (`--threads`; at
    /// least one).
    pub fn new(slots: usize, lanes: usize, master_pid: i32) -> io::Result<Scoreboard> {
        let lanes = lanes.max(1);
        let stride = std::mem::size_of::<Slot>() + lanes * std::mem::size_of::<Lane>();
        let len = HEADER_ROOM + stride * slots;
        // SAFETY: an anonymous shared mapping of `len` bytes; the kernel zero-fills it, and an
        // all-zero bit pattern is a valid value of every atomic in `Header`, `Slot` and `Lane`.
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
            stride,
        };
        let header = board.header();
        header.magic.store(MAGIC, Ordering::Relaxed);
        header.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        header.slots.store(slots as u32, Ordering::Relaxed);
        header.lanes.store(lanes as u32, Ordering::Relaxed);
        header.master_pid.store(master_pid, Ordering::Relaxed);
        for i in 0..slots {
            if let Some(slot) = board.slot(i) {
                slot.set_lane_count(lanes);
            }
        }
        Ok(board)
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with HEADER_ROOM zero-initialised bytes for the header.
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }

    pub fn capacity(&self) -> usize {
        self.slots
    }

    /// Lanes per slot.
    pub fn lanes(&self) -> usize {
        self.header().lanes.load(Ordering::Relaxed) as usize
    }

    /// Slot `index` (0-based).
    pub fn slot(&self, index: usize) -> Option<&Slot> {
        if index >= self.slots {
            return None;
        }
        // SAFETY: index < slots, and the mapping has HEADER_ROOM + slots * stride bytes; each
        // slot starts 64-byte aligned (HEADER_ROOM and the stride are multiples of 64) and is
        // followed by its lanes (`Slot::lane`).
        Some(unsafe {
            &*(self.base.as_ptr().add(HEADER_ROOM + self.stride * index) as *const Slot)
        })
    }

    /// A copy of slot `index`.
    pub fn snapshot(&self, index: usize) -> Option<SlotSnapshot> {
        self.slot(index).map(Slot::snapshot)
    }

    /// The fewest open connections held by another worker that is taking connections now
    /// (booted and not stopping: its own state `Idle`, with a heartbeat within `fresh_ms`; a
    /// worker whose loop is blocked stops beating, and would never take its share), and the
    /// total those workers hold: it moves whenever one of them accepts or closes one. `None`
    /// when no other worker qualifies.
    pub fn connections_elsewhere(&self, me: &Slot, fresh_ms: u64) -> Option<(u32, u64)> {
        let now = now_ms();
        (0..self.slots)
            .filter_map(|i| self.slot(i))
            .filter(|s| !std::ptr::eq(*s, me) && s.pid() != 0 && s.state() == WorkerState::Idle)
            .filter(|s| now.saturating_sub(s.last_heartbeat_ms()) <= fresh_ms)
            .map(Slot::open_connections)
            .fold(None, |acc, open| match acc {
                None => Some((open, u64::from(open))),
                Some((fewest, total)) => Some((fewest.min(open), total + u64::from(open))),
            })
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

#[cfg(test)]
mod tests;
