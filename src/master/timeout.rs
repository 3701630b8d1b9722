//! WORKER TIMEOUT that explains itself (issue 3): before the master kills a worker for a missed
//! heartbeat it logs ONE block — the request it was serving, the Python stacks of all its
//! threads (faulthandler through the slot's memfd: works while C code holds the GIL, where
//! Gunicorn's `worker_abort` never runs) and its last output — and writes the access-log line
//! Gunicorn never writes for the killed request.

use super::Master;
use crate::log::access::{AccessFormat, PartialRequest};
use crate::scoreboard::{now_ms, CurrentRequest, SlotSnapshot};
use std::fmt::Write;
use std::time::Duration;

/// Lines of the worker's output in the block.
const LAST_LINES: usize = 20;

/// The status logged for a request whose worker was killed: the client got no answer, and a
/// gateway in front would say 504 too.
pub const KILLED_REQUEST_STATUS: u16 = 504;

impl Master<'_> {
    /// Log the WORKER TIMEOUT block for `self.workers[index]` (not yet signalled).
    pub(super) fn explain_timeout(&mut self, index: usize) {
        let (pid, slot) = (self.workers[index].pid.as_raw(), self.workers[index].slot);
        let Some(snap) = self.scoreboard.snapshot(slot) else {
            return crate::critical!("WORKER TIMEOUT (pid:{pid})");
        };
        let asked = std::time::Instant::now();
        let stacks = match snap.dump_ready {
            true => self
                .dumps
                .dump(slot, pid, self.cfg.dump_signal)
                .map_err(|e| format!("not available: {e}")),
            false => Err("not available: the worker had not installed its dump handler".into()),
        };
        let size = stacks.as_ref().map_or(0, String::len);
        crate::debug!(
            "Stack dump of pid {pid}: {size} bytes in {:?}",
            asked.elapsed()
        );
        self.logs.drain_all();
        let lines = self.logs.last_lines(pid, LAST_LINES);
        let now = now_ms();
        crate::critical!("{}", timeout_block(pid, &snap, now, &stacks, &lines));
        self.timeout_events(slot, pid, &snap, &stacks, now);
        if let (Some(req), false) = (&snap.request, snap.request_timed_out) {
            self.log_killed_request(req, now);
        }
    }

    /// Tell control-socket subscribers: the worker is being killed, and here are its stacks.
    fn timeout_events(
        &mut self,
        slot: usize,
        pid: i32,
        snap: &SlotSnapshot,
        stacks: &Result<String, String>,
        now: u64,
    ) {
        use ui::protocol::{Dump, Event};
        let request = snap
            .request
            .as_ref()
            .map(|r| super::control::request_info(r, now));
        let slot = slot as u32;
        self.book.event(Event::WorkerTimeout {
            slot,
            pid,
            request: request.clone(),
        });
        let (stack, error) = match stacks {
            Ok(text) => (text.clone(), None),
            Err(why) => (String::new(), Some(why.clone())),
        };
        let dump = Dump {
            pid,
            slot: Some(slot),
            request,
            stack,
            error,
            at: Some(super::control::unix_now()),
        };
        self.book.event(Event::DumpTaken { dump });
    }

    /// The killed request's access-log line: status 504, body bytes `-`.
    fn log_killed_request(&self, req: &CurrentRequest, now: u64) {
        if !crate::log::has_access_log() {
            return;
        }
        let format = AccessFormat::parse(&self.cfg.access_log_format);
        let partial = PartialRequest {
            method: &req.method,
            uri: &req.path,
            version: req.version,
            client: &req.client,
        };
        let elapsed = Duration::from_millis(now.saturating_sub(req.start_ms));
        crate::log::write_access(&format.render_partial(&partial, KILLED_REQUEST_STATUS, elapsed));
    }
}

/// The block's text; the first line is Gunicorn's, word for word, for existing alerts.
fn timeout_block(
    pid: i32,
    snap: &SlotSnapshot,
    now: u64,
    stacks: &Result<String, String>,
    lines: &[String],
) -> String {
    let mut out = format!("WORKER TIMEOUT (pid:{pid})\n");
    match &snap.request {
        Some(req) => {
            let elapsed = now.saturating_sub(req.start_ms) as f64 / 1000.0;
            let (major, minor) = req.version;
            let client = if req.client.is_empty() {
                "a Unix socket"
            } else {
                &req.client
            };
            let _ = write!(
                out,
                "  Request: {} {} HTTP/{major}.{minor} from {client}, running for {elapsed:.1} s",
                req.method, req.path
            );
            if snap.request_timed_out {
                out.push_str(" (already answered 504 by --request-timeout)");
            }
            out.push('\n');
        }
        None => {
            let _ = writeln!(out, "  Request: none (worker state: {:?})", snap.state);
        }
    }
    match stacks {
        Ok(text) if !text.trim().is_empty() => {
            out.push_str("  Python stacks of all threads:\n");
            indent(&mut out, text.lines());
        }
        Ok(_) => out.push_str("  Python stacks: none written within the dump wait\n"),
        Err(why) => {
            let _ = writeln!(out, "  Python stacks: {why}");
        }
    }
    if lines.is_empty() {
        out.push_str("  Last output of the worker: none");
    } else {
        out.push_str("  Last output of the worker:\n");
        indent(&mut out, lines.iter().map(String::as_str));
    }
    out.trim_end().to_owned()
}

fn indent<'a>(out: &mut String, lines: impl Iterator<Item = &'a str>) {
    for line in lines {
        let _ = writeln!(out, "    {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoreboard::{ExitReason, WorkerState};

    fn snapshot(request: Option<CurrentRequest>) -> SlotSnapshot {
        SlotSnapshot {
            pid: 42,
            state: WorkerState::App,
            boot_ms: 1,
            heartbeat_ms: 1,
            requests: 1,
            status: [0; 5],
            exceptions: 0,
            exit_reason: ExitReason::Unknown,
            request,
            request_timed_out: false,
            dump_ready: true,
            ..Default::default()
        }
    }

    #[test]
    fn block_has_request_stacks_and_last_lines() {
        let req = CurrentRequest {
            start_ms: 1_000,
            method: "GET".into(),
            path: "/stuck?n=1".into(),
            client: "127.0.0.1:5000".into(),
            version: (1, 1),
        };
        let stacks = Ok(
            "Current thread 0x1 (most recent call first):\n  File \"a.py\", line 3 in burn\n"
                .into(),
        );
        let text = timeout_block(42, &snapshot(Some(req)), 4_300, &stacks, &["hello".into()]);
        assert_eq!(
            text,
            "WORKER TIMEOUT (pid:42)\n  Request: GET /stuck?n=1 HTTP/1.1 from 127.0.0.1:5000, \
             running for 3.3 s\n  Python stacks of all threads:\n    Current thread 0x1 (most \
             recent call first):\n      File \"a.py\", line 3 in burn\n  Last output of the \
             worker:\n    hello"
        );
    }

    #[test]
    fn idle_worker_without_dump() {
        let text = timeout_block(7, &snapshot(None), 0, &Err("not available: x".into()), &[]);
        assert!(text.starts_with("WORKER TIMEOUT (pid:7)\n  Request: none (worker state: App)"));
        assert!(text.contains("Python stacks: not available: x"), "{text}");
        assert!(text.ends_with("Last output of the worker: none"), "{text}");
    }
}
