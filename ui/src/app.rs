//! The dashboard's state and its one entry point, [`App::update`]: an [`Event`] in, state changed,
//! a list of [`Effect`]s out. No I/O, no clock, no terminal here — the loop in `dashboard.rs`
//! performs the effects and feeds back what happened — so every behaviour is a plain unit test
//! (the Elm architecture, as in tokio-console's `view` and gitui; aesthetics.md §6).

mod history;
mod input;
pub mod keymap;
pub mod logs;
pub mod workers;

use std::collections::HashMap;
use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};
use serde_json::Value;

pub use history::{History, PostMortem};
pub use logs::{LogFilter, LogStore, LogView};
pub use workers::{ProcSample, Row, Sort, SortKey, Workers};

use crate::protocol::{self, Command, DumpData, Hello, LogLine, Snapshot};

/// How often the loop samples /proc for CPU and RSS (htop and bottom's rate).
pub const PROC_INTERVAL: Duration = Duration::from_secs(1);
/// How long a status message stays in the hint bar.
const STATUS_TTL: Duration = Duration::from_secs(5);
/// Commands typed while the socket is down that are kept for when it is up again.
const PENDING_MAX: usize = 32;
/// The socket client's answer to a command sent while it has no connection.
pub const NOT_CONNECTED: &str = "not connected";

/// Everything that can happen to the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The loop's clock, since the dashboard started. Sent a few times a second.
    Tick(Duration),
    /// The socket client connected (or reconnected) and the server said hello.
    Connected(Hello),
    Disconnected(String),
    Snapshot(Box<Snapshot>),
    ServerEvent(protocol::Event),
    LogLines(Vec<LogLine>),
    /// Lines of the `--tui` master's own stdout/stderr (its output file).
    OutputLines(Vec<String>),
    DumpResult(DumpData),
    /// The reply to a command this dashboard sent.
    Reply {
        command: Command,
        result: Result<Value, String>,
    },
    ProcStats(HashMap<i32, ProcSample>),
}

/// What the loop must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command),
    /// Read /proc for these pids and answer with [`Event::ProcStats`].
    SampleProcs(Vec<i32>),
    /// Leave; the server was asked to stop if this dashboard owns it.
    Quit,
    /// Leave the server running.
    Detach,
}

/// Whether the dashboard started the server (`--tui`) or attached to one (`attach`).
/// `q` stops an owned server; an attached one keeps running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Owned,
    Attached,
}

/// The socket as the dashboard sees it (the client's backoff lives in `conn.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting,
    Connected(Hello),
    Disconnected { since: Duration, error: String },
}

/// The main area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Table,
    /// One worker slot's detail card.
    Detail(u32),
}

/// What is drawn over the screen and takes the keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    None,
    Help,
    Confirm(Confirm),
    /// The `/` prompt, with what has been typed.
    Search(String),
}

/// An action that waits for `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Kill { slot: u32, pid: i32 },
    Quit { in_flight: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub is_error: bool,
    pub until: Duration,
}

#[derive(Debug)]
pub struct App {
    pub ownership: Ownership,
    /// Shown in the banner and the detach message.
    pub socket: String,
    pub now: Duration,
    pub size: (u16, u16),
    /// False under `NO_COLOR`: the view then marks states with bold/reverse only.
    pub color: bool,
    pub link: Link,
    pub workers: Workers,
    /// The copy on screen while frozen (`space`); `workers` keeps updating underneath.
    pub frozen: Option<Box<Workers>>,
    pub history: History,
    pub logs: LogStore,
    pub log_view: LogView,
    pub log_filter: LogFilter,
    pub selected: Option<u32>,
    pub sort: Sort,
    pub screen: Screen,
    pub modal: Modal,
    pub status: Option<Status>,
    /// Commands typed before the socket was up (the first moments, or a reconnect), sent in
    /// order when it is: a quick `+` must not be lost.
    pending: Vec<Command>,
    last_proc_sample: Option<Duration>,
}

impl App {
    pub fn new(ownership: Ownership, socket: impl Into<String>) -> Self {
        App {
            ownership,
            socket: socket.into(),
            now: Duration::ZERO,
            size: (80, 24),
            color: true,
            link: Link::Connecting,
            workers: Workers::default(),
            frozen: None,
            history: History::default(),
            logs: LogStore::default(),
            log_view: LogView::default(),
            log_filter: LogFilter::All,
            selected: None,
            sort: Sort::default(),
            screen: Screen::Table,
            modal: Modal::None,
            status: None,
            pending: Vec::new(),
            last_proc_sample: None,
        }
    }

