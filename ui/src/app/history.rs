//! What the dashboard remembers about workers beyond the current snapshot: the last stack dump
//! of each pid and a post-mortem card for each worker that died (tui.md §0.5: exit reason, last
//! request, last stack, last log lines; gunicorn #2762).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use crate::protocol::{Dump, ExitReason, RequestInfo};

/// Deaths remembered per slot.
const DEATHS_PER_SLOT: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct PostMortem {
    pub slot: u32,
    pub pid: i32,
    pub reason: ExitReason,
    /// What it was serving when it died, from the exit event or its last snapshot row.
    pub last_request: Option<RequestInfo>,
    /// Dashboard clock at the time we learned of it.
    pub at: Duration,
}

#[derive(Debug, Default)]
pub struct History {
    dumps: HashMap<i32, Dump>,
    deaths: HashMap<u32, VecDeque<PostMortem>>,
    /// Pids with a dump requested and not yet answered: the detail view says "dumping…".
    pending: HashSet<i32>,
}

impl History {
    pub fn record_dump(&mut self, dump: Dump) {
        self.pending.remove(&dump.pid);
        self.dumps.insert(dump.pid, dump);
    }

    pub fn dump_requested(&mut self, pid: i32) {
        self.pending.insert(pid);
    }

    pub fn dump_failed(&mut self, pid: i32) {
        self.pending.remove(&pid);
    }

    pub fn is_dumping(&self, pid: i32) -> bool {
        self.pending.contains(&pid)
    }

    pub fn dump_of(&self, pid: i32) -> Option<&Dump> {
        self.dumps.get(&pid)
    }

    /// Records a death once per pid: the exit event and the snapshot that shows the slot's new
    /// pid both report it, and whichever comes first wins (the event carries more).
    pub fn record_death(&mut self, death: PostMortem) {
        let ring = self.deaths.entry(death.slot).or_default();
        if let Some(known) = ring.iter_mut().find(|d| d.pid == death.pid) {
            if known.last_request.is_none() {
                known.last_request = death.last_request;
            }
            return;
        }
        if ring.len() == DEATHS_PER_SLOT {
            ring.pop_front();
        }
        ring.push_back(death);
    }

    /// The most recent death in `slot`.
    pub fn last_death(&self, slot: u32) -> Option<&PostMortem> {
        self.deaths.get(&slot).and_then(|d| d.back())
    }

    pub fn deaths(&self, slot: u32) -> impl Iterator<Item = &PostMortem> {
        self.deaths.get(&slot).into_iter().flatten().rev()
    }
}
