//! The response side of a connection: a [`ResponseSink`] that frames what the app produces.
//!
//! The head is held back and leaves in the same `write(2)` as the first body bytes (PEP 3333:
//! headers go out with the first non-empty body chunk), so a small response is one syscall.
//! Writes never wait for the client: what it does not take at once waits in the [`Outbox`]
//! until the bridge drains it without the GIL. Every write first asks the request's
//! [`Claim`]: once `--request-timeout` has answered or cut the request, nothing more of it
//! reaches the client.
//!
//! A lane that sends its responses in batches (`super::batch`) has the sink *hold* a response
//! that is complete: its bytes stay queued, untouched, for the lane to send or to
//! [`Sink::release`].

use super::batch::HOLD_MIN;
use super::outbox::Outbox;
use super::Stream;
use crate::http::response::{self, Framing};
use crate::http::RequestHead;
use crate::worker::watchdog::Claim;
use crate::wsgi::{HeaderPair, ResponseSink};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// Where the response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    /// Nothing sent; `start` not called yet.
    Init,
    /// Head queued or sent; body bytes go out with `framing`.
    Body(Framing),
    /// Complete.
    Done,
}

/// Body bytes up to this size are copied behind the head and sent in one write(2); larger
/// ones go by writev(2) from where the app has them.
const COPY_LIMIT: usize = 16 * 1024;

pub struct Sink<'a> {
    stream: &'a Stream,
    claim: Claim<'a>,
    /// The longest a write may wait for the client to take bytes.
    send_timeout: Duration,
    version: (u8, u8),
    /// The request's method, for the warning about a body dropped from a no-body response.
    method: &'a str,
    is_head: bool,
    /// Chunked bodies and interim responses are allowed ([`RequestHead::may_chunk`]).
    may_chunk: bool,
    /// The connection may carry another request after this response.
    persist: bool,
    date: &'a str,
    state: Writing,
    out: Outbox<'a>,
    /// When the request began, if its complete response may stay queued for the lane's batch.
    may_hold: Option<Instant>,
    /// The response is complete and stays queued (nothing more of it is sent here).
    held: bool,
    /// Bytes of body the client was sent (for the access log's `b`).
    pub body_bytes: u64,
    /// Left of a Content-Length body.
    remaining: u64,
    pub status: u16,
    warned_no_body: bool,
    /// `--no-sendfile` / `SENDFILE=0` turn this off: a `wsgi.file_wrapper` is then iterated.
    sendfile: bool,
}

impl<'a> Sink<'a> {
    pub fn new(
        stream: &'a Stream,
        claim: Claim<'a>,
        send_timeout: Duration,
        out: &'a mut Vec<u8>,
    ) -> Sink<'a> {
        Sink {
            stream,
            claim,
            send_timeout,
            version: (1, 1),
            method: "",
            is_head: false,
            may_chunk: true,
            persist: false,
            date: "",
            state: Writing::Init,
            out: Outbox::new(stream, out, send_timeout),
            may_hold: None,
            held: false,
            body_bytes: 0,
            remaining: 0,
            status: 0,
            warned_no_body: false,
            sendfile: true,
        }
    }

    /// Whether a file may go out by sendfile(2) (the `sendfile` setting).
    pub fn with_sendfile(mut self, allowed: bool) -> Self {
        self.sendfile = allowed;
        self
    }

    /// The request this response answers (its version, method, protocol), whether the
    /// connection may persist after it (RFC 9112 §9.3), and the `Date` value.
    pub fn for_request(mut self, head: &'a RequestHead, persist: bool, date: &'a str) -> Self {
        self.version = head.version;
        self.method = &head.method;
        self.is_head = head.method == "HEAD";
        self.may_chunk = head.may_chunk();
        self.persist = persist;
        self.date = date;
        self
    }

    /// Let the complete response of a request that began at `started` stay queued for the
    /// lane's batch (see the module's note), if the request took [`HOLD_MIN`] by then. Never
    /// under `--request-timeout`: a response must be on the wire before the watchdog may cut
    /// the connection, as it is when sent at once.
    pub fn holding(mut self, started: Option<Instant>) -> Self {
        self.may_hold = started.filter(|_| self.claim.is_free());
        self
    }

    /// Is a complete response queued, none of it sent? Its bytes are [`Sink::unsent`].
    pub fn holds(&self) -> bool {
        self.held && self.out.pending() && self.out.untouched()
    }

    /// The bytes still queued.
    pub fn unsent(&self) -> &[u8] {
        self.out.unsent()
    }

    /// Send a held response now, waiting for the client if need be (call without the GIL).
    pub fn release(&mut self) -> io::Result<()> {
        self.held = false;
        if !self.out.pending() {
            return Ok(());
        }
        self.check_claim()?;
        self.out.drain()
    }

    /// Write `data` whole, waiting for the client if need be (the server's own answers:
    /// `100 Continue`, error pages), if the request still owns its response.
    pub fn send(&self, data: &[u8]) -> io::Result<()> {
        self.check_claim()?;
        self.stream
            .write_all(data, Instant::now() + self.send_timeout)
    }

    fn check_claim(&self) -> io::Result<()> {
        match self.claim.may_write() {
            true => Ok(()),
            false => Err(crate::worker::watchdog::timed_out()),
        }
    }

    /// Send what is queued as far as the socket takes it now (not a held response).
    fn flush(&mut self) -> io::Result<()> {
        if !self.out.pending() || self.held {
            return Ok(());
        }
        self.check_claim()?;
        self.out.push()
    }

    /// The response is whole: hold it for the lane's batch if the lane wants so, or send it.
    fn complete(&mut self) -> io::Result<()> {
        let long_enough = self.may_hold.is_some_and(|t| t.elapsed() >= HOLD_MIN);
        if long_enough && self.out.untouched() {
            self.held = true;
            return Ok(());
        }
        self.flush()
    }

    /// Did the response go out whole and framed (or is it held whole), so that the connection
    /// may carry another? (An app error after the head, a short body or a close-delimited body
    /// all say no.)
    pub fn completed(&self) -> bool {
        self.state == Writing::Done && self.remaining == 0 && (self.held || !self.out.pending())
    }

    /// Will the connection carry another request (as the head said)?
    pub fn persists(&self) -> bool {
        self.persist
    }

    /// Does the head say `Connection: keep-alive`? Not for a body delimited by the close.
    fn keeps_alive(&self, framing: Framing) -> bool {
        self.persist && framing != Framing::Close
    }

    fn framing(&self) -> io::Result<Framing> {
        match self.state {
            Writing::Body(f) => Ok(f),
            Writing::Init => Err(io::Error::other("body before start_response")),
            Writing::Done => Err(io::Error::other("response already complete")),
        }
    }

    /// A body on a response that cannot have one: dropped, with one warning (Gunicorn 27).
    fn drop_body(&mut self, len: usize) {
        if len > 0 && !self.warned_no_body {
            self.warned_no_body = true;
            crate::warning!(
                "WSGI app sent body bytes on a no-body response (method={} status={}); dropping per RFC 9110.",
                self.method,
                self.status
            );
        }
    }
}

