//! The scoreboard: shared-memory slots the workers write and the master reads (DESIGN.md §4).
//!
//! One anonymous `MAP_SHARED` mapping made before the first fork, so every worker inherits it.
//! Each slot has exactly one writer at a time: its worker while it lives, the master only
//! before fork and after reaping. Fields are atomics, so a reader never sees a torn value; the
//! master needs no round trip to a worker — it stays right while the worker is stuck in C.
//! The layout is private to one build: the control socket's JSON is the public view.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

const MAGIC: u64 = 0x6775_6e69_636f_726e; // "gunicorn"
const LAYOUT_VERSION: u32 = 1;

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
    /// Start of the request being served, monotonic ms; 0 when idle.
    request_start_ms: AtomicU64,
    requests: AtomicU64,
    boot_ms: AtomicU64,
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
        self.heartbeat_ms.store(now, Ordering::Relaxed);
        self.boot_ms.store(now, Ordering::Relaxed);
        self.request_start_ms.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
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
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn last_heartbeat_ms(&self) -> u64 {
        self.heartbeat_ms.load(Ordering::Relaxed)
    }

    /// Worker: a request begins.
    pub fn request_started(&self) {
        self.request_start_ms.store(now_ms(), Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Worker: the request is done.
    pub fn request_finished(&self) {
        self.request_start_ms.store(0, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Start of the current request (monotonic ms), if one is running.
    pub fn request_start_ms(&self) -> Option<u64> {
        match self.request_start_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}
