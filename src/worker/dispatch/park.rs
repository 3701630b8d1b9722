//! Connections nobody is serving, parked in the set until their deadline — a head still
//! arriving, an idle keep-alive, a lingering close (RFC 9112 §9.6: our FIN, then what the
//! client still sends read and dropped, so a request crossing our close meets no RST) — and
//! closed or expired from there.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::sys::epoll::{EpollEvent, EpollFlags};

use super::{Dispatcher, LINGER, LINGER_BYTES};
use crate::worker::conn::Conn;
use crate::worker::table::{Taken, Token, Wait};

impl Dispatcher<'_> {
    /// Put a connection back in the set until `deadline`. The table has it before epoll can
    /// report it, so the lane that gets the event always finds it.
    pub(super) fn park(&self, token: Token, mut conn: Conn, wait: Wait, deadline: Instant) {
        let event = EpollEvent::new(EpollFlags::EPOLLIN, token.raw());
        let was_polled = std::mem::replace(&mut conn.polled, true);
        let fd = conn.stream.raw();
        let mut state = self.lock();
        let disarmed = match state.table.park(token, conn, wait, deadline) {
            Ok(disarmed) => disarmed,
            Err(conn) => {
                drop(state);
                return self.close_untracked(*conn);
            }
        };
        if wait == Wait::KeepAlive {
            self.svc.slot.count_connections(0, 1);
        }
        // SAFETY: the table now owns the connection, and so `fd`, while this lock is held.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let armed = match (was_polled, disarmed) {
            (true, false) => Ok(()),
            (true, true) => self.epoll.modify(borrowed, &mut event.clone()),
            (false, _) => self.epoll.add(borrowed, event),
        };
        drop(state);
        if let Err(e) = armed {
            crate::debug!("Cannot wait on a connection: {e}");
            if let Some(t) = self.take(token) {
                self.close(t.token, t.conn);
            }
        }
    }

    /// Close a connection the table holds as taken.
    pub(super) fn close(&self, token: Token, conn: Conn) {
        self.release(token);
        self.close_untracked(conn);
    }

    /// Free a taken connection's entry; below `worker_connections` again, accept again.
    pub(super) fn release(&self, token: Token) {
        let mut state = self.lock();
        state.table.close(token);
        let below = state.table.open() < self.svc.cfg.worker_connections;
        if below && !state.accepting && !state.stopping {
            self.set_accepting(&mut state, true);
        }
    }

    pub(super) fn close_untracked(&self, conn: Conn) {
        self.svc.slot.count_connections(-1, 0);
        drop(conn);
    }

    /// Our FIN now; whatever the client still sends is read and dropped for a short while.
    pub(super) fn start_linger(&self, token: Token, conn: Conn) {
        conn.stream.shutdown_write();
        let deadline = Instant::now() + LINGER;
        self.park(token, conn, Wait::Linger, deadline);
    }

    pub(super) fn linger(&self, mut t: Taken) {
        let mut drained = 0;
        loop {
            match t.conn.discard_now() {
                Ok(None) if drained < LINGER_BYTES => {
                    return self.park(t.token, t.conn, Wait::Linger, t.deadline);
                }
                Ok(Some(n)) if n > 0 && drained < LINGER_BYTES => drained += n,
                _ => return self.close(t.token, t.conn),
            }
        }
    }

    /// Close the parked connections whose deadline passed: a head that took too long, an
    /// idle keep-alive (with a lingering close: a request crossing our FIN meets no RST), a
    /// linger that is over. Called by the loop's owner, at least once a second.
    pub fn expire(&self, now: Instant) {
        let expired = self.take_where(|_, deadline| deadline <= now);
        for t in expired {
            match t.wait {
                Wait::Head => {
                    crate::debug!(
                        "Closing connection: no complete request head within {:?}",
                        self.svc.cfg.header_timeout
                    );
                    self.close(t.token, t.conn);
                }
                Wait::KeepAlive => self.start_linger(t.token, t.conn),
                Wait::Linger => self.close(t.token, t.conn),
            }
        }
    }

    /// The earliest deadline of a parked connection (for the owner's wait).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lock().table.next_deadline()
    }

    /// Open connections (served, parked or lingering).
    pub fn open_connections(&self) -> usize {
        self.lock().table.open()
    }
}
