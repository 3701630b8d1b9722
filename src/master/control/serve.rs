//! One pass of the control socket in the master's loop, after `poll`: accept, read and answer
//! requests, push what subscribers asked for, write what each socket takes, drop the clients
//! that are done or too slow. Every step is non-blocking; the only waits are the stack dumps,
//! bounded by `dump::DUMP_WAIT` per worker.

use super::{book::unix_now, ControlServer};
use crate::master::Master;
use std::time::{Duration, Instant};
use ui::protocol::{encode, Command, Push, Reply, Request, Subscribed, Subscription};

/// Log lines kept for subscribers between two passes; older ones are dropped first.
pub(in crate::master) const LOG_BACKLOG: usize = 10_000;
/// Log lines per push.
const LOG_BATCH: usize = 500;

impl Master<'_> {
    /// Serve the control socket once (called from `sleep` after every poll).
    pub(in crate::master) fn serve_control(&mut self) {
        let Some(mut server) = self.control.take() else {
            return;
        };
        server.accept_clients();
        for i in 0..server.clients.len() {
            for request in server.clients[i].read_requests() {
                let reply = match request {
                    Ok(request) => self.answer(&mut server, i, &request),
                    Err((id, error)) => Reply::error(id, error),
                };
                server.clients[i].send_reply(&reply);
            }
        }
        self.push_updates(&mut server);
        server.flush_all();
        self.logs.set_tap(server.wants_logs());
        crate::log::set_tap(server.wants_logs());
        self.book.want_events = server.wants_events();
        self.control = Some(server);
    }

    fn answer(&mut self, server: &mut ControlServer, client: usize, request: &Request) -> Reply {
        let command = match request.parse() {
            Ok(command) => command,
            Err(error) => return Reply::error(request.id, error),
        };
        let result = match command {
            Command::Subscribe(sub) => server.subscribe(client, Some(sub)),
            Command::Unsubscribe => server.subscribe(client, None),
            other => self.run_command(other),
        };
        Reply {
            id: request.id,
            result,
        }
    }

    /// Events and log lines to every subscriber that wants them; a snapshot to each one due.
    fn push_updates(&mut self, server: &mut ControlServer) {
        for event in std::mem::take(&mut self.book.events) {
            server.push(|s| s.events, &Push::Event(event));
        }
        // The master's own lines first (they were written before this loop pass read the
        // workers' pipes), then the workers'. In batches: one push never outgrows a client's
        // queue, however much was written.
        let mut lines = master_lines(self.pid.as_raw());
        lines.extend(self.logs.take_tapped());
        for batch in lines.chunks(LOG_BATCH) {
            server.push(|s| s.logs, &Push::Logs(batch.to_vec()));
        }
        let now = Instant::now();
        if server.next_push_in(now) == Some(Duration::ZERO) {
            let snapshot = Push::Snapshot(Box::new(self.snapshot()));
            server.push_snapshot(&snapshot, now);
        }
    }
}

impl ControlServer {
    fn subscribe(
        &mut self,
        client: usize,
        sub: Option<Subscription>,
    ) -> Result<serde_json::Value, String> {
        let c = &mut self.clients[client];
        c.sub = sub;
        c.next_snapshot = Instant::now();
        let sub = sub.unwrap_or(Subscription {
            snapshot_ms: None,
            events: false,
            logs: false,
        });
        serde_json::to_value(Subscribed {
            snapshot_ms: sub.snapshot_ms,
            events: sub.events,
            logs: sub.logs,
        })
        .map_err(|e| format!("Command failed: {e}"))
    }

    /// Encode once, queue for every client whose subscription `wants` it.
    fn push(&mut self, wants: impl Fn(&Subscription) -> bool, push: &Push) {
        let Ok(frame) = encode(push) else {
            return;
        };
        for c in &mut self.clients {
            if c.sub.as_ref().is_some_and(&wants) {
                c.send_push(&frame);
            }
        }
    }

    fn push_snapshot(&mut self, push: &Push, now: Instant) {
        let Ok(frame) = encode(push) else {
            return;
        };
        for c in &mut self.clients {
            let Some(ms) = c.sub.and_then(|s| s.snapshot_ms) else {
                continue;
            };
            if c.next_snapshot <= now {
                c.send_push(&frame);
                // From now, not from the due time: a late loop never bunches snapshots up.
                c.next_snapshot = now + Duration::from_millis(u64::from(ms));
            }
        }
    }

    /// Write to every client; forget the ones that are done, logging why a slow one went.
    fn flush_all(&mut self) {
        let now = Instant::now();
        for c in &mut self.clients {
            c.flush(now);
        }
        self.clients.retain(|c| {
            if let Some(why) = c.dropped.as_deref().filter(|_| c.is_done()) {
                crate::warning!("Control client {} dropped: {why}", c.id);
            }
            !c.is_done()
        });
    }
}

/// Timestamp for pushed log lines.
pub(in crate::master) fn line_time() -> Option<f64> {
    Some(unix_now())
}

/// The master's error-log lines since the last pass, one `LogLine` per text line (a traceback
/// is several).
fn master_lines(pid: i32) -> Vec<ui::protocol::LogLine> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .ok();
    crate::log::take_tapped()
        .iter()
        .flat_map(|record| record.lines().map(str::to_string).collect::<Vec<_>>())
        .map(|line| ui::protocol::LogLine {
            slot: None,
            pid: Some(pid),
            stream: ui::protocol::LogStream::Master,
            line,
            ts,
        })
        .collect()
}
