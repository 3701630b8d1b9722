//! What the master remembers for the control socket, beyond the scoreboard: the history of each
//! slot (restarts, how its last worker ended), Gunicorn's stats counters, the requests and
//! latencies of dead workers, and the previous samples that rates are computed from. Kept
//! whether or not a socket is open: it is a few counters, updated at spawn and reap.

use crate::scoreboard::{Histogram, SlotSnapshot, STATUS_CLASSES};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use ui::protocol::{Event, ExitCause, ExitReason};

/// The window of the header's p50/p99.
const LATENCY_WINDOW: Duration = Duration::from_secs(60);
/// How often a latency sample is kept (while stats are asked for).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One scoreboard slot's past.
#[derive(Debug, Clone, Default)]
pub(in crate::master) struct SlotRecord {
    /// Workers spawned into this slot.
    pub spawned: u32,
    pub last_exit: Option<ExitReason>,
}

/// Requests per second from the counter delta between two samples at least this far apart.
const RATE_WINDOW: Duration = Duration::from_millis(900);

#[derive(Debug)]
pub(in crate::master) struct Book {
    pub started: Instant,
    pub slots: Vec<SlotRecord>,
    pub spawned: u64,
    pub killed: u64,
    /// Reloads (HUP or `reload`): the generation new workers belong to.
    pub generation: u64,
    /// Requests, responses by status class, app exceptions and latencies of workers already
    /// reaped: totals add them to the live workers' so they never go down (a Prometheus
    /// counter that drops reads as a reset).
    pub dead_requests: u64,
    pub dead_status: [u64; STATUS_CLASSES],
    pub dead_exceptions: u64,
    pub dead_latency: Histogram,
    /// Worker exits by cause, in the order first seen.
    pub exits: Vec<(ExitCause, u64)>,
    /// WORKER TIMEOUTs: workers the master aborted for a missed heartbeat.
    pub timeouts: u64,
    /// Events waiting for the next pass of the control socket (only while someone listens).
    pub events: Vec<Event>,
    pub want_events: bool,
    rate: Option<(u64, Instant)>,
    last_rate: Option<f64>,
    /// Per pid: CPU ticks and when they were read, for CPU % between two reads.
    pub cpu: HashMap<i32, (u64, Instant)>,
    /// Where the control socket listens, for `show config`.
    pub control_path: Option<std::path::PathBuf>,
    /// Server-wide cumulative latency histograms, about one a second while someone asks for
    /// stats, for percentiles of the last minute rather than since start.
    latency_samples: std::collections::VecDeque<(Instant, Histogram)>,
}

impl Book {
    pub fn new() -> Book {
        Book {
            started: Instant::now(),
            slots: Vec::new(),
            spawned: 0,
            killed: 0,
            generation: 0,
            dead_requests: 0,
            dead_status: [0; STATUS_CLASSES],
            dead_exceptions: 0,
            dead_latency: Histogram::default(),
            exits: Vec::new(),
            timeouts: 0,
            events: Vec::new(),
            want_events: false,
            rate: None,
            last_rate: None,
            cpu: HashMap::new(),
            control_path: None,
            latency_samples: std::collections::VecDeque::new(),
        }
    }

    /// The latencies of about the last minute, from the cumulative histogram of everything
    /// served (`total` only grows: a reaped worker's counts move to `dead_latency`). Until a
    /// minute has been seen, or when nothing was served in it, the whole history.
    pub fn recent_latency(&mut self, total: Histogram, now: Instant) -> Histogram {
        if self
            .latency_samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= SAMPLE_EVERY)
        {
            self.latency_samples.push_back((now, total));
        }
        // Keep the newest sample that is at least a window old: it is the window's base.
        while self
            .latency_samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= LATENCY_WINDOW)
        {
            self.latency_samples.pop_front();
        }
        match self.latency_samples.front() {
            Some((at, base)) if now.duration_since(*at) >= LATENCY_WINDOW => {
                let recent = total.since(base);
                if recent.count() > 0 {
                    recent
                } else {
                    total
                }
            }
            _ => total,
        }
    }

    pub fn slot(&mut self, index: usize) -> &mut SlotRecord {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, SlotRecord::default);
        }
        &mut self.slots[index]
    }

    /// Respawns of a slot: every spawn but its first.
    pub fn restarts(&self, index: usize) -> u32 {
        self.slots
            .get(index)
            .map_or(0, |s| s.spawned.saturating_sub(1))
    }

    /// A reaped worker: its counters join the dead's, its exit the count of its cause.
    pub fn worker_died(&mut self, cause: ExitCause, snap: Option<&SlotSnapshot>) {
        if let Some(snap) = snap {
            self.dead_requests += snap.requests;
            for (dead, live) in self.dead_status.iter_mut().zip(snap.status) {
                *dead += live;
            }
            self.dead_exceptions += snap.exceptions;
            self.dead_latency.merge(&snap.latency);
        }
        match self.exits.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += 1,
            None => self.exits.push((cause, 1)),
        }
    }

    pub fn event(&mut self, event: Event) {
        if self.want_events {
            self.events.push(event);
        }
    }

    /// Requests per second over the last window, from the total served so far.
    pub fn req_per_s(&mut self, total: u64, now: Instant) -> Option<f64> {
        match self.rate {
            Some((before, at)) if now.duration_since(at) >= RATE_WINDOW => {
                let secs = now.duration_since(at).as_secs_f64();
                self.last_rate = Some(total.saturating_sub(before) as f64 / secs);
                self.rate = Some((total, now));
            }
            Some(_) => {}
            None => self.rate = Some((total, now)),
        }
        self.last_rate
    }
}

/// Unix time now, in seconds (the protocol's timestamps).
pub(in crate::master) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` requests of `ms` milliseconds each, as a cumulative histogram.
    fn served(hist: &mut Histogram, n: u64, ms: u64) {
        hist.0[crate::scoreboard::bucket_of(ms * 1000)] += n;
    }

    #[test]
    fn header_percentiles_cover_the_last_minute() {
        let mut book = Book::new();
        let t0 = Instant::now();
        let mut total = Histogram::default();
        served(&mut total, 1000, 1);
        // Less than a window of history: everything counts.
        let p = book.recent_latency(total, t0).quantile_ms(0.5).unwrap();
        assert!(p < 2.0, "{p}");
        // A minute later the old fast requests fall out; only the new slow ones remain.
        for s in 1..=61 {
            if s == 61 {
                served(&mut total, 10, 500);
            }
            let recent = book.recent_latency(total, t0 + Duration::from_secs(s));
            if s == 61 {
                assert_eq!(recent.count(), 10);
                assert!(recent.quantile_ms(0.5).unwrap() > 400.0);
            }
        }
        // A quiet minute shows the whole history rather than nothing.
        let quiet = book.recent_latency(total, t0 + Duration::from_secs(200));
        assert_eq!(quiet.count(), 1010);
    }

    #[test]
    fn rate_needs_a_window_and_restarts_skip_the_first_spawn() {
        let mut book = Book::new();
        let t0 = Instant::now();
        assert_eq!(book.req_per_s(100, t0), None);
        assert_eq!(book.req_per_s(150, t0 + Duration::from_millis(100)), None);
        let rate = book
            .req_per_s(300, t0 + Duration::from_secs(2))
            .expect("rate");
        assert!((rate - 100.0).abs() < 1e-6, "{rate}");
        assert_eq!(book.restarts(3), 0);
        book.slot(3).spawned = 3;
        assert_eq!(book.restarts(3), 2);
        book.event(Event::Reopen);
        assert!(book.events.is_empty(), "nobody listens");
    }
}
