//! The connections a worker holds while nobody serves them — heads arriving, kept alive,
//! lingering in their close — each with its deadline, under one lock shared by the worker's
//! lanes and its loop.
//!
//! A connection being served is *taken* out (its entry stays, empty, so the count of open
//! connections is right). The epoll token of an entry carries a generation: an event that
//! arrives for a connection that was meanwhile closed (its deadline passed, its fd number
//! reused) finds another generation and is ignored.

use std::os::fd::RawFd;
use std::time::Instant;

use crate::worker::conn::Conn;

/// What a parked connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The (rest of the) request head; bounded by `--header-timeout` from its first byte.
    Head,
    /// The first byte of the next request; bounded by `--keep-alive`.
    KeepAlive,
    /// The client's close after ours (RFC 9112 §9.6); bounded by a short linger.
    Linger,
}

/// An entry's identity in epoll: index and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(u64);

impl Token {
    pub fn raw(self) -> u64 {
        self.0
    }

    pub fn from_raw(raw: u64) -> Token {
        Token(raw)
    }

    fn index(self) -> usize {
        (self.0 >> 32) as usize
    }

    fn generation(self) -> u32 {
        self.0 as u32
    }
}

struct Entry {
    generation: u32,
    /// `None` while a lane serves it, or when the entry is free.
    conn: Option<Conn>,
    wait: Wait,
    deadline: Instant,
    used: bool,
    /// Taken, and switched off in the epoll set because an event came for it meanwhile: the
    /// lane switches it back on when it parks it.
    disarmed: bool,
    /// The connection's socket, to switch it off while it is taken.
    fd: RawFd,
}

#[derive(Default)]
pub struct Table {
    entries: Vec<Entry>,
    free: Vec<usize>,
    /// Open connections (parked or being served).
    open: usize,
    /// Parked in `Wait::KeepAlive`.
    keepalive: usize,
}

/// A parked connection handed out of the table.
pub struct Taken {
    pub token: Token,
    pub conn: Conn,
    pub wait: Wait,
    pub deadline: Instant,
}

impl Table {
    pub fn open(&self) -> usize {
        self.open
    }

    pub fn keepalive(&self) -> usize {
        self.keepalive
    }

    /// A new connection on socket `fd`, taken (being served) until parked.
    pub fn open_taken(&mut self, fd: RawFd) -> Token {
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push(Entry {
                generation: 0,
                conn: None,
                wait: Wait::Head,
                deadline: Instant::now(),
                used: false,
                disarmed: false,
                fd: -1,
            });
            self.entries.len() - 1
        });
        let entry = &mut self.entries[index];
        entry.generation = entry.generation.wrapping_add(1);
        entry.used = true;
        entry.disarmed = false;
        entry.fd = fd;
        self.open += 1;
        Token(((index as u64) << 32) | u64::from(entry.generation))
    }

    fn entry(&mut self, token: Token) -> Option<&mut Entry> {
        self.entries
            .get_mut(token.index())
            .filter(|e| e.used && e.generation == token.generation())
    }

    /// Park a taken connection until `deadline`; it comes back if its entry is gone.
    /// `Ok(true)`: it was disarmed while taken and must be switched back on.
    pub fn park(
        &mut self,
        token: Token,
        conn: Conn,
        wait: Wait,
        deadline: Instant,
    ) -> Result<bool, Box<Conn>> {
        let Some(entry) = self.entry(token).filter(|e| e.conn.is_none()) else {
            return Err(Box::new(conn));
        };
        let disarmed = std::mem::take(&mut entry.disarmed);
        entry.conn = Some(conn);
        entry.wait = wait;
        entry.deadline = deadline;
        if wait == Wait::KeepAlive {
            self.keepalive += 1;
        }
        Ok(disarmed)
    }

    /// An event came for a connection a lane is serving: mark it to be switched off in the
    /// set (the caller does, under the same lock). `false` if it is not taken, or gone.
    pub fn disarm_taken(&mut self, token: Token) -> Option<RawFd> {
        match self.entry(token) {
            Some(entry) if entry.conn.is_none() && !entry.disarmed => {
                entry.disarmed = true;
                Some(entry.fd)
            }
            _ => None,
        }
    }

    /// Take a parked connection to serve it; `None` if it is gone or someone else has it.
    pub fn take(&mut self, token: Token) -> Option<Taken> {
        let entry = self.entry(token)?;
        let conn = entry.conn.take()?;
        let (wait, deadline) = (entry.wait, entry.deadline);
        if wait == Wait::KeepAlive {
            self.keepalive -= 1;
        }
        Some(Taken {
            token,
            conn,
            wait,
            deadline,
        })
    }

    /// A taken connection is closed: free its entry.
    pub fn close(&mut self, token: Token) {
        let index = token.index();
        let Some(entry) = self.entry(token) else {
            return;
        };
        entry.used = false;
        entry.conn = None;
        self.free.push(index);
        self.open -= 1;
    }

    /// Take every parked connection for which `pick(wait, deadline)` holds.
    pub fn take_where(&mut self, mut pick: impl FnMut(Wait, Instant) -> bool) -> Vec<Taken> {
        let tokens: Vec<Token> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.used && e.conn.is_some() && pick(e.wait, e.deadline))
            .map(|(i, e)| Token(((i as u64) << 32) | u64::from(e.generation)))
            .collect();
        tokens.into_iter().filter_map(|t| self.take(t)).collect()
    }

    /// The earliest deadline of a parked connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| e.used && e.conn.is_some())
            .map(|e| e.deadline)
            .min()
    }
}