impl ResponseSink for Sink<'_> {
    fn start(
        &mut self,
        status: &str,
        headers: &[HeaderPair],
        content_length: Option<u64>,
    ) -> io::Result<()> {
        self.status = response::status_code(status);
        let framing = Framing::decide(self.is_head, self.may_chunk, self.status, content_length);
        self.remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        // A stop that began while the app ran: this response is the connection's last.
        self.persist = self.keeps_alive(framing) && crate::worker::signals::is_alive();
        let connection = if self.persist { "keep-alive" } else { "close" };
        response::write_head(
            self.out.queue(),
            self.version,
            status,
            self.date,
            connection,
            framing,
            headers,
        );
        self.state = Writing::Body(framing);
        Ok(())
    }

    fn interim(&mut self, status: u16, headers: &[HeaderPair]) -> io::Result<()> {
        // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client (nor behind uwsgi: `may_chunk`); none
        // after the final response began.
        if !self.may_chunk || self.state != Writing::Init {
            return Ok(());
        }
        let mut out = Vec::with_capacity(128);
        response::write_interim(&mut out, status, headers);
        self.send(&out)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let framing = self.framing()?;
        let (body, suffix): (&[u8], &[u8]) = match framing {
            Framing::NoBody => {
                self.drop_body(data.len());
                return self.complete();
            }
            Framing::Length(_) => {
                // Never more than the app's Content-Length: the excess would be a second,
                // smuggled message on a kept-alive connection.
                let n = (data.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                (&data[..n], b"")
            }
            Framing::Chunked if data.is_empty() => (b"", b""),
            Framing::Chunked => {
                response::write_chunk_size(self.out.queue(), data.len());
                (data, b"\r\n")
            }
            Framing::Close => (data, b""),
        };
        self.body_bytes += body.len() as u64;
        if body.len() < COPY_LIMIT {
            self.out.queue().extend_from_slice(body);
            self.out.queue().extend_from_slice(suffix);
            return match framing {
                // The last byte of the Content-Length: the response is whole.
                Framing::Length(_) if self.remaining == 0 => self.complete(),
                _ => self.flush(),
            };
        }
        self.check_claim()?;
        self.out.push_with(body, suffix)
    }

    fn sendfile(&mut self, fd: RawFd, offset: u64, count: Option<u64>) -> io::Result<u64> {
        // Before anything is written: the bridge then iterates the file wrapper instead.
        if !self.sendfile {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let framing = self.framing()?;
        let count = match (framing, count) {
            (Framing::NoBody, _) => return Ok(0),
            (Framing::Length(_), c) => c.unwrap_or(u64::MAX).min(self.remaining),
            (_, Some(c)) => c,
            (_, None) => return Err(io::ErrorKind::Unsupported.into()),
        };
        if framing == Framing::Chunked {
            if count == 0 {
                return Ok(0);
            }
            response::write_chunk_size(self.out.queue(), count as usize);
        }
        // sendfile waits for the client anyway: the bridge calls it without the GIL.
        self.check_claim()?;
        self.out.drain()?;
        // SAFETY: the bridge keeps the file object (and so `fd`) open for this call.
        let file = unsafe { BorrowedFd::borrow_raw(fd) };
        let sent = self
            .stream
            .sendfile(file, offset, count, self.send_timeout)?;
        self.body_bytes += sent;
        if let Framing::Length(_) = framing {
            self.remaining -= sent.min(self.remaining);
        }
        if framing == Framing::Chunked {
            if sent != count {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than its chunk",
                ));
            }
            self.send(b"\r\n")?;
        }
        Ok(sent)
    }

    fn finish(&mut self) -> io::Result<()> {
        let framing = self.framing()?;
        if framing == Framing::Chunked {
            self.out.queue().extend_from_slice(response::LAST_CHUNK);
        }
        self.complete()?;
        self.state = Writing::Done;
        match framing {
            // A body shorter than its Content-Length must end in a cut connection, never in
            // a response that looks complete.
            Framing::Length(_) if self.remaining > 0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "response shorter than its Content-Length",
            )),
            _ => Ok(()),
        }
    }

    fn started(&self) -> bool {
        self.state != Writing::Init
    }

    fn pending(&self) -> bool {
        // A held response waits for the lane, not for the client.
        self.out.pending() && !self.held
    }

    fn drain(&mut self) -> io::Result<()> {
        self.check_claim()?;
        self.out.drain()
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
