//! The log pane's data and position: one merged ring of every line, plus one ring per worker slot,
//! so selecting a worker shows its history even when the merged ring has rolled past it, and a
//! dead worker's last lines stay (pm2 #4565, tui.md rows 15–17).
//!
//! A slot's ring holds the lines of every pid that occupied the slot: the crash output of the
//! previous worker is right above the new one's boot lines.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::protocol::{LogLine, LogStream};

/// Lines kept in the merged ring.
pub const MERGED_CAP: usize = 10_000;
/// Lines kept per slot (tui.md §2.3 suggests 2 000).
pub const SLOT_CAP: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Arrival order; stable while the line is kept, so positions survive new lines.
    pub seq: u64,
    pub slot: Option<u32>,
    pub pid: Option<i32>,
    pub stream: LogStream,
    pub line: String,
}

#[derive(Debug, Default)]
pub struct LogStore {
    merged: VecDeque<Arc<LogEntry>>,
    per_slot: HashMap<u32, VecDeque<Arc<LogEntry>>>,
    next_seq: u64,
}

/// Which lines the pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFilter {
    All,
    Slot(u32),
}

impl LogStore {
    pub fn push(&mut self, line: LogLine) {
        let entry = Arc::new(LogEntry {
            seq: self.next_seq,
            slot: line.slot,
            pid: line.pid,
            stream: line.stream,
            // A worker's line may carry a CR or tabs; the pane is one terminal row per entry.
            line: line.line.replace('\t', "    ").replace(['\r', '\n'], " "),
        });
        self.next_seq += 1;
        push_capped(&mut self.merged, Arc::clone(&entry), MERGED_CAP);
        if let Some(slot) = entry.slot {
            push_capped(self.per_slot.entry(slot).or_default(), entry, SLOT_CAP);
        }
    }

    /// The lines under `filter`, oldest first.
    pub fn lines(&self, filter: LogFilter) -> &VecDeque<Arc<LogEntry>> {
        static EMPTY: VecDeque<Arc<LogEntry>> = VecDeque::new();
        match filter {
            LogFilter::All => &self.merged,
            LogFilter::Slot(slot) => self.per_slot.get(&slot).unwrap_or(&EMPTY),
        }
    }

    /// The last `n` lines of one pid, for a post-mortem card.
    pub fn tail_of_pid(&self, slot: u32, pid: i32, n: usize) -> Vec<Arc<LogEntry>> {
        let lines = self.lines(LogFilter::Slot(slot));
        let mut tail: Vec<_> = lines
            .iter()
            .rev()
            .filter(|e| e.pid == Some(pid))
            .take(n)
            .cloned()
            .collect();
        tail.reverse();
        tail
    }
}

fn push_capped(ring: &mut VecDeque<Arc<LogEntry>>, entry: Arc<LogEntry>, cap: usize) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(entry);
}

/// Where the pane is: following the tail, or pinned with a given line at the bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPosition {
    Follow,
    /// The seq of the bottom visible line.
    Pinned(u64),
}

/// The pane's position and search, independent of which lines are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogView {
    pub position: LogPosition,
    /// The last committed search, for `n` / `N`.
    pub query: Option<String>,
    /// The seq of the current match, highlighted.
    pub current_match: Option<u64>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            position: LogPosition::Follow,
            query: None,
            current_match: None,
        }
    }
}

/// Index (in `lines`) of the bottom visible line.
pub fn bottom_index(lines: &VecDeque<Arc<LogEntry>>, position: LogPosition) -> Option<usize> {
    let last = lines.len().checked_sub(1)?;
    match position {
        LogPosition::Follow => Some(last),
        // The pinned line may have rolled out of the ring: the first line kept after it.
        LogPosition::Pinned(seq) => Some(
            lines
                .partition_point(|e| e.seq <= seq)
                .saturating_sub(1)
                .min(last),
        ),
    }
}

impl LogView {
    /// Scrolls by `delta` lines (negative is up, towards older lines). Reaching the tail
    /// resumes following, as `less +F` users expect.
    pub fn scroll(&mut self, lines: &VecDeque<Arc<LogEntry>>, delta: isize) {
        let Some(bottom) = bottom_index(lines, self.position) else {
            return;
        };
        let target = bottom.saturating_add_signed(delta).min(lines.len() - 1);
        self.position = if target + 1 >= lines.len() && delta > 0 {
            LogPosition::Follow
        } else {
            LogPosition::Pinned(lines[target].seq)
        };
    }

    /// Jumps to the next match of the query, searching older lines when `backwards`
    /// (like `less`, a new search looks up from the bottom). Returns false if nothing matches.
    pub fn find(&mut self, lines: &VecDeque<Arc<LogEntry>>, backwards: bool) -> bool {
        let Some(query) = self.query.as_deref().map(str::to_lowercase) else {
            return false;
        };
        // Candidates are strictly before (backwards) or after (forwards) the current match, or
        // the bottom line when there is none yet; a new search includes the bottom line itself.
        let Some(bottom) = bottom_index(lines, self.position) else {
            return false;
        };
        let (before, after) = match self.current_match {
            Some(seq) => {
                let idx = lines.partition_point(|e| e.seq < seq);
                (idx, idx + 1)
            }
            None => (bottom + 1, bottom + 1),
        };
        let is_match = |e: &&Arc<LogEntry>| e.line.to_lowercase().contains(&query);
        let found = if backwards {
            lines.iter().take(before).rev().find(is_match)
        } else {
            lines.iter().skip(after).find(is_match)
        };
        match found {
            Some(entry) => {
                self.current_match = Some(entry.seq);
                self.position = LogPosition::Pinned(entry.seq);
                true
            }
            None => false,
        }
    }
}