    /// The one place state changes.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Key(key) => {
                let effects = self.on_key(key);
                return self.hold_until_connected(effects);
            }
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize(w, h) => self.size = (w, h),
            Event::Tick(now) => return self.on_tick(now),
            Event::Connected(hello) => {
                self.link = Link::Connected(hello);
                return self.pending.drain(..).map(Effect::Send).collect();
            }
            Event::Disconnected(error) => self.on_disconnected(error),
            Event::Snapshot(snap) => self.on_snapshot(*snap),
            Event::ServerEvent(ev) => self.on_server_event(ev),
            Event::LogLines(lines) => lines.into_iter().for_each(|l| self.logs.push(l)),
            Event::OutputLines(lines) => lines.iter().for_each(|l| self.logs.push_output(l)),
            Event::DumpResult(data) => data
                .dumps
                .into_iter()
                .for_each(|d| self.history.record_dump(d)),
            Event::Reply { command, result } => self.on_reply(command, result),
            Event::ProcStats(samples) => self.workers.apply_proc(&samples),
        }
        Vec::new()
    }

    /// The workers on screen: the frozen copy while frozen.
    pub fn shown(&self) -> &Workers {
        self.frozen.as_deref().unwrap_or(&self.workers)
    }

    /// The selected row's slot and pid, if it has a live process.
    pub fn selected_pid(&self) -> Option<(u32, i32)> {
        let slot = self.selected?;
        Some((slot, self.workers.pid_of(slot)?))
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    fn on_tick(&mut self, now: Duration) -> Vec<Effect> {
        self.now = now;
        if self.status.as_ref().is_some_and(|s| s.until <= now) {
            self.status = None;
        }
        let due = self
            .last_proc_sample
            .is_none_or(|at| now.saturating_sub(at) >= PROC_INTERVAL);
        let pids = self.workers.live_pids();
        if due && !pids.is_empty() {
            self.last_proc_sample = Some(now);
            return vec![Effect::SampleProcs(pids)];
        }
        Vec::new()
    }

    /// Commands wait while the socket is down: the client would refuse them, and the key that
    /// asked would be lost.
    fn hold_until_connected(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        if matches!(self.link, Link::Connected(_)) {
            return effects;
        }
        let mut kept = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send(command) => self.hold(command),
                other => kept.push(other),
            }
        }
        kept
    }

    fn hold(&mut self, command: Command) {
        let words = command.to_words().0;
        if self.pending.len() >= PENDING_MAX {
            self.set_status(format!("{words}: not connected"), true);
            return;
        }
        self.pending.push(command);
        self.set_status(format!("{words}: sent when connected"), false);
    }

    fn on_disconnected(&mut self, error: String) {
        // Keep the first moment of an outage: the banner counts from there across retries.
        if !matches!(self.link, Link::Disconnected { .. }) {
            self.link = Link::Disconnected {
                since: self.now,
                error,
            };
        }
    }

    fn on_snapshot(&mut self, snap: Snapshot) {
        for old in self.workers.ingest(snap, self.now) {
            // A slot changed pid: its previous worker died, even if no exit event came.
            let Some(reason) = self
                .workers
                .rows
                .get(&old.info.slot)
                .and_then(|r| r.info.last_exit.clone())
            else {
                continue;
            };
            self.history.record_death(PostMortem {
                slot: old.info.slot,
                pid: old.info.pid,
                reason,
                last_request: old
                    .info
                    .request
                    .clone()
                    .filter(|_| old.info.state.is_busy()),
                at: self.now,
            });
        }
        self.keep_selection_valid();
    }

    /// Selection follows a slot; when that slot goes away, the first row in display order.
    fn keep_selection_valid(&mut self) {
        if self
            .selected
            .is_some_and(|s| self.workers.rows.contains_key(&s))
        {
            return;
        }
        self.selected = self.sort.order(self.shown()).first().map(|r| r.info.slot);
    }

    fn on_server_event(&mut self, event: protocol::Event) {
        use protocol::Event as E;
        match event {
            E::WorkerExited {
                slot,
                pid,
                reason,
                last_request,
            } => {
                let text = format!("worker {pid} (slot {slot}) exited: {}", reason.describe());
                self.history.record_death(PostMortem {
                    slot,
                    pid,
                    reason,
                    last_request,
                    at: self.now,
                });
                self.set_status(text, false);
            }
            E::WorkerTimeout { slot, pid, request } => {
                let what = request
                    .map(|r| format!(" on {} {}", r.method, r.path))
                    .unwrap_or_default();
                self.set_status(format!("worker {pid} (slot {slot}) timed out{what}"), true);
            }
            E::DumpTaken { dump } => self.history.record_dump(*dump),
            E::Reload { generation } => {
                self.set_status(format!("reloading: generation {generation}"), false)
            }
            E::WorkerSpawned { .. }
            | E::WorkersTarget { .. }
            | E::Reopen
            | E::Shutdown { .. }
            | E::Unknown => {}
        }
    }

    fn on_reply(&mut self, command: Command, result: Result<Value, String>) {
        match (&command, result) {
            (Command::Dump(_), Ok(data)) => match serde_json::from_value::<DumpData>(data) {
                Ok(data) => data
                    .dumps
                    .into_iter()
                    .for_each(|d| self.history.record_dump(d)),
                Err(e) => self.set_status(format!("dump: unexpected reply: {e}"), true),
            },
            (Command::Dump(protocol::DumpTarget::Pid(pid)), Err(e)) => {
                self.history.dump_failed(*pid);
                self.set_status(format!("dump {pid}: {e}"), true);
            }
            // Sent in the moment the connection was lost, before its event came: again on the
            // next connection.
            (_, Err(e)) if e == NOT_CONNECTED => self.hold(command),
            (_, Err(e)) => self.set_status(format!("{}: {e}", command.to_words().0), true),
            (_, Ok(data)) => {
                // Gunicorn reports a failed `worker kill` as ok with success=false.
                if let Some(err) = data.get("error").and_then(Value::as_str) {
                    self.set_status(format!("{}: {err}", command.to_words().0), true);
                }
            }
        }
    }

    fn set_status(&mut self, text: String, is_error: bool) {
        self.status = Some(Status {
            text,
            is_error,
            until: self.now + STATUS_TTL,
        });
    }
}

#[cfg(test)]
mod tests;
