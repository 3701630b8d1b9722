//! The request body, decoded as the app reads it, from the connection's buffer and then the
//! socket. Bytes read past the body's end stay in the buffer: they are the next request.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::Stream;
use crate::http::BodyDecoder;
use crate::wsgi::{BodyError, BodyRead};

/// How much room one socket read of body bytes asks for.
const BODY_CHUNK: usize = 64 * 1024;

/// How much of a body the app left unread the server reads and discards to keep the
/// connection (Gunicorn's gthread: 64 KiB within 5 s); beyond it the connection closes.
pub const DRAIN_BYTES: u64 = 64 * 1024;
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

pub struct Body<'a> {
    stream: &'a Stream,
    /// The connection's buffer; `buf[pos..]` is not decoded yet.
    buf: Vec<u8>,
    pos: usize,
    /// Decoded payload bytes inside `buf` not yet handed out.
    pending: Range<usize>,
    decoder: BodyDecoder,
    /// The longest the client may pause mid-body.
    idle: Duration,
}

impl<'a> Body<'a> {
    /// The body starts at `buf[pos..]` (`pos` = the head's length).
    pub fn new(
        stream: &'a Stream,
        buf: Vec<u8>,
        pos: usize,
        decoder: BodyDecoder,
        idle: Duration,
    ) -> Body<'a> {
        Body {
            stream,
            buf,
            pos,
            pending: 0..0,
            decoder,
            idle,
        }
    }

    /// Was all of the body read (not necessarily by the app)?
    pub fn is_complete(&self) -> bool {
        self.decoder.is_done() && self.pending.is_empty()
    }

    /// Were all of the request's bytes read and nothing after them? Then a plain close loses
    /// nothing the client still sends.
    pub fn nothing_unread(&self) -> bool {
        self.is_complete() && self.pos == self.buf.len()
    }

    /// The buffer and how much of it the request used; the rest is the next request.
    pub fn into_buffer(self) -> (Vec<u8>, usize) {
        (self.buf, self.pos)
    }

    /// Read and discard what the app left of the body, within `DRAIN_BYTES`/`DRAIN_TIME`.
    /// `true` when the body ended (the connection can carry another request).
    ///
    /// Never inlined: its 8 KiB scratch would sit in the caller's frame, under the app call,
    /// and a greenlet worker saves that stack for every request in flight.
    #[inline(never)]
    pub fn drain(&mut self) -> bool {
        // The usual case, a body read whole (or none), needs no clock.
        if self.is_complete() {
            return true;
        }
        let deadline = Instant::now() + DRAIN_TIME;
        let mut left = DRAIN_BYTES;
        let mut sink = [0u8; 8192];
        while !self.is_complete() {
            if Instant::now() >= deadline {
                return false;
            }
            match self.read_until(&mut sink, deadline) {
                Ok(0) => break,
                Ok(n) if (n as u64) <= left => left -= n as u64,
                _ => return false,
            }
        }
        self.is_complete()
    }

    fn fill(&mut self, deadline: Instant) -> Result<(), BodyError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let filled = self.buf.len();
        self.buf.resize(filled + BODY_CHUNK, 0);
        let n = self.stream.read(&mut self.buf[filled..], deadline);
        self.buf.truncate(filled + *n.as_ref().unwrap_or(&0));
        match n {
            // A short body must never look complete (reliability.md §3, "Incomplete + EOF").
            // Cut inside chunked framing, it is Gunicorn's 400 (a client that half-closed
            // still reads the answer); cut inside a length, the client is simply gone.
            Ok(0) => Err(match self.decoder.eof() {
                Err(e) if e.status().is_some() => BodyError::Parse(e),
                _ => BodyError::Disconnected,
            }),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(BodyError::Timeout),
            Err(e) => Err(BodyError::Io(e)),
        }
    }

    /// Decode payload into `out`, reading the socket until `deadline` when the buffer has
    /// no more; `Ok(0)` at the end of the body.
    fn read_until(&mut self, out: &mut [u8], deadline: Instant) -> Result<usize, BodyError> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pending.start..self.pending.start + n]);
                self.pending.start += n;
                return Ok(n);
            }
            if self.decoder.is_done() || out.is_empty() {
                return Ok(0);
            }
            let step = self.decoder.decode(&self.buf[self.pos..])?;
            self.pending = self.pos + step.data.start..self.pos + step.data.end;
            self.pos += step.consumed;
            if step.consumed == 0 && self.pending.is_empty() && !self.decoder.is_done() {
                self.fill(deadline)?;
            }
        }
    }
}

impl BodyRead for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<usize, BodyError> {
        // Each wait for the client is bounded on its own: a slow upload that keeps moving is
        // fine, a stalled one is not.
        let deadline = Instant::now() + self.idle;
        self.read_until(out, deadline)
    }
}
