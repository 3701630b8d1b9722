//! Bytes on their way to the client. Each write goes out at once as far as the socket takes it,
//! without waiting; what the socket cannot take yet stays here until [`Outbox::drain`], which
//! the bridge calls with the GIL released.
//!
//! Why: the usual response fits the socket buffer and never waits. Releasing the GIL around
//! every write would hand it to another lane in the middle of this request, which then waits
//! to get it back (CPython's forced switching): on a busy multi-threaded worker every request
//! would pay for the others' turns.

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use super::Stream;

/// A lane's response buffer is allocated at its first response, not with the lane: a
/// greenlet worker has a lane per request in flight, most of them waiting inside the app.
const INITIAL: usize = 4096;

pub struct Outbox<'a> {
    stream: &'a Stream,
    /// The lane's buffer, reused request after request; `buf[sent..]` is still to go.
    buf: &'a mut Vec<u8>,
    sent: usize,
    /// The longest the client may go without taking a byte.
    timeout: Duration,
}

impl<'a> Outbox<'a> {
    pub fn new(stream: &'a Stream, buf: &'a mut Vec<u8>, timeout: Duration) -> Outbox<'a> {
        buf.clear();
        Outbox {
            stream,
            buf,
            sent: 0,
            timeout,
        }
    }

    /// Add bytes behind what is queued (sent by the next `push`).
    pub fn queue(&mut self) -> &mut Vec<u8> {
        if self.buf.capacity() == 0 {
            // First use of this lane's buffer: sized once for a typical head and small body.
            self.buf.reserve(INITIAL);
        }
        self.buf
    }

    /// Are bytes waiting for the client (queued here, or encrypted by TLS and not sent)?
    pub fn pending(&self) -> bool {
        self.sent < self.buf.len() || self.stream.tls_pending()
    }

    /// Nothing of what is queued went out yet.
    pub fn untouched(&self) -> bool {
        self.sent == 0
    }

    /// What is still to go.
    pub fn unsent(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// Send what the socket takes now; the rest stays queued.
    pub fn push(&mut self) -> io::Result<()> {
        while self.sent < self.buf.len() {
            match self.stream.write_now(&self.buf[self.sent..])? {
                0 => return Ok(()),
                n => self.sent += n,
            }
        }
        self.reset();
        self.stream.flush_now()?;
        Ok(())
    }

    /// Send the queue, then `body` and `suffix`, in one writev(2) — a large body goes from
    /// where the app has it. Whatever the socket does not take now is copied into the queue.
    pub fn push_with(&mut self, body: &[u8], suffix: &[u8]) -> io::Result<()> {
        let queued = self.buf.len() - self.sent;
        let parts = [
            IoSlice::new(&self.buf[self.sent..]),
            IoSlice::new(body),
            IoSlice::new(suffix),
        ];
        let n = self.stream.writev_now(&parts)?;
        if n < queued {
            self.sent += n;
            self.buf.extend_from_slice(body);
            self.buf.extend_from_slice(suffix);
            return Ok(());
        }
        let rest = n - queued;
        self.reset();
        if rest < body.len() {
            self.buf.extend_from_slice(&body[rest..]);
            self.buf.extend_from_slice(suffix);
        } else {
            self.buf.extend_from_slice(&suffix[rest - body.len()..]);
        }
        Ok(())
    }

    /// Wait until everything queued is sent (call without the GIL). Each wait for the client
    /// to take bytes is bounded by the timeout; a client that stalls longer is given up on.
    pub fn drain(&mut self) -> io::Result<()> {
        loop {
            self.push()?;
            if !self.pending() {
                return Ok(());
            }
            self.stream.wait_writable(Instant::now() + self.timeout)?;
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.sent = 0;
    }
}
