//! The lean client engine (the default): the same load as the tokio-tungstenite engine — one
//! message in flight per connection, each echo checked — with as little of the client's own
//! CPU per message as it takes. On a 2-core machine the client and the server share the
//! cores, so every microsecond the client spends is one the server under test does not get;
//! the tungstenite engine spent about 7 µs a message (a runtime's wake-ups across tasks, a
//! copy of the payload and of the echo, a read that finds nothing after each echo).
//!
//! Here each thread (`--threads`) owns a share of the connections and one epoll (mio), and a
//! message costs one `write` of a frame built in place and one `read` of its echo: mio's
//! readiness is edge-triggered, and a read that did not fill the buffer has emptied the
//! socket, so no read is issued to find EAGAIN. Every frame gets a fresh masking key, as
//! RFC 6455 §5.3 asks of a client (from a xorshift generator: unpredictable enough for a
//! benchmark, which is not a security boundary).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::frame::{self, Frame, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT};
use crate::lean_conn::{Conn, Phase};
use crate::{Args, Stats};

// The connect and upgrade of every connection, before the load starts.
#[path = "lean_upgrade.rs"]
mod upgrade;

/// How long the connections may take to open, and the polite close to finish.
const OPEN_WITHIN: Duration = Duration::from_secs(10);
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// How often the in-flight messages are checked against `--timeout`.
const SCAN_EVERY: Duration = Duration::from_millis(50);

/// The load of one thread: what it shares with the others.
pub struct Shared {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub payload: Arc<Vec<u8>>,
    pub text: bool,
    pub duration: Duration,
    pub timeout: Duration,
    /// Every thread and the caller meet here once the connections are open (or failed).
    pub start: Arc<Barrier>,
}

pub fn resolve(args: &Args) -> io::Result<SocketAddr> {
    (args.host.as_str(), args.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))
}

/// One thread's connections, from connect to close.
pub fn run(shared: &Shared, clients: usize, seed: u64) -> Stats {
    let mut t = match Thread::open(shared, clients, seed) {
        Ok(t) => t,
        Err(e) => {
            let mut stats = Stats::default();
            stats.connect += clients as u64;
            stats.error(format!("connect: {e}"));
            shared.start.wait();
            return stats;
        }
    };
    t.upgrade_all();
    shared.start.wait();
    t.echo_until_deadline();
    t.close_all();
    t.stats
}

struct Thread<'a> {
    shared: &'a Shared,
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    stats: Stats,
    rng: u64,
}

/// A connection the thread's epoll said is ready, by its index in `Thread::conns`.
pub(crate) struct Ready {
    pub(crate) i: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

impl<'a> Thread<'a> {
    /// Wait up to `wait` for readiness: the connections that have some (none when a signal
    /// interrupted the wait). The events are copied out, as handling one needs `&mut self`.
    pub(crate) fn wait_ready(&mut self, wait: Duration) -> io::Result<Vec<Ready>> {
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        Ok(self
            .events
            .iter()
            .map(|e| Ready {
                i: e.token().0,
                readable: e.is_readable() || e.is_read_closed(),
                writable: e.is_writable(),
            })
            .collect())
    }

    fn open(shared: &'a Shared, clients: usize, seed: u64) -> io::Result<Thread<'a>> {
        let poll = Poll::new()?;
        let mut conns = Vec::with_capacity(clients);
        let mut stats = Stats::default();
        for i in 0..clients {
            match TcpStream::connect(shared.addr) {
                Ok(mut sock) => {
                    let both = Interest::READABLE | Interest::WRITABLE;
                    poll.registry().register(&mut sock, Token(i), both)?;
                    conns.push(Conn::new(sock));
                }
                Err(e) => {
                    stats.connect += 1;
                    stats.error(format!("connect: {e}"));
                }
            }
        }
        let events = Events::with_capacity(1024);
        let rng = seed | 1;
        Ok(Thread {
            shared,
            poll,
            events,
            conns,
            stats,
            rng,
        })
    }

    fn echo_until_deadline(&mut self) {
        let began = Instant::now();
        let deadline = began + self.shared.duration;
        for i in 0..self.conns.len() {
            if self.conns[i].phase == Phase::Open {
                self.send_next(i);
            }
        }
        let mut scanned = began;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = (deadline - now).min(SCAN_EVERY);
            let ready = match self.wait_ready(wait) {
                Ok(ready) => ready,
                Err(e) => {
                    self.stats.error(format!("poll: {e}"));
                    break;
                }
            };
            for Ready {
                i,
                readable,
                writable,
            } in ready
            {
                self.step_open(i, readable, writable, deadline);
            }
            let now = Instant::now();
            if now.duration_since(scanned) >= SCAN_EVERY {
                scanned = now;
                self.expire(now);
                if !self.conns.iter().any(|c| c.phase == Phase::Open) {
                    break; // every connection failed: nothing left to measure
                }
            }
        }
    }

