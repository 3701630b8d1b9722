//! One worker's slot: liveness, counters and the latency histogram, followed in the mapping by
//! the worker's lanes (one per thread).
//!
//! The worker-wide fields are written by any of the worker's threads (counters with
//! `fetch_add`), the worker's own state by its loop; a lane only by the thread that owns it.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::entry::{Lane, LaneSnapshot};
use super::request::RequestLine;
use super::{latency, now_ms, ExitReason, SlotSnapshot, WorkerState, STATUS_CLASSES, WRITES_OFF};

/// One worker's slot; 64-byte aligned so two workers never write one cache line.
#[repr(C, align(64))]
pub struct Slot {
    pid: AtomicI32,
    /// The worker's own state (booting, idle, draining, dead); lanes say what requests do.
    state: AtomicU8,
    /// Lanes that follow this slot in the mapping; fixed when the mapping is made.
    lane_count: AtomicU32,
    /// Lanes the worker actually runs (its `--threads`, at most `lane_count`).
    lanes_used: AtomicU32,
    /// Last heartbeat, CLOCK_MONOTONIC milliseconds (system-wide, so comparable across processes).
    heartbeat_ms: AtomicU64,
    requests: AtomicU64,
    boot_ms: AtomicU64,
    status: [AtomicU64; STATUS_CLASSES],
    exceptions: AtomicU64,
    exit_reason: AtomicU8,
    /// The worker's faulthandler listens on the dump signal: before that, the signal's default
    /// action would kill it.
    dump_ready: AtomicU8,
    /// `hold PID` from the control socket: written by the master (its only write to a live
    /// worker's slot), read by the worker's `--request-timeout` watchdog.
    held: AtomicU8,
    /// Open client connections, and of those the idle kept-alive ones.
    connections: AtomicU32,
    keepalive: AtomicU32,
    /// Requests between `request_started` and `request_finished`, lane or not: a greenlet
    /// worker serves more than it has lanes, so counting busy lanes would stop at their number.
    in_flight: AtomicU32,
    latency: latency::LatencyHistogram,
}

impl Slot {
    pub(super) fn set_lane_count(&self, lanes: usize) {
        self.lane_count.store(lanes as u32, Ordering::Relaxed);
    }

    /// Lane `index` of this slot's worker.
    pub fn lane(&self, index: usize) -> Option<&Lane> {
        if index >= self.lane_count.load(Ordering::Relaxed) as usize {
            return None;
        }
        // SAFETY: slots exist only inside the scoreboard mapping (`Scoreboard::slot`), where
        // each is followed by `lane_count` lanes; Slot's size is a multiple of 64, so the lanes
        // are aligned, and index < lane_count keeps the pointer inside the slot's stride.
        Some(unsafe {
            let first = (self as *const Slot).add(1).cast::<Lane>();
            &*first.add(index)
        })
    }

    fn used_lanes(&self) -> impl Iterator<Item = &Lane> {
        let used = self.lanes_used.load(Ordering::Relaxed).max(1) as usize;
        (0..used).filter_map(|i| self.lane(i))
    }

