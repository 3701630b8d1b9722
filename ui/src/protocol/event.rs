//! What a subscribed client is told without asking: events and output lines.

use serde::{Deserialize, Serialize};

use super::action::Dump;
use super::data::{ExitReason, RequestInfo};

/// Something that happened to the server or a worker. Tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    WorkerSpawned {
        slot: u32,
        pid: i32,
        #[serde(default)]
        generation: u64,
    },
    /// A worker was reaped. `last_request` is what it was serving, if anything: the start of
    /// the post-mortem card.
    WorkerExited {
        slot: u32,
        pid: i32,
        reason: ExitReason,
        #[serde(default)]
        last_request: Option<RequestInfo>,
    },
    /// The master is about to kill a worker for a timeout; a `DumpTaken` usually follows.
    WorkerTimeout {
        slot: u32,
        pid: i32,
        #[serde(default)]
        request: Option<RequestInfo>,
    },
    /// Stacks the master took on its own (before a timeout kill) or for another client. Boxed:
    /// a dump is far larger than any other event (the same JSON either way).
    DumpTaken {
        dump: Box<Dump>,
    },
    /// A reload started; workers of older generations are being replaced.
    Reload {
        generation: u64,
    },
    /// The target number of workers changed (`worker add/remove`, TTIN/TTOU).
    WorkersTarget {
        previous: u32,
        total: u32,
    },
    Reopen,
    Shutdown {
        mode: String,
    },
    /// An event this build does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// Where an output line came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    #[default]
    Stderr,
    /// The master's own error log.
    Master,
}

/// One line of output, tagged with its worker (no slot/pid: the master's own line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLine {
    pub slot: Option<u32>,
    pub pid: Option<i32>,
    pub stream: LogStream,
    pub line: String,
    /// Unix time the master read the line.
    pub ts: Option<f64>,
}
