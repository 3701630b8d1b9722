//! WORKER TIMEOUT that explains itself (issue 3): before the master kills a worker for a missed
//! heartbeat it logs ONE block — the request it was serving (every thread's, for a threaded
//! worker), the Python stacks of all its threads (faulthandler through the slot's memfd: works
//! while C code holds the GIL, where Gunicorn's `worker_abort` never runs) and its last output
//! — and writes the access-log line Gunicorn never writes for each killed request.

use super::control::{dump_lanes, thread_rows};
use super::dump::Answer;
use super::Master;
use crate::log::access::{AccessFormat, PartialRequest};
use crate::scoreboard::{now_ms, CurrentRequest, SlotSnapshot};
use std::fmt::Write;
use std::time::Duration;
use ui::stacks::StackLine;

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
                // The heartbeat stopped: a greenlet worker's hub is stuck and would not
                // answer, so faulthandler's stack (whoever holds it) is the whole answer.
                .dump(slot, pid, self.cfg.dump_signal, Answer::Faulthandler)
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
        let green = self.workers[index].class.is_green();
        let block = timeout_block(pid, &snap, now, &stacks, &lines, green);
        crate::critical!("{block}");
        self.timeout_events(index, &snap, &stacks, now);
        // Every request in flight dies with the worker, but not one already answered 504.
        let killed = snap.lanes.iter().filter(|l| !l.timed_out);
        for req in killed.filter_map(|l| l.request.as_ref()) {
            self.log_killed_request(req, now);
        }
    }

    /// Tell control-socket subscribers: the worker is being killed, and here are its stacks.
    fn timeout_events(
        &mut self,
        index: usize,
        snap: &SlotSnapshot,
        stacks: &Result<String, String>,
        now: u64,
    ) {
        use ui::protocol::{Dump, Event};
        let worker = &self.workers[index];
        let (pid, slot) = (worker.pid.as_raw(), worker.slot as u32);
        let mut dump = Dump {
            pid,
            slot: Some(slot),
            kind: worker.class.name().to_owned(),
            at: Some(super::control::unix_now()),
            ..Dump::default()
        };
        dump_lanes(&mut dump, snap, now, self.request_limit(worker));
        self.book.event(Event::WorkerTimeout {
            slot,
            pid,
            request: dump.request.clone(),
        });
        match stacks {
            Ok(text) => dump.stack = text.clone(),
            Err(why) => dump.error = Some(why.clone()),
        }
        self.book.event(Event::DumpTaken {
            dump: Box::new(dump),
        });
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
        crate::log::access_partial(&format, &partial, KILLED_REQUEST_STATUS, elapsed);
    }
}