    fn step_open(&mut self, i: usize, readable: bool, writable: bool, deadline: Instant) {
        if self.conns[i].phase != Phase::Open {
            return;
        }
        if writable {
            if let Err(e) = self.conns[i].flush(&self.poll, Token(i)) {
                return self.fail(i, format!("send: {e}"));
            }
        }
        if !readable {
            return;
        }
        loop {
            let c = &mut self.conns[i];
            let (n, full) = match c.input.fill_once(&mut c.sock) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.fail(i, format!("read: {e}")),
            };
            if n == 0 {
                return self.fail(i, "connection ended".into());
            }
            if !self.take_frames(i, deadline) {
                return;
            }
            if !full {
                return; // the read did not fill the buffer: the socket is empty
            }
        }
    }

    /// Every whole frame in the connection's input; false once the connection is done.
    fn take_frames(&mut self, i: usize, deadline: Instant) -> bool {
        loop {
            let f = match frame::parse(self.conns[i].input.unread()) {
                Ok(Some(f)) => f,
                Ok(None) => return true,
                Err(e) => {
                    self.fail(i, format!("read: {e}"));
                    return false;
                }
            };
            let done = self.on_frame(i, &f, deadline);
            self.conns[i].input.consume(f.len);
            if !done {
                return false;
            }
        }
    }

    fn on_frame(&mut self, i: usize, f: &Frame, deadline: Instant) -> bool {
        let c = &mut self.conns[i];
        let payload = &c.input.unread()[f.header..f.len];
        match f.opcode {
            OP_PING => {
                let pong = payload.to_vec();
                frame::encode(&mut c.out, OP_PONG, &pong, &mut self.rng);
                if let Err(e) = c.flush(&self.poll, Token(i)) {
                    self.fail(i, format!("send: {e}"));
                    return false;
                }
                true
            }
            OP_PONG => true,
            OP_CLOSE => {
                let what = frame::close_reason(payload);
                self.fail(i, format!("server closed: {what}"));
                false
            }
            OP_TEXT | OP_BINARY | OP_CONT => self.on_data(i, f, deadline),
            other => {
                self.fail(i, format!("read: unknown opcode {other}"));
                false
            }
        }
    }

    fn on_data(&mut self, i: usize, f: &Frame, deadline: Instant) -> bool {
        let want_op = if self.shared.text { OP_TEXT } else { OP_BINARY };
        let c = &mut self.conns[i];
        let payload = &c.input.unread()[f.header..f.len];
        let (op, same) = if f.opcode == OP_CONT || !f.fin {
            // A fragment: assembled, checked once whole.
            if f.opcode != OP_CONT {
                c.partial_op = f.opcode;
                c.partial.clear();
            }
            c.partial.extend_from_slice(payload);
            if !f.fin {
                return true;
            }
            (c.partial_op, c.partial == *self.shared.payload)
        } else {
            (f.opcode, payload == self.shared.payload.as_slice())
        };
        if op != want_op || !same {
            self.stats.mismatch += 1;
            let got = if op == OP_CONT {
                c.partial.len()
            } else {
                f.len - f.header
            };
            let sent = self.shared.payload.len();
            self.stats
                .error(format!("echo of {got} bytes differs from the {sent} sent"));
            c.close_now(&self.poll);
            return false;
        }
        let now = Instant::now();
        if let Some(sent) = c.sent_at.take() {
            if now <= deadline {
                let us = now.duration_since(sent).as_micros().min(u32::MAX as u128) as u32;
                self.stats.rtt_us.push(us);
            }
        }
        if now < deadline {
            self.send_next(i);
        }
        self.conns[i].phase != Phase::Done
    }

    fn send_next(&mut self, i: usize) {
        let op = if self.shared.text { OP_TEXT } else { OP_BINARY };
        let c = &mut self.conns[i];
        frame::encode(&mut c.out, op, &self.shared.payload, &mut self.rng);
        c.sent_at = Some(Instant::now());
        if let Err(e) = c.flush(&self.poll, Token(i)) {
            self.fail(i, format!("send: {e}"));
        }
    }

    /// An echo later than `--timeout` stops its connection, as wrk's would.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let late = self.conns[i].phase == Phase::Open
                && self.conns[i]
                    .sent_at
                    .is_some_and(|s| now.duration_since(s) > self.shared.timeout);
            if late {
                self.stats.timeout += 1;
                let secs = self.shared.timeout.as_secs_f64();
                self.stats.error(format!("no echo within {secs} s"));
                self.conns[i].close_now(&self.poll);
            }
        }
    }

    fn fail(&mut self, i: usize, what: String) {
        self.stats.closed += 1;
        self.stats.error(what);
        self.conns[i].close_now(&self.poll);
    }

    /// A close frame (1000) on every open connection, and a bounded wait for the server's
    /// answer: the numbers are in already, this only spares the servers' logs an abrupt end.
    fn close_all(&mut self) {
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            if c.phase != Phase::Open {
                continue;
            }
            frame::encode(&mut c.out, OP_CLOSE, &1000u16.to_be_bytes(), &mut self.rng);
            c.phase = Phase::Closing;
            if c.flush(&self.poll, Token(i)).is_err() {
                c.close_now(&self.poll);
            }
        }
        let until = Instant::now() + CLOSE_WITHIN;
        while self.conns.iter().any(|c| c.phase == Phase::Closing) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            let Ok(ready) = self.wait_ready(until - now) else {
                break;
            };
            for Ready { i, .. } in ready {
                self.conns[i].drain_closing(&self.poll);
            }
        }
    }
}
