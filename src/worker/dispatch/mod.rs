//! Who waits on a worker's sockets (DESIGN §10): one epoll set over the listeners and every
//! connection nobody is serving. Any lane that calls [`Dispatcher::turn`] takes the next ready
//! event, reads what arrived without blocking, and — once a head is complete — serves the
//! request itself: no hand-off between threads on the way from the socket to the app.
//!
//! One lane at a time waits on the set (gthread's leader, see `gthread/baton.rs`), so a
//! connection stays registered level-triggered from its first park on and parking it again
//! costs no system call; only a connection reported while another lane serves it is switched
//! off until that lane parks it. A head that is not complete holds nothing: its connection
//! waits in the set, not in a thread.

mod accept;
mod batch;
mod park;
mod stop;

pub(crate) use stop::SILENT_GRACE;

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::conn::{self, After, Conn, HeadProgress, Lane, Service};
use super::handoff::Handoff;
use super::table::{Table, Taken, Token, Wait};

/// How long a closing connection is drained before it is closed for good (RFC 9112 §9.6;
/// Gunicorn: 2 s, at most 64 KiB).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// Tokens of the set that are not connections (connection tokens keep bit 63 clear).
const SPECIAL: u64 = 1 << 63;
const LISTENER: u64 = SPECIAL;
const HANDOFF: u64 = SPECIAL | 1 << 40;
/// Extra descriptors the owner of the loop watches through the same set.
pub const WAKE: u64 = SPECIAL | 2 << 40;
pub const RELOAD: u64 = SPECIAL | 3 << 40;
pub const STOP: u64 = SPECIAL | 4 << 40;

/// What the kind allows a connection after a response.
pub enum Policy<'a> {
    /// `sync`: one request per connection; heads still arriving are passed to an idle sibling
    /// before the app runs (`handoff`, when there are siblings).
    Sync { handoff: Option<&'a Handoff> },
    /// `gthread`: keep-alive, while fewer than `worker_connections - threads` connections
    /// are kept alive (Gunicorn's `max_keepalived`).
    Threaded { max_keepalived: usize },
}

/// The owner's descriptors that woke a turn.
#[derive(Debug, Default, Clone, Copy)]
pub struct Woken {
    pub wake: bool,
    pub reload: bool,
    pub stop: bool,
}

struct State {
    table: Table,
    /// The listeners are in the set: below `worker_connections`, and not stopping.
    accepting: bool,
    stopping: bool,
}

pub struct Dispatcher<'a> {
    svc: &'a Service<'a>,
    epoll: Epoll,
    state: Mutex<State>,
    policy: Policy<'a>,
    /// `--keep-alive`; zero turns keep-alive off.
    keepalive: Duration,
}

impl<'a> Dispatcher<'a> {
    pub fn new(svc: &'a Service<'a>, policy: Policy<'a>) -> io::Result<Dispatcher<'a>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let dispatcher = Dispatcher {
            svc,
            epoll,
            state: Mutex::new(State {
                table: Table::default(),
                accepting: false,
                stopping: false,
            }),
            policy,
            keepalive: svc.cfg.keepalive,
        };
        if let Policy::Sync {
            handoff: Some(handoff),
        } = &dispatcher.policy
        {
            let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
            dispatcher
                .epoll
                .add(handoff.fd(), EpollEvent::new(flags, HANDOFF))?;
        }
        dispatcher.set_accepting(&mut dispatcher.lock(), true);
        Ok(dispatcher)
    }

