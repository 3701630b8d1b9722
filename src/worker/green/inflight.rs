//! The requests a greenlet worker has in flight: which greenlet serves each (for a dump and for
//! `--request-timeout`'s interrupt), and which of them the scoreboard shows.
//!
//! A greenlet worker may run `--worker-connections` requests at once but its slot has
//! [`GREEN_LANES`] scoreboard entries. A request takes a free entry when it starts; when none
//! is free it waits, oldest first, and takes the next entry a request gives back (keeping its
//! own start time). So the entries always show the longest-running requests — the stuck ones
//! someone is looking for — however many are in flight.

use std::collections::VecDeque;

use super::Green;
use crate::config::GREEN_LANES;
use crate::http::RequestHead;
use crate::scoreboard::{now_ms, RequestLine};
use crate::worker::conn::Lane;
use crate::wsgi::hub::Greenlet;

/// A request in flight that no entry shows yet.
struct Unshown {
    lane: usize,
    start_ms: u64,
    greenlet: u64,
    method: String,
    path: String,
    client: String,
    version: (u8, u8),
}

impl Unshown {
    fn line(&self) -> RequestLine<'_> {
        RequestLine {
            method: self.method.as_bytes(),
            path: self.path.as_bytes(),
            client: self.client.as_bytes(),
            version: self.version,
        }
    }
}

pub(super) struct InFlight {
    /// Scoreboard entries no request shows.
    free: Vec<usize>,
    /// Requests without an entry, oldest first.
    unshown: VecDeque<Unshown>,
    /// Per lane: the entry that shows its request, and the greenlet serving it.
    entry: Vec<Option<usize>>,
    serving: Vec<Option<Greenlet>>,
}

impl InFlight {
    pub(super) fn new() -> InFlight {
        InFlight {
            free: (0..GREEN_LANES).rev().collect(),
            unshown: VecDeque::new(),
            entry: Vec::new(),
            serving: Vec::new(),
        }
    }
}

/// Per-lane vectors grow with the lanes (one per request in flight at most).
fn at<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

impl Green<'_, '_> {
    /// Before `svc.serve`: the greenlet now running serves `lane`'s request; give it an entry.
    pub(super) fn request_begins(&self, lane: &mut Lane, head: &RequestHead, client: &str) {
        let greenlet = self.hub.current();
        let id = greenlet.as_ref().map_or(0, Greenlet::id);
        let mut inflight = self.inflight.borrow_mut();
        *at(&mut inflight.serving, lane.index) = greenlet;
        let entry = inflight.free.pop();
        *at(&mut inflight.entry, lane.index) = entry;
        lane.entry = entry;
        match entry.and_then(|e| self.svc.slot.lane(e)) {
            Some(shown) => shown.set_thread_id(id),
            None => inflight.unshown.push_back(Unshown {
                lane: lane.index,
                start_ms: now_ms(),
                greenlet: id,
                method: head.method.to_string(),
                path: String::from_utf8_lossy(head.uri.as_bytes()).into_owned(),
                client: client.to_string(),
                version: head.version,
            }),
        }
    }

    /// After `svc.serve`: the lane's request is over; its entry goes to the oldest request
    /// that has none.
    pub(super) fn request_ends(&self, lane: &Lane) {
        let mut inflight = self.inflight.borrow_mut();
        let serving = at(&mut inflight.serving, lane.index).take();
        let Some(entry) = at(&mut inflight.entry, lane.index).take() else {
            inflight.unshown.retain(|u| u.lane != lane.index);
            return;
        };
        let slot = self.svc.slot;
        if lane.entry.is_none() {
            // Shown after it began: the exchange did not know the entry, so it is ended here.
            if let Some(shown) = slot.lane(entry) {
                shown.unshow();
            }
        }
        match inflight.unshown.pop_front() {
            Some(next) => {
                if let Some(shown) = slot.lane(entry) {
                    shown.show(next.start_ms, &next.line(), next.greenlet);
                }
                *at(&mut inflight.entry, next.lane) = Some(entry);
                self.svc.moved(next.lane, entry);
            }
            None => inflight.free.push(entry),
        }
        // Dropped after the borrow: releasing a Python object can run arbitrary code.
        drop(inflight);
        drop(serving);
    }

    /// `--request-timeout`: raise `RequestTimeout` in the greenlets the watchdog asked for,
    /// if each still serves the request that timed out. Main greenlet only.
    pub(super) fn interrupt_timed_out(&self) {
        for (lane, seq) in crate::worker::watchdog::take_hub_interrupts() {
            if !self.svc.is_armed(lane, seq) {
                continue;
            }
            let greenlet = self
                .inflight
                .borrow()
                .serving
                .get(lane)
                .and_then(|g| g.as_ref().map(Greenlet::clone_ref));
            if let Some(greenlet) = greenlet {
                self.hub.interrupt(&greenlet);
            }
        }
    }

    /// The stacks of every greenlet serving a request, each named by its identity (which its
    /// scoreboard entry carries) or, for a request no entry shows, by a note of its request.
    pub(super) fn serving_stacks(&self) -> String {
        let inflight = self.inflight.borrow();
        let now = now_ms();
        let notes = inflight.unshown.iter().map(|u| {
            let secs = now.saturating_sub(u.start_ms) as f64 / 1000.0;
            (u.lane, format!("{} {} ({secs:.1} s)", u.method, u.path))
        });
        let notes: Vec<(usize, String)> = notes.collect();
        let serving: Vec<(&Greenlet, Option<String>)> = inflight
            .serving
            .iter()
            .enumerate()
            .filter_map(|(lane, g)| {
                let note = notes
                    .iter()
                    .find(|(l, _)| *l == lane)
                    .map(|(_, n)| n.clone());
                g.as_ref().map(|g| (g, note))
            })
            .collect();
        // Formatting runs Python code that does not switch greenlets: the borrow cannot be
        // met by another greenlet.
        self.hub.stacks(&serving)
    }
}
