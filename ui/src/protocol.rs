//! The control-socket protocol of gunicorn-rs: framing, requests, replies, pushes and the data
//! they carry. Used by the master (server side), `gunicorn-rs ctl` and the dashboard; serde and
//! serde_json only, no I/O beyond `Read`/`Write`, so the master can use it inside its poll loop.
//!
//! Compatibility contract: Gunicorn 27's framing and its command words and reply fields are kept
//! exactly, so Gunicorn's own `gunicornc` works against gunicorn-rs. Everything gunicorn-rs adds is
//! extra fields (ignored by gunicornc) or extra commands.
//!
//! A session:
//! ```text
//! → {"id": 1, "command": "hello", "args": []}
//! ← {"id": 1, "status": "ok", "data": {"server": "gunicorn-rs", "protocol": 1, …}}
//! → {"id": 2, "command": "subscribe", "args": ["snapshots=250", "events", "logs"]}
//! ← {"id": 2, "status": "ok", "data": {"snapshot_ms": 250, "events": true, "logs": true}}
//! ← {"push": "snapshot", "data": {"stats": {…}, "workers": [{…}]}}
//! ← {"push": "logs", "data": [{"slot": 0, "pid": 4242, "stream": "stderr", "line": "…"}]}
//! → {"id": 3, "command": "worker kill", "args": ["4242"]}
//! ← {"push": "event", "data": {"event": "worker_exited", "slot": 0, "pid": 4242, …}}
//! ← {"id": 3, "status": "ok", "data": {"success": true, "killed": 4242}}
//! ```
//! Replies match requests by `id`; pushes may come between a request and its reply.

mod action;
mod command;
mod data;
mod event;
mod frame;
mod kind;
mod message;

pub use action::{
    Dump, DumpData, ServerAction, Subscribed, WorkerAction, WorkerAdded, WorkerRemoved,
};
pub use command::{
    Command, DumpTarget, KillSignal, ShowTarget, ShutdownMode, Subscription, DEFAULT_SNAPSHOT_MS,
    MIN_SNAPSHOT_MS,
};
pub use data::{
    signal_name, ConfigData, ExitCause, ExitReason, Hello, Listener, ListenersData, RequestInfo,
    Snapshot, Stats, StatusCounts, ThreadInfo, WorkerInfo, WorkerState, WorkersData,
    PROTOCOL_VERSION,
};
pub use event::{Event, LogLine, LogStream};
pub use frame::{decode, encode, read_frame, write_frame, FrameDecoder, FrameError, MAX_FRAME};
pub use kind::{entry_word, is_green};
pub use message::{decode_request, Push, Reply, Request, ServerMessage};

#[cfg(test)]
mod tests;