    /// Master, before fork: claim the slot for a new worker.
    pub fn claim(&self, pid: i32) {
        let now = now_ms();
        self.held.store(0, Ordering::Relaxed);
        self.heartbeat_ms.store(now, Ordering::Relaxed);
        self.boot_ms.store(now, Ordering::Relaxed);
        for i in 0..self.lane_count.load(Ordering::Relaxed) as usize {
            if let Some(lane) = self.lane(i) {
                lane.clear();
            }
        }
        self.lanes_used.store(1, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        for counter in &self.status {
            counter.store(0, Ordering::Relaxed);
        }
        self.exceptions.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
        self.keepalive.store(0, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Relaxed);
        self.exit_reason
            .store(ExitReason::Unknown as u8, Ordering::Relaxed);
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

    /// Worker: its own state (booting, idle, draining, dead).
    pub fn set_state(&self, state: WorkerState) {
        if WRITES_OFF {
            return;
        }
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// The worker's own state (not its lanes').
    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Worker: how many lanes (threads) it runs; those beyond the mapping's room go unseen.
    pub fn set_lanes_used(&self, threads: usize) {
        let room = self.lane_count.load(Ordering::Relaxed) as usize;
        self.lanes_used
            .store(threads.clamp(1, room.max(1)) as u32, Ordering::Relaxed);
    }

    pub fn last_heartbeat_ms(&self) -> u64 {
        self.heartbeat_ms.load(Ordering::Relaxed)
    }

    /// Open client connections (what `count_connections` keeps).
    pub fn open_connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Worker, before it calls the app: a request begins on `lane`.
    pub fn request_started(&self, lane: Option<&Lane>, line: &RequestLine<'_>) {
        if WRITES_OFF {
            return;
        }
        if let Some(lane) = lane {
            lane.begin(now_ms(), line);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Worker: the request on `lane` is done.
    pub fn request_finished(&self, lane: Option<&Lane>) {
        if WRITES_OFF {
            return;
        }
        if let Some(lane) = lane {
            lane.end();
        }
        // Saturating: an unpaired finish must not wrap the count to four billion.
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Worker: how long a request took, head complete to response written.
    pub fn record_latency(&self, elapsed: std::time::Duration) {
        if WRITES_OFF {
            return;
        }
        self.latency.record(elapsed);
    }

    /// Worker: the response status of a request, and whether the app failed.
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

    /// Worker: a client connection opened (`+1`) or closed (`-1`); `keepalive` likewise for
    /// connections entering or leaving the idle kept-alive state.
    pub fn count_connections(&self, open: i32, keepalive: i32) {
        add(&self.connections, open);
        add(&self.keepalive, keepalive);
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

    /// Start of the longest-running request (monotonic ms), if one is running.
    pub fn request_start_ms(&self) -> Option<u64> {
        self.used_lanes()
            .map(Lane::start_ms)
            .filter(|&t| t != 0)
            .min()
    }

    /// A copy of everything in the slot, for the master (timeout explanations, reaping) and
    /// the control socket.
    pub fn snapshot(&self) -> SlotSnapshot {
        let lanes: Vec<LaneSnapshot> = self
            .used_lanes()
            .enumerate()
            .map(|(i, lane)| lane.snapshot(i))
            .collect();
        let oldest = lanes
            .iter()
            .filter_map(|l| l.request.as_ref().map(|r| (r.start_ms, l)))
            .min_by_key(|(start, _)| *start)
            .map(|(_, l)| l);
        SlotSnapshot {
            pid: self.pid(),
            state: effective_state(self.state(), &lanes),
            boot_ms: self.boot_ms.load(Ordering::Relaxed),
            heartbeat_ms: self.last_heartbeat_ms(),
            requests: self.requests(),
            status: std::array::from_fn(|i| self.status[i].load(Ordering::Relaxed)),
            exceptions: self.exceptions.load(Ordering::Relaxed),
            exit_reason: self.exit_reason(),
            request: oldest.and_then(|l| l.request.clone()),
            request_timed_out: oldest.is_some_and(|l| l.timed_out),
            dump_ready: self.is_dump_ready(),
            latency: self.latency.read(),
            connections: self.connections.load(Ordering::Relaxed),
            keepalive: self.keepalive.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            lanes,
        }
    }
}

/// `fetch_add` of a signed delta on an unsigned counter.
fn add(counter: &AtomicU32, delta: i32) {
    match delta {
        0 => {}
        d if d > 0 => {
            counter.fetch_add(d.unsigned_abs(), Ordering::Relaxed);
        }
        d => {
            counter.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
        }
    }
}

/// What the worker as a whole is doing: its own state while it boots, drains or is gone;
/// otherwise the busiest of its lanes (writing, then the app, then reading), else idle.
fn effective_state(own: WorkerState, lanes: &[LaneSnapshot]) -> WorkerState {
    if !matches!(own, WorkerState::Idle | WorkerState::Draining) {
        return own;
    }
    let rank = |s: WorkerState| match s {
        WorkerState::Writing => 3,
        WorkerState::App => 2,
        WorkerState::Reading => 1,
        _ => 0,
    };
    lanes
        .iter()
        .map(|l| l.state)
        .filter(|&s| rank(s) > 0)
        .max_by_key(|&s| rank(s))
        .unwrap_or(own)
}