/// The block's text; the first line is Gunicorn's, word for word, for existing alerts. A `green`
/// worker's scoreboard entries are its longest-running requests, not threads, and are named so.
fn timeout_block(
    pid: i32,
    snap: &SlotSnapshot,
    now: u64,
    stacks: &Result<String, String>,
    lines: &[String],
    green: bool,
) -> String {
    let mut out = format!("WORKER TIMEOUT (pid:{pid})\n");
    requests(&mut out, snap, now, green);
    match stacks {
        Ok(text) if !text.trim().is_empty() => {
            out.push_str("  Python stacks of all threads:\n");
            // Each stack of a threaded worker names its thread's request under its header.
            let threads = thread_rows(snap, now, None);
            let annotated = ui::stacks::annotate(text, &threads);
            indent(
                &mut out,
                annotated.iter().map(|line| match line {
                    StackLine::Text(text) => text.to_string(),
                    StackLine::Owner(t) => {
                        format!(
                            "  » {}",
                            ui::stacks::owner_text(t, green.then_some("greenlet"))
                        )
                    }
                }),
            );
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
        indent(&mut out, lines.iter());
    }
    out.trim_end().to_owned()
}

/// `Request: …` — one line for a worker of one thread; for a threaded one, a line per busy
/// thread, longest-running first (the stuck one is rarely alone in flight); a line per greenlet
/// with an entry for a `green` one.
fn requests(out: &mut String, snap: &SlotSnapshot, now: u64, green: bool) {
    if snap.lanes.len() < 2 {
        match &snap.request {
            Some(req) => {
                let line = request_line(req, now, snap.request_timed_out);
                let _ = writeln!(out, "  Request: {line}");
            }
            None => {
                let _ = writeln!(out, "  Request: none (worker state: {:?})", snap.state);
            }
        }
        return;
    }
    let mut busy: Vec<_> = snap.lanes.iter().filter(|l| l.request.is_some()).collect();
    busy.sort_by_key(|l| l.request.as_ref().map(|r| r.start_ms));
    if busy.is_empty() {
        let within = match green {
            true => "in flight".to_string(),
            false => format!("in {} threads", snap.lanes.len()),
        };
        let _ = writeln!(
            out,
            "  Request: none {within} (worker state: {:?})",
            snap.state
        );
    }
    for lane in busy {
        if let Some(req) = &lane.request {
            let line = request_line(req, now, lane.timed_out);
            let who = match green {
                true => "greenlet".to_string(),
                false => format!("thread {}", lane.index),
            };
            let _ = writeln!(out, "  Request ({who}): {line}");
        }
    }
}

/// `GET /x HTTP/1.1 from 10.0.0.1:4242, running for 3.3 s`.
fn request_line(req: &CurrentRequest, now: u64, answered: bool) -> String {
    let elapsed = now.saturating_sub(req.start_ms) as f64 / 1000.0;
    let (major, minor) = req.version;
    let client = if req.client.is_empty() {
        "a Unix socket"
    } else {
        &req.client
    };
    let mut line = format!(
        "{} {} HTTP/{major}.{minor} from {client}, running for {elapsed:.1} s",
        req.method, req.path
    );
    if answered {
        line.push_str(" (already answered 504 by --request-timeout)");
    }
    line
}

fn indent(out: &mut String, lines: impl Iterator<Item = impl std::fmt::Display>) {
    for line in lines {
        let _ = writeln!(out, "    {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoreboard::{ExitReason, LaneSnapshot, WorkerState};

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
        let text = timeout_block(
            42,
            &snapshot(Some(req)),
            4_300,
            &stacks,
            &["hello".into()],
            false,
        );
        assert_eq!(
            text,
            "WORKER TIMEOUT (pid:42)\n  Request: GET /stuck?n=1 HTTP/1.1 from 127.0.0.1:5000, \
             running for 3.3 s\n  Python stacks of all threads:\n    Current thread 0x1 (most \
             recent call first):\n      File \"a.py\", line 3 in burn\n  Last output of the \
             worker:\n    hello"
        );
    }

    fn lane(index: usize, request: Option<(&str, u64)>, timed_out: bool) -> LaneSnapshot {
        LaneSnapshot {
            index,
            state: match request {
                Some(_) => WorkerState::App,
                None => WorkerState::Idle,
            },
            request: request.map(|(path, start_ms)| CurrentRequest {
                start_ms,
                method: "GET".into(),
                path: path.into(),
                client: format!("10.0.0.{index}:5000"),
                version: (1, 1),
            }),
            timed_out,
            thread_id: Some(0x7f00 + index as u64),
        }
    }

    #[test]
    fn threaded_block_has_every_request_in_flight_and_names_each_stack() {
        let lanes = vec![
            lane(0, None, false),
            lane(1, Some(("/new", 3_000)), true),
            lane(2, None, false),
            lane(3, Some(("/old", 1_000)), false),
        ];
        let snap = SlotSnapshot {
            lanes,
            ..snapshot(None)
        };
        let stacks = Ok(
            "Thread 0x0000000000007f03 (most recent call first):\n  File \"a.py\", \
                         line 3 in burn\n\nCurrent thread 0x0000000000007fff (most recent call \
                         first):\n  <no Python frame>\n"
                .into(),
        );
        let text = timeout_block(42, &snap, 4_300, &stacks, &[], false);
        assert_eq!(
            text,
            "WORKER TIMEOUT (pid:42)\n  Request (thread 3): GET /old HTTP/1.1 from \
             10.0.0.3:5000, running for 3.3 s\n  Request (thread 1): GET /new HTTP/1.1 from \
             10.0.0.1:5000, running for 1.3 s (already answered 504 by --request-timeout)\n  \
             Python stacks of all threads:\n    Thread 0x0000000000007f03 (most recent call \
             first):\n      » thread 3 · app · GET /old from 10.0.0.3:5000 · 3.3s\n      File \
             \"a.py\", line 3 in burn\n    \n    Current thread 0x0000000000007fff (most recent \
             call first):\n      <no Python frame>\n  Last output of the worker: none"
        );
        let idle = SlotSnapshot {
            lanes: vec![lane(0, None, false), lane(1, None, false)],
            state: WorkerState::Idle,
            ..snapshot(None)
        };
        let text = timeout_block(7, &idle, 0, &Ok(String::new()), &[], false);
        assert!(
            text.contains("  Request: none in 2 threads (worker state: Idle)"),
            "{text}"
        );
    }

    #[test]
    fn greenlet_block_names_greenlets_not_threads() {
        let snap = SlotSnapshot {
            lanes: vec![lane(0, None, false), lane(1, Some(("/slow", 1_000)), false)],
            in_flight: 1,
            ..snapshot(None)
        };
        let stacks = Ok(
            "Greenlet 0x0000000000007f01 (most recent call first):\n  File \"a.py\", \
                         line 3 in slow\n"
                .into(),
        );
        let text = timeout_block(42, &snap, 4_300, &stacks, &[], true);
        assert!(
            text.contains("  Request (greenlet): GET /slow HTTP/1.1 from 10.0.0.1:5000"),
            "{text}"
        );
        assert!(
            text.contains("      » greenlet · app · GET /slow from 10.0.0.1:5000 · 3.3s\n"),
            "{text}"
        );
        let idle = SlotSnapshot {
            lanes: vec![lane(0, None, false), lane(1, None, false)],
            state: WorkerState::Idle,
            ..snapshot(None)
        };
        let text = timeout_block(7, &idle, 0, &Ok(String::new()), &[], true);
        assert!(
            text.contains("  Request: none in flight (worker state: Idle)"),
            "{text}"
        );
    }

    #[test]
    fn idle_worker_without_dump() {
        let text = timeout_block(
            7,
            &snapshot(None),
            0,
            &Err("not available: x".into()),
            &[],
            false,
        );
        assert!(text.starts_with("WORKER TIMEOUT (pid:7)\n  Request: none (worker state: App)"));
        assert!(text.contains("Python stacks: not available: x"), "{text}");
        assert!(text.ends_with("Last output of the worker: none"), "{text}");
    }
}
