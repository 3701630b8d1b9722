//! The data of `show workers`, `show stats`, `show listeners` and the pushed snapshots, built
//! on demand from the scoreboard (the workers' own word, right even while one is stuck in C),
//! /proc (CPU, RSS) and the master's book. Gunicorn's fields come first with its meanings.

use super::threads::{lane_state, longest_request, soonest_deadline_ms, thread_rows};
use super::{backlog, procstat};
use crate::master::{Master, Worker};
use crate::scoreboard::{self, now_ms, CurrentRequest, Histogram, SlotSnapshot};
use crate::sock::Bound;
use std::net::SocketAddr;
use std::time::Instant;
use ui::protocol::{
    Listener, ListenersData, RequestInfo, Snapshot, Stats, StatusCounts, WorkerInfo, WorkerState,
};

impl Master<'_> {
    /// One row per live worker, oldest first (Gunicorn's order).
    pub(in crate::master) fn worker_rows(&mut self) -> Vec<WorkerInfo> {
        let now = Instant::now();
        let mut workers: Vec<&Worker> = self.workers.iter().collect();
        workers.sort_by_key(|w| w.age);
        let snaps: Vec<(Worker, Option<SlotSnapshot>)> = workers
            .into_iter()
            .map(|w| (w.clone(), self.scoreboard.snapshot(w.slot)))
            .collect();
        snaps
            .into_iter()
            .map(|(w, snap)| self.worker_row(&w, snap.as_ref(), now))
            .collect()
    }

    fn worker_row(&mut self, w: &Worker, snap: Option<&SlotSnapshot>, now: Instant) -> WorkerInfo {
        let ms = now_ms();
        let pid = w.pid.as_raw();
        let uptime = snap.map_or(0.0, |s| seconds(ms.saturating_sub(s.boot_ms)));
        let cpu_percent = procstat::cpu_ticks(pid).and_then(|ticks| {
            let before = self.book.cpu.insert(pid, (ticks, now));
            procstat::cpu_percent(ticks, now, before, uptime)
        });
        WorkerInfo {
            pid,
            age: w.age,
            booted: self.is_booted(w),
            aborted: w.lifecycle.is_aborting(),
            last_heartbeat: snap.map(|s| round2(seconds(ms.saturating_sub(s.heartbeat_ms)))),
            slot: w.slot as u32,
            generation: w.generation,
            kind: w.class.name().to_owned(),
            state: snap.map_or(WorkerState::Unknown, |s| state_of(w, s)),
            request: snap.and_then(|s| longest_request(s, ms)),
            threads: snap.map_or_else(Vec::new, |s| thread_rows(s, ms, self.request_limit(w))),
            threads_busy: snap.map_or(0, |s| s.busy_lanes() as u32),
            threads_total: snap.map_or(0, |s| s.lanes.len() as u32),
            connections: snap.map_or(0, |s| s.connections),
            keepalive: snap.map_or(0, |s| s.keepalive),
            in_flight: snap.map_or(0, |s| s.in_flight),
            timeout_in: snap.and_then(|s| self.timeout_in(w, s, ms)),
            uptime: round2(uptime),
            requests: snap.map_or(0, |s| s.requests),
            status: snap.map_or_else(StatusCounts::default, |s| status_counts(&s.status)),
            p50_ms: snap.and_then(|s| s.latency.quantile_ms(0.5)),
            p99_ms: snap.and_then(|s| s.latency.quantile_ms(0.99)),
            cpu_percent: cpu_percent.map(round2),
            rss_bytes: crate::master::memory::rss_bytes(pid),
            restarts: self.book.restarts(w.slot),
            last_exit: self
                .book
                .slots
                .get(w.slot)
                .and_then(|s| s.last_exit.clone()),
        }
    }

    /// The `--request-timeout` whose clock runs for `w`'s requests: none while it is held.
    pub(in crate::master) fn request_limit(&self, w: &Worker) -> Option<std::time::Duration> {
        self.cfg.request_timeout.filter(|_| !w.held)
    }

    /// Seconds before the master kills the worker: the heartbeat's `--timeout`, or the soonest
    /// request deadline (`--request-timeout`) of its threads if sooner. `None` when no clock
    /// runs (held, or no timeout).
    fn timeout_in(&self, w: &Worker, snap: &SlotSnapshot, now: u64) -> Option<f64> {
        if w.held {
            return None;
        }
        let beat = self.cfg.timeout.map(|t| {
            let since = w.grace_from_ms.max(snap.heartbeat_ms);
            seconds(since + t.as_millis() as u64) - seconds(now)
        });
        let request =
            soonest_deadline_ms(snap, self.request_limit(w)).map(|at| seconds(at) - seconds(now));
        let soonest = match (beat, request) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        soonest.map(round2)
    }

    /// `show stats`: Gunicorn's fields, then the dashboard header's.
    pub(in crate::master) fn stats(&mut self, rows: &[WorkerInfo]) -> Stats {
        let now = Instant::now();
        let mut latency = self.book.dead_latency;
        let mut requests = self.book.dead_requests;
        for w in &self.workers {
            if let Some(snap) = self.scoreboard.snapshot(w.slot) {
                latency.merge(&snap.latency);
                requests += snap.requests;
            }
        }
        let recent = self.book.recent_latency(latency, now);
        Stats {
            uptime: Some(round2(now.duration_since(self.book.started).as_secs_f64())),
            pid: self.pid.as_raw(),
            workers_current: self.workers.len(),
            workers_target: self.num_workers,
            workers_spawned: self.book.spawned,
            workers_killed: self.book.killed,
            reloads: self.book.generation,
            dirty_arbiter_pid: None,
            name: self.cfg.proc_name().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            worker_class: self.cfg.worker_class.name().to_owned(),
            binds: self.listeners.iter().map(|l| l.to_string()).collect(),
            busy: rows.iter().filter(|w| w.state.is_busy()).count(),
            idle: rows.iter().filter(|w| w.state == WorkerState::Idle).count(),
            total: rows.len(),
            in_flight: rows.iter().map(WorkerInfo::requests_in_flight).sum(),
            threads_total: rows.iter().map(|w| w.threads_total as usize).sum(),
            connections: rows.iter().map(|w| u64::from(w.connections)).sum(),
            keepalive: rows.iter().map(|w| u64::from(w.keepalive)).sum(),
            requests,
            req_per_s: self.book.req_per_s(requests, now).map(round2),
            p50_ms: percentile(&recent, 0.5),
            p99_ms: percentile(&recent, 0.99),
            backlog: self.listen_backlog(),
            generation: self.book.generation,
            timeout: self.cfg.timeout.map_or(0.0, |t| t.as_secs_f64()),
        }
    }

    /// Summed over the TCP listeners; `None` with none (Unix sockets do not say).
    fn listen_backlog(&self) -> Option<u32> {
        let depths: Vec<u32> = self
            .listeners
            .iter()
            .filter_map(|l| backlog::queued(l.raw_fd()))
            .collect();
        (!depths.is_empty()).then(|| depths.iter().sum())
    }

    pub(in crate::master) fn snapshot(&mut self) -> Snapshot {
        let workers = self.worker_rows();
        Snapshot {
            stats: self.stats(&workers),
            workers,
        }
    }

    pub(in crate::master) fn listeners_data(&self) -> ListenersData {
        let listeners: Vec<Listener> = self
            .listeners
            .iter()
            .map(|l| Listener {
                address: l.to_string(),
                fd: l.raw_fd(),
                kind: match &l.bound {
                    Bound::Tcp(SocketAddr::V4(_)) => "tcp",
                    Bound::Tcp(SocketAddr::V6(_)) => "tcp6",
                    Bound::Unix(_) => "unix",
                }
                .into(),
            })
            .collect();
        ListenersData {
            count: listeners.len(),
            listeners,
        }
    }
}