    /// Watch one of the owner's descriptors (wake pipe, reloader, stop event) under `token`.
    pub fn watch(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .map_err(io::Error::from)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait up to `timeout` for events and handle them; serving a request happens inside.
    pub fn turn(&self, lane: &mut Lane, timeout: Option<Duration>) -> io::Result<Woken> {
        self.turn_with(lane, timeout, || {})
    }

    /// [`turn`](Self::turn), with `taken` run once events came, before they are handled.
    pub fn turn_with(
        &self,
        lane: &mut Lane,
        timeout: Option<Duration>,
        taken: impl FnOnce(),
    ) -> io::Result<Woken> {
        let mut events = [EpollEvent::empty(); 16];
        let take = self.events_per_wait(lane, events.len());
        let events = &mut events[..take];
        let timeout = match timeout {
            None => EpollTimeout::NONE,
            Some(t) => EpollTimeout::try_from(t).unwrap_or(EpollTimeout::NONE),
        };
        let n = match self.epoll.wait(events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let mut woken = Woken::default();
        if n > 0 {
            taken();
        }
        lane.batch.several_ready(n > 1);
        for event in &events[..n] {
            self.send_due(lane);
            match event.data() {
                WAKE => woken.wake = true,
                RELOAD => woken.reload = true,
                STOP => woken.stop = true,
                HANDOFF => {
                    self.on_handoff(lane);
                }
                t if t & SPECIAL != 0 => self.on_listener(lane, (t & 0xffff_ffff) as usize),
                t => self.on_conn(lane, Token::from_raw(t)),
            }
        }
        self.send_batch(lane);
        Ok(woken)
    }

    fn on_conn(&self, lane: &mut Lane, token: Token) {
        match self.take(token) {
            Some(taken) => self.drive(lane, taken),
            None => self.disarm_busy(token),
        }
    }

    /// Registrations are level-triggered: a connection another lane is serving (its client
    /// sent more, or a body is still arriving) would be reported again and again to the
    /// lane that now waits on the set. Switch it off until its lane parks it.
    fn disarm_busy(&self, token: Token) {
        let mut state = self.lock();
        if let Some(fd) = state.table.disarm_taken(token) {
            // SAFETY: the connection is open: its lane serves it and closes it only after it
            // takes this lock to park or release it.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let mut off = EpollEvent::new(EpollFlags::empty(), token.raw());
            let _ = self.epoll.modify(borrowed, &mut off);
        }
    }

    /// Take a parked connection out of the table (the scoreboard's kept-alive count follows).
    fn take(&self, token: Token) -> Option<Taken> {
        let taken = self.lock().table.take(token)?;
        self.untrack_keepalive(std::slice::from_ref(&taken));
        Some(taken)
    }

    /// Take every parked connection `pick` chooses.
    fn take_where(&self, pick: impl FnMut(Wait, Instant) -> bool) -> Vec<Taken> {
        let taken = self.lock().table.take_where(pick);
        self.untrack_keepalive(&taken);
        taken
    }

    fn untrack_keepalive(&self, taken: &[Taken]) {
        let idle = taken.iter().filter(|t| t.wait == Wait::KeepAlive).count();
        if idle > 0 {
            self.svc.slot.count_connections(0, -(idle as i32));
        }
    }

    /// Read what a connection has; serve every complete request (pipelined ones in order);
    /// park it again, or close it.
    fn drive(&self, lane: &mut Lane, mut t: Taken) {
        if t.wait == Wait::Linger {
            return self.linger(t);
        }
        let svc = self.svc;
        loop {
            let trust = t.conn.trust(svc);
            let spare = &mut lane.spare;
            let (head, consumed) = match t.conn.read_head(&svc.parser, trust, spare) {
                HeadProgress::Complete { head, consumed } => (head, consumed),
                HeadProgress::Partial => {
                    t.conn.give_back(&mut lane.spare);
                    return self.park_partial(t);
                }
                HeadProgress::Closed(None) => return self.close(t.token, t.conn),
                HeadProgress::Closed(Some(e)) => {
                    crate::debug!("Ignored premature client disconnection. {e}");
                    return self.close(t.token, t.conn);
                }
                HeadProgress::Refused(e) => {
                    let after = conn::refuse_head(svc, &t.conn, &e);
                    return self.after(t.token, t.conn, after);
                }
                HeadProgress::Failed(e) => {
                    crate::debug!("Socket error reading the request head: {e}");
                    return self.close(t.token, t.conn);
                }
            };
            let persist = self.persist_allowed();
            self.before_serving();
            match svc.serve(lane, &mut t.conn, &head, consumed, persist) {
                // Its response waits in the lane's batch; the connection parks after it.
                After::KeepAlive if lane.batch.awaits_conn() => {
                    t.conn.give_back(&mut lane.spare);
                    return lane.batch.add(t.conn, t.token.raw());
                }
                After::KeepAlive if t.conn.has_pipelined() => t.wait = Wait::Head,
                after => {
                    t.conn.give_back(&mut lane.spare);
                    return self.after(t.token, t.conn, after);
                }
            }
        }
    }

    /// A head still arriving, or an idle connection woken without data.
    fn park_partial(&self, t: Taken) {
        let (wait, deadline) = match t.wait {
            // The first byte of the next request came: now the head has its own bound.
            Wait::KeepAlive if !t.conn.buffered().is_empty() => {
                (Wait::Head, Instant::now() + self.svc.cfg.header_timeout)
            }
            wait => (wait, t.deadline),
        };
        self.park(t.token, t.conn, wait, deadline);
    }

    fn after(&self, token: Token, conn: Conn, after: After) {
        match after {
            // The stop began after the head said keep-alive: close it as an idle one.
            After::KeepAlive if self.lock().stopping => self.start_linger(token, conn),
            After::KeepAlive => {
                let deadline = Instant::now() + self.keepalive;
                self.park(token, conn, Wait::KeepAlive, deadline);
            }
            After::Close => self.close(token, conn),
            After::Linger => self.start_linger(token, conn),
        }
    }

    /// May the connection carry another request after this one?
    fn persist_allowed(&self) -> bool {
        match self.policy {
            Policy::Sync { .. } => false,
            Policy::Threaded { max_keepalived, .. } => {
                let state = self.lock();
                !self.keepalive.is_zero()
                    && !state.stopping
                    && state.table.keepalive() < max_keepalived
            }
        }
    }

    /// Add or remove the listeners from the set.
    fn set_accepting(&self, state: &mut State, on: bool) {
        if state.accepting == on {
            return;
        }
        state.accepting = on;
        for (i, listener) in self.svc.listeners.iter().enumerate() {
            // SAFETY: the listeners live as long as the worker process.
            let fd = unsafe { BorrowedFd::borrow_raw(listener.raw_fd()) };
            let result = match on {
                true => {
                    let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
                    self.epoll
                        .add(fd, EpollEvent::new(flags, LISTENER | i as u64))
                }
                false => self.epoll.delete(fd),
            };
            match result {
                // Already out of the set: shut down by the master (accept saw EINVAL).
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => crate::debug!("Listener {listener}: {e}"),
            }
        }
    }
}
