//! New connections: from a listener, or from a sibling (the sync workers' hand-off); and the
//! sync worker's side of the hand-off, before it runs the app.

use std::time::Instant;

use nix::sys::epoll::{EpollEvent, EpollFlags};

use super::{Dispatcher, Policy};
use crate::http::Protocol;
use crate::worker::conn::{Conn, Lane};
use crate::worker::table::{Taken, Wait};

/// How many handed-over connections one wake-up takes.
const HANDOFF_BATCH: usize = 16;

impl Dispatcher<'_> {
    /// One connection per event: the listener is level-triggered, so while more are queued
    /// epoll wakes another idle lane for the next one (and, across workers, EPOLLEXCLUSIVE
    /// wakes an idle worker).
    pub(super) fn on_listener(&self, lane: &mut Lane, index: usize) {
        let Some(listener) = self.svc.listeners.get(index) else {
            return;
        };
        match listener.accept() {
            Ok(accepted) => {
                self.rotate(index);
                let Some(stream) = self.svc.stream(accepted.fd) else {
                    return;
                };
                let conn = Conn::new(stream, accepted.peer, index);
                let deadline = Instant::now() + self.svc.cfg.header_timeout;
                if let Some(taken) = self.adopt(conn, deadline) {
                    self.drive(lane, taken);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // The master shut the listener down (graceful stop): stop watching it.
                // SAFETY: the listeners live as long as the worker process.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(listener.raw_fd()) };
                let _ = self.epoll.delete(fd);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                // Out of descriptors: the listener would stay readable and spin the loop.
                // Accepting resumes when one of this worker's connections closes.
                crate::warning!(
                    "accept failed: {e} (raise the open-file limit, or lower --worker-connections)"
                );
                let mut state = self.lock();
                self.set_accepting(&mut state, false);
            }
            Err(e) => crate::debug!("accept failed: {e}"),
        }
    }

    /// gthread with siblings: go to the back of the listener's queue of waiting workers.
    ///
    /// EPOLLEXCLUSIVE wakes the first worker in the listener's wait queue that has a thread
    /// waiting, and a gthread worker nearly always has one — so without this, the oldest worker
    /// would take every connection (all of a keep-alive client pool), however busy its lanes.
    /// Re-registering moves this worker's entry to the end (the kernel appends exclusive
    /// waiters), so new connections go round the workers. A sync worker needs none of it: busy,
    /// it is not waiting, and the kernel passes it by.
    fn rotate(&self, index: usize) {
        if !self.rotates() {
            return;
        }
        let Some(listener) = self.svc.listeners.get(index) else {
            return;
        };
        let state = self.lock();
        if !state.accepting {
            return;
        }
        // SAFETY: the listeners live as long as the worker process.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(listener.raw_fd()) };
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
        let _ = self.epoll.delete(fd);
        if let Err(e) = self
            .epoll
            .add(fd, EpollEvent::new(flags, super::LISTENER | index as u64))
        {
            crate::debug!("Listener {listener}: {e}");
        }
    }

    /// Does the place in the queue matter? A gthread worker with one lane is passed by while
    /// that lane serves, as a sync worker is; it stays in front only while idle, which is
    /// harmless when every connection carries one request (uwsgi, `--keep-alive 0`): the next
    /// connection finds the queue afresh. Then the two epoll_ctl(2) calls per connection buy
    /// nothing. Kept with several lanes (an idle one keeps the worker in front while the
    /// others serve) and with keep-alive (a client pool would stay with whoever took it).
    fn rotates(&self) -> bool {
        let cfg = self.svc.cfg;
        let one_request = self.svc.parser.protocol == Protocol::Uwsgi || self.keepalive.is_zero();
        let threaded = matches!(self.policy, Policy::Threaded { .. });
        threaded && cfg.workers > 1 && (cfg.threads > 1 || !one_request)
    }

    /// Track a new connection; stop accepting at `worker_connections` (past it, clients wait
    /// in the backlog — or go to another worker — and are never reset).
    pub(super) fn adopt(&self, conn: Conn, deadline: Instant) -> Option<Taken> {
        let mut state = self.lock();
        let token = state.table.open_taken(conn.stream.raw());
        if state.table.open() >= self.svc.cfg.worker_connections {
            self.set_accepting(&mut state, false);
        }
        drop(state);
        self.svc.slot.count_connections(1, 0);
        Some(Taken {
            token,
            conn,
            wait: Wait::Head,
            deadline,
        })
    }

    /// Connections a sibling passed on: their heads continue here. Returns how many it took.
    pub(super) fn on_handoff(&self, lane: &mut Lane) -> usize {
        let Policy::Sync {
            handoff: Some(handoff),
        } = &self.policy
        else {
            return 0;
        };
        let mut took = 0;
        let mut buf = Vec::new();
        let listeners = self.svc.listeners;
        let peer_of = |fd, listener: usize| match listeners.get(listener).map(|l| &l.bound) {
            Some(crate::sock::Bound::Tcp(_)) => crate::sock::peer_address(fd),
            _ => None,
        };
        for _ in 0..HANDOFF_BATCH {
            match handoff.take(&mut buf, peer_of) {
                Ok(Some(received)) => {
                    took += 1;
                    if let Some(taken) = self.adopt(received.conn, received.deadline) {
                        self.drive(lane, taken);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    crate::debug!("Hand-off receive failed: {e}");
                    break;
                }
            }
        }
        took
    }

    /// A stopping sync worker's look at the hand-off queue before it exits: connections passed
    /// on (by a sibling, or by itself when its stop began) that no worker took. When every
    /// worker stops at once (TERM, the old master after USR2) the last one out would otherwise
    /// leave them queued, to be closed with the master: a client that sent its request would
    /// get no answer. Each worker looks after its own last pass, so none is left behind.
    pub fn take_stranded(&self, lane: &mut Lane) -> bool {
        self.on_handoff(lane) > 0
    }

    /// sync, before the app runs: heads still arriving go to an idle sibling rather than
    /// wait behind this request.
    pub(super) fn before_serving(&self) {
        let Policy::Sync {
            handoff: Some(handoff),
        } = &self.policy
        else {
            return;
        };
        // A stopping worker keeps its heads: its siblings may be stopping too (TERM), and it
        // would only take them back from the queue before it exits.
        if self.lock().stopping {
            return;
        }
        self.pass_on_heads(handoff);
    }

    pub(super) fn pass_on_heads(&self, handoff: &crate::worker::handoff::Handoff) {
        for t in self.take_where(|wait, _| wait == Wait::Head) {
            let fd = t.conn.stream.raw();
            // SAFETY: `t.conn` owns `fd` for the duration of this call.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            // Out of our set before the descriptor leaves: the set would otherwise keep
            // watching the connection the sibling now owns.
            let _ = self.epoll.delete(borrowed);
            let (token, deadline) = (t.token, t.deadline);
            let mut conn = t.conn;
            conn.polled = false;
            match handoff.give(conn, deadline) {
                Ok(()) => {
                    self.release(token);
                    self.svc.slot.count_connections(-1, 0);
                }
                Err(conn) => self.park(token, *conn, Wait::Head, deadline),
            }
        }
    }
}