/// The state to show: the worker's own, unless the master knows better (held, timed out,
/// told to stop).
pub(in crate::master) fn state_of(w: &Worker, snap: &SlotSnapshot) -> WorkerState {
    match snap.state {
        _ if w.held => WorkerState::Held,
        _ if w.lifecycle.is_aborting() => WorkerState::TimeoutPending,
        scoreboard::WorkerState::Idle if w.lifecycle.is_retiring() => WorkerState::Draining,
        state => lane_state(state),
    }
}

pub(in crate::master) fn request_info(r: &CurrentRequest, now_ms: u64) -> RequestInfo {
    RequestInfo {
        method: r.method.clone(),
        path: r.path.clone(),
        client: r.client.clone(),
        elapsed: round2(seconds(now_ms.saturating_sub(r.start_ms))),
        request_id: None,
        thread: None,
    }
}

fn status_counts(s: &[u64; scoreboard::STATUS_CLASSES]) -> StatusCounts {
    StatusCounts {
        s1xx: s[0],
        s2xx: s[1],
        s3xx: s[2],
        s4xx: s[3],
        s5xx: s[4],
    }
}

fn percentile(h: &Histogram, q: f64) -> Option<f64> {
    h.quantile_ms(q).map(round2)
}

pub(super) fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Gunicorn rounds its durations to two decimals.
pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
