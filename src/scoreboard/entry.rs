//! One request lane of a worker: a thread of a `gthread` worker, the one thread of `sync`.
//!
//! Each lane has exactly one writer (the thread that owns it) and its own seqlocked request
//! record, so two requests in flight in one worker never share a current request, a state or a
//! "timed out" mark (DESIGN §10: per request, not per process).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use super::request::{CurrentRequest, RequestLine, RequestRecord};
use super::WorkerState;

/// A lane's record in the mapping; 64-byte aligned so two threads never write one cache line.
#[repr(C, align(64))]
pub struct Lane {
    state: AtomicU8,
    /// `--request-timeout` answered this lane's current request with a 504 (set by the
    /// worker's watchdog thread, cleared when the lane's next request starts).
    timed_out: AtomicU8,
    /// The owning thread's `pthread_self()`: the number faulthandler prints as `Thread 0x…`,
    /// so a dump's stacks can be matched to the lanes' requests. 0 until the thread says.
    thread_id: AtomicU64,
    request: RequestRecord,
}

/// A copy of one lane, for the control socket, dumps and the timeout block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSnapshot {
    /// The lane's index in its worker (thread number, from 0).
    pub index: usize,
    pub state: WorkerState,
    pub request: Option<CurrentRequest>,
    /// The request was already answered with a 504 by `--request-timeout`.
    pub timed_out: bool,
    /// The owning thread's `pthread_self()`, once it has published it.
    pub thread_id: Option<u64>,
}

impl Lane {
    /// Master, before fork: an idle lane.
    pub(super) fn clear(&self) {
        self.request.end();
        self.timed_out.store(0, Ordering::Relaxed);
        self.thread_id.store(0, Ordering::Relaxed);
        self.state.store(WorkerState::Idle as u8, Ordering::Relaxed);
    }

    /// The thread that owns the lane, once, when it starts: its `pthread_self()` (on Linux the
    /// same number as `threading.get_ident()` and faulthandler's `Thread 0x…`).
    pub fn set_thread_id(&self, id: u64) {
        self.thread_id.store(id, Ordering::Relaxed);
    }

    pub fn set_state(&self, state: WorkerState) {
        if super::WRITES_OFF {
            return;
        }
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// A request begins on this lane (its head is complete).
    pub(super) fn begin(&self, start_ms: u64, line: &RequestLine<'_>) {
        self.timed_out.store(0, Ordering::Relaxed);
        self.request.begin(start_ms, line);
    }

    /// The lane's request is over.
    pub(super) fn end(&self) {
        self.request.end();
    }

    /// A greenlet worker shows here a request that began earlier, while every entry was
    /// taken (its start stays the request's own, so the longest-running are the ones shown).
    pub fn show(&self, start_ms: u64, line: &RequestLine<'_>, thread_id: u64) {
        self.begin(start_ms, line);
        self.set_thread_id(thread_id);
        self.set_state(WorkerState::App);
    }

    /// The request [`Lane::show`] put here is over.
    pub fn unshow(&self) {
        self.end();
        self.set_state(WorkerState::Idle);
    }

    /// Watchdog: the lane's current request was answered with a 504.
    pub fn mark_timed_out(&self) {
        self.timed_out.store(1, Ordering::Relaxed);
    }

    /// Start of the lane's request (monotonic ms), 0 when none runs.
    pub(super) fn start_ms(&self) -> u64 {
        self.request.start_ms()
    }

    pub fn snapshot(&self, index: usize) -> LaneSnapshot {
        let request = self.request.read();
        LaneSnapshot {
            index,
            state: self.state(),
            timed_out: request.is_some() && self.timed_out.load(Ordering::Relaxed) == 1,
            thread_id: Some(self.thread_id.load(Ordering::Relaxed)).filter(|&id| id != 0),
            request,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scoreboard::Scoreboard;

    #[test]
    fn thread_id_is_published_once_and_cleared_by_the_next_claim() {
        let board = Scoreboard::new(1, 2, 1).expect("mmap");
        let slot = board.slot(0).expect("slot 0");
        slot.claim(7);
        slot.set_lanes_used(2);
        assert_eq!(
            slot.snapshot().lanes[1].thread_id,
            None,
            "not published yet"
        );
        slot.lane(1).expect("lane 1").set_thread_id(0x7f01);
        assert_eq!(slot.snapshot().lanes[1].thread_id, Some(0x7f01));
        slot.claim(8);
        assert_eq!(slot.lane(1).expect("lane 1").snapshot(1).thread_id, None);
    }
}
