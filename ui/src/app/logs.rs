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
    unmatched: Unmatched,
}

/// Under `--tui` every worker line arrives twice: the master forwards worker output to its own
/// stdout/stderr — the output file the dashboard tails — and also pushes it over the socket
/// with its slot and pid. The pushed copy is the one kept (it knows its worker); whichever
/// copy comes second is folded into the first. These are the copies still waiting for a twin.
#[derive(Debug, Default)]
struct Unmatched {
    /// The seq of each shown output-file line, with its text.
    output: VecDeque<(u64, String)>,
    pushed: VecDeque<String>,
    /// Set by the first output-file line: without that file nothing is ever doubled.
    has_output: bool,
}

/// Twins arrive within a poll interval or two of each other; a few hundred lines is ample.
const UNMATCHED_CAP: usize = 512;

/// Which lines the pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFilter {
    All,
    Slot(u32),
}

impl LogStore {
    /// A line pushed by the server.
    pub fn push(&mut self, line: LogLine) {
        let mut entry = LogEntry {
            seq: self.next_seq,
            slot: line.slot,
            pid: line.pid,
            stream: line.stream,
            line: clean(&line.line),
        };
        if self.unmatched.has_output {
            let twin = self
                .unmatched
                .output
                .iter()
                .position(|(_, t)| *t == entry.line);
            if let Some((seq, _)) = twin.and_then(|i| self.unmatched.output.remove(i)) {
                entry.seq = seq;
                return self.retag(entry);
            }
            push_capped(
                &mut self.unmatched.pushed,
                entry.line.clone(),
                UNMATCHED_CAP,
            );
        }
        self.append(entry);
    }

    /// A line of the master's own output (the `--tui` output file), shown as the master's
    /// unless the server already pushed it as a worker's.
    pub fn push_output(&mut self, text: &str) {
        self.unmatched.has_output = true;
        let text = clean(text);
        if let Some(i) = self.unmatched.pushed.iter().position(|t| *t == text) {
            self.unmatched.pushed.remove(i);
            return;
        }
        let seq = self.next_seq;
        push_capped(
            &mut self.unmatched.output,
            (seq, text.clone()),
            UNMATCHED_CAP,
        );
        self.append(LogEntry {
            seq,
            slot: None,
            pid: None,
            stream: LogStream::Master,
            line: text,
        });
    }

    fn append(&mut self, entry: LogEntry) {
        let entry = Arc::new(entry);
        self.next_seq += 1;
        push_capped(&mut self.merged, Arc::clone(&entry), MERGED_CAP);
        if let Some(slot) = entry.slot {
            push_capped(self.per_slot.entry(slot).or_default(), entry, SLOT_CAP);
        }
    }

    /// The output-file line `entry.seq` was this worker's: it takes the worker's tags in place.
    fn retag(&mut self, entry: LogEntry) {
        let entry = Arc::new(entry);
        if let Some(shown) = self.merged.iter_mut().rev().find(|e| e.seq == entry.seq) {
            *shown = Arc::clone(&entry);
        }
        if let Some(slot) = entry.slot {
            let ring = self.per_slot.entry(slot).or_default();
            let at = ring.partition_point(|e| e.seq < entry.seq);
            ring.insert(at, entry);
            if ring.len() > SLOT_CAP {
                ring.pop_front();
            }
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

/// A worker's line may carry a CR or tabs; the pane is one terminal row per entry.
fn clean(line: &str) -> String {
    line.replace('\t', "    ").replace(['\r', '\n'], " ")
}

fn push_capped<T>(ring: &mut VecDeque<T>, entry: T, cap: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(slot: u32, pid: i32, line: &str) -> LogLine {
        LogLine {
            slot: Some(slot),
            pid: Some(pid),
            stream: LogStream::Stderr,
            line: line.into(),
            ..Default::default()
        }
    }

    fn texts(store: &LogStore, filter: LogFilter) -> Vec<(Option<i32>, String)> {
        store
            .lines(filter)
            .iter()
            .map(|e| (e.pid, e.line.clone()))
            .collect()
    }

    #[test]
    fn a_worker_line_seen_in_the_output_file_and_pushed_is_shown_once_as_the_workers() {
        let mut store = LogStore::default();
        // File first: shown as the master's, then taken over by the pushed twin.
        store.push_output("[INFO] Listening at: http://127.0.0.1:8000");
        store.push_output("hello from 41");
        store.push(pushed(0, 41, "hello from 41"));
        // Pushed first: the file's copy is dropped.
        store.push(pushed(1, 42, "hello from 42"));
        store.push_output("hello from 42");
        assert_eq!(
            texts(&store, LogFilter::All),
            [
                (
                    None,
                    "[INFO] Listening at: http://127.0.0.1:8000".to_string()
                ),
                (Some(41), "hello from 41".to_string()),
                (Some(42), "hello from 42".to_string()),
            ]
        );
        assert_eq!(
            texts(&store, LogFilter::Slot(0)),
            [(Some(41), "hello from 41".to_string())]
        );
    }

    #[test]
    fn without_an_output_file_identical_pushed_lines_all_stay() {
        let mut store = LogStore::default();
        store.push(pushed(0, 41, "same"));
        store.push(pushed(1, 42, "same"));
        assert_eq!(store.lines(LogFilter::All).len(), 2);
    }
}
