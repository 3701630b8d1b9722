//! A graceful stop (TERM, HUP, max-requests, `worker restart`): stop accepting, let the
//! requests in flight finish, close idle kept-alive connections at once — without an RST for
//! a request that crossed our close — and let a head already arriving complete.

use std::time::{Duration, Instant};

use super::{Dispatcher, Policy, LINGER};
use crate::worker::table::Wait;

/// How many queued connections a stopping worker still takes from the listen queue: the
/// kernel may have woken this worker alone (EPOLLEXCLUSIVE) for them, so leaving them would
/// strand their clients until the next connection wakes a sibling.
const LAST_ACCEPTS: usize = 64;

/// How long a stopping worker still waits for the first byte on a silent connection.
pub(crate) const SILENT_GRACE: Duration = Duration::from_secs(1);

impl Dispatcher<'_> {
    /// Begin the stop. Heads arriving and requests in flight go on; everything answered from
    /// now on says `Connection: close`.
    pub fn begin_stop(&self) {
        let mut state = self.lock();
        if state.stopping {
            return;
        }
        state.stopping = true;
        self.set_accepting(&mut state, false);
        drop(state);
        if let Policy::Threaded { .. } = self.policy {
            self.take_last_connections();
        }
        for t in self.take_where(|wait, _| wait == Wait::KeepAlive) {
            if t.conn.stream.input_waiting() {
                // A request crossed the stop: it is answered (with `Connection: close`).
                let deadline = Instant::now() + self.svc.cfg.header_timeout;
                self.park(t.token, t.conn, Wait::Head, deadline);
            } else {
                self.start_linger(t.token, t.conn);
            }
        }
        if let Policy::Sync {
            handoff: Some(handoff),
        } = &self.policy
        {
            // A retiring sync worker's unfinished heads go to a sibling, not to the floor.
            self.pass_on_heads(handoff);
        }
        self.idle_the_silent();
    }

    /// A connection that has not sent a byte holds no request (a browser's preconnect, a
    /// balancer's spare): it is closed like an idle kept-alive one, after `SILENT_GRACE` for
    /// a request just behind its connect, rather than waiting out `--header-timeout`.
    fn idle_the_silent(&self) {
        let grace = Instant::now() + SILENT_GRACE;
        for t in self.take_where(|wait, _| wait == Wait::Head) {
            match t.conn.buffered().is_empty() {
                true => self.park(t.token, t.conn, Wait::KeepAlive, t.deadline.min(grace)),
                false => self.park(t.token, t.conn, Wait::Head, t.deadline),
            }
        }
    }

    /// Park what is left in the listen queue as heads to read; a lane serves them.
    fn take_last_connections(&self) {
        for (index, listener) in self.svc.listeners.iter().enumerate() {
            for _ in 0..LAST_ACCEPTS {
                let Ok(accepted) = listener.accept() else {
                    break;
                };
                let Some(stream) = self.svc.stream(accepted.fd) else {
                    continue;
                };
                let conn = crate::worker::conn::Conn::new(stream, accepted.peer, index);
                let deadline = Instant::now() + self.svc.cfg.header_timeout;
                if let Some(t) = self.adopt(conn, deadline) {
                    self.park(t.token, t.conn, Wait::Head, deadline);
                }
            }
        }
    }

    /// Lingering closes end at `deadline` at the latest (the graceful timeout).
    pub fn cap_lingers(&self, deadline: Instant) {
        let cap = deadline.min(Instant::now() + LINGER);
        for t in self.take_where(|wait, d| wait == Wait::Linger && d > cap) {
            self.park(t.token, t.conn, Wait::Linger, cap);
        }
    }

    /// Has every connection ended?
    pub fn drained(&self) -> bool {
        self.open_connections() == 0
    }

    /// How long the owner may sleep before a parked connection's deadline, at most `max`.
    pub fn sleep_for(&self, max: Duration) -> Duration {
        self.next_deadline().map_or(max, |at| {
            at.saturating_duration_since(Instant::now()).min(max)
        })
    }
}
