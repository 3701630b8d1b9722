//! One connection to the metrics listener, non-blocking, driven by the master's loop: read a
//! head (at most `MAX_HEAD` bytes), then write one whole response, then close. Everything must
//! happen before the connection's deadline, so a client that trickles its head or never reads
//! its response holds a slot for seconds, not for ever (a slowloris cannot stall the master:
//! nothing here waits).

use super::wire::{self, Asked, Response, MAX_HEAD};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// From accept to the last byte written.
pub(super) const DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum State {
    Reading(Vec<u8>),
    Writing { out: Vec<u8>, sent: usize },
    Done,
}

#[derive(Debug)]
pub(super) struct Client {
    stream: TcpStream,
    state: State,
    deadline: Instant,
}

impl Client {
    pub fn new(fd: OwnedFd, now: Instant) -> Client {
        Client {
            stream: TcpStream::from(fd),
            state: State::Reading(Vec::new()),
            deadline: now + DEADLINE,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    pub fn wants_write(&self) -> bool {
        matches!(self.state, State::Writing { .. })
    }

    /// Take what arrived. Once the head is complete: what it asks for, or the error response
    /// to send instead. A client that left before finishing its head is done.
    pub fn read(&mut self) -> Option<Result<Asked, Response>> {
        let State::Reading(buf) = &mut self.state else {
            return None;
        };
        let mut chunk = [0u8; 2048];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.state = State::Done;
                    return None;
                }
            }
            match wire::head_end(buf) {
                Some(end) if end <= MAX_HEAD => return Some(wire::parse_head(&buf[..end])),
                Some(_) => return Some(Err(Response::head_too_large())),
                None if buf.len() > MAX_HEAD => return Some(Err(Response::head_too_large())),
                None => {}
            }
        }
        None
    }

    /// Queue the response and start writing it.
    pub fn respond(&mut self, out: Vec<u8>) {
        self.state = State::Writing { out, sent: 0 };
        self.flush();
    }

    /// Write what the socket takes; once all is written, close our side (FIN after the
    /// response: `Connection: close` means the client reads to the end).
    pub fn flush(&mut self) {
        let State::Writing { out, sent } = &mut self.state else {
            return;
        };
        while *sent < out.len() {
            match self.stream.write(&out[*sent..]) {
                Ok(0) => break,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        self.state = State::Done;
    }

    /// Finished, failed, or out of time: drop it (closing the socket).
    pub fn is_done(&self, now: Instant) -> bool {
        matches!(self.state, State::Done) || now >= self.deadline
    }
}
