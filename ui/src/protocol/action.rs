//! Replies to the commands that act: scaling, signals, reload, dumps, subscribe, hold.
//!
//! `worker add|remove|kill`, `reload`, `reopen` and `shutdown` reply with Gunicorn 27's shapes
//! (`gunicorn/ctl/handlers.py`); the rest are gunicorn-rs's own.

use serde::{Deserialize, Serialize};

use super::data::{RequestInfo, ThreadInfo};
use super::kind::is_green;

/// `worker add N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerAdded {
    pub added: u32,
    pub previous: u32,
    pub total: u32,
}

/// `worker remove N`. Gunicorn never goes below one worker, so `removed` may be less than N.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerRemoved {
    pub removed: u32,
    pub previous: u32,
    pub total: u32,
}

/// `worker kill PID` (Gunicorn: `{success, killed}` or `{success: false, error}`), and
/// `worker restart PID`, `hold PID`, `release PID`, which set `pid` instead of `killed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerAction {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `reload` (`"reloading"`), `reopen` (`"reopening"`), `shutdown` (`"shutting_down"` + mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerAction {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The Python stacks of one worker, taken through its faulthandler file (DESIGN §6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dump {
    pub pid: i32,
    pub slot: Option<u32>,
    /// The worker's class, as [`WorkerInfo::kind`](super::WorkerInfo::kind); empty from an
    /// older server.
    pub kind: String,
    /// The request in flight when the stacks were taken, from the scoreboard (the longest
    /// running one, for a threaded worker).
    pub request: Option<RequestInfo>,
    /// Each thread of the worker and its request when the stacks were taken; a thread's
    /// `ident` names its stack in `stack`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadInfo>,
    /// Requests the worker was serving, as [`WorkerInfo::in_flight`](super::WorkerInfo): a
    /// greenlet worker's `threads` hold only the longest-running of them. 0 from an older server.
    pub in_flight: u32,
    /// faulthandler's text: every thread, newest frame first.
    pub stack: String,
    /// Why there is no stack (the worker died, the dump timed out…).
    pub error: Option<String>,
    /// Unix time the dump was taken.
    pub at: Option<f64>,
}

impl Dump {
    /// Taken of a greenlet worker (see [`is_green`]).
    pub fn is_green(&self) -> bool {
        is_green(&self.kind)
    }

    /// What serves one request, for a green worker's dump (`greenlet`, `task`); `None` for a
    /// threaded one, whose entries are threads.
    pub fn entry_word(&self) -> Option<&'static str> {
        self.is_green()
            .then(|| crate::protocol::entry_word(&self.kind))
    }

    /// Requests in flight when the stacks were taken: at least the entries with one (an older
    /// server sends no count, and the two are read at slightly different instants).
    pub fn requests_in_flight(&self) -> usize {
        let busy = self.threads.iter().filter(|t| t.request.is_some()).count();
        busy.max(self.in_flight as usize)
    }
}

/// `dump PID` (one entry) and `dump all` (one per live worker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DumpData {
    pub dumps: Vec<Dump>,
}

/// `subscribe` and `unsubscribe`: what this connection now receives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subscribed {
    pub snapshot_ms: Option<u32>,
    pub events: bool,
    pub logs: bool,
}
