//! A client connection: blocking reads with deadlines, the request head, the request body as
//! a [`BodyRead`], and the lingering close of RFC 9112 §9.6.

use crate::http::{self, BodyDecoder, ParseError, ParserConfig, PeerTrust, RequestHead};
use crate::wsgi::{BodyError, BodyRead};
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Read buffer size: one read gets a typical request head whole.
const READ_CHUNK: usize = 16 * 1024;

/// A connected socket (TCP or Unix), blocking, with per-operation timeouts.
pub struct Stream {
    fd: OwnedFd,
}

impl Stream {
    pub fn new(fd: OwnedFd, send_timeout: Duration) -> Stream {
        let stream = Stream { fd };
        let _ = stream.set_timeout(libc::SO_SNDTIMEO, send_timeout);
        stream
    }

    fn set_timeout(&self, opt: libc::c_int, d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_millis(1));
        let tv = libc::timeval {
            tv_sec: d.as_secs() as libc::time_t,
            tv_usec: d.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: setsockopt with a pointer to a live timeval and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Read with a timeout; `TimedOut` when nothing arrived in time.
    pub fn read_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.set_timeout(libc::SO_RCVTIMEO, timeout)?;
        loop {
            match nix::unistd::read(&self.fd, buf) {
                Ok(n) => return Ok(n),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        if !super::watchdog::may_write() {
            return Err(timed_out());
        }
        while !data.is_empty() {
            match nix::unistd::write(&self.fd, data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// sendfile(2) `count` bytes of `file` from `offset`; returns the bytes sent.
    pub fn sendfile(
        &self,
        file: std::os::fd::BorrowedFd<'_>,
        offset: u64,
        count: u64,
    ) -> io::Result<u64> {
        if !super::watchdog::may_write() {
            return Err(timed_out());
        }
        let mut off = offset as libc::off64_t;
        let mut sent = 0u64;
        while sent < count {
            let want = (count - sent).min(1 << 30) as usize;
            match nix::sys::sendfile::sendfile64(&self.fd, file, Some(&mut off), want) {
                Ok(0) => break, // the file is shorter than promised
                Ok(n) => sent += n as u64,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }

    /// Close so that unread request bytes do not turn into an RST that destroys the response
    /// in flight (RFC 9112 §9.6): half-close, then drain a little for a short while.
    pub fn lingering_close(self) {
        let _ = nix::sys::socket::shutdown(self.fd.as_raw_fd(), nix::sys::socket::Shutdown::Write);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 8192];
        let mut drained = 0;
        while drained < 64 * 1024 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_timeout(&mut buf, left) {
                Ok(n @ 1..) => drained += n,
                _ => break,
            }
        }
    }
}

/// Writing after `--request-timeout` answered or cut the request.
fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "request timed out (--request-timeout)",
    )
}

impl AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Why no request head could be read.
pub enum HeadError {
    /// Malformed: answer with the error page.
    Parse(ParseError),
    /// The client closed or said nothing before the deadline: close quietly.
    Closed,
    TimedOut,
    Io(io::Error),
}

/// Read and parse one request head within `deadline` (the head-read timeout: a client that
/// trickles its head cannot hold a sync worker). Returns the head and the buffer, whose bytes
/// past `consumed` already belong to the body.
pub fn read_head(
    stream: &Stream,
    cfg: &ParserConfig,
    trust: PeerTrust,
    deadline: Instant,
) -> Result<(RequestHead, Vec<u8>, usize), HeadError> {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    loop {
        let filled = buf.len();
        buf.resize(filled + READ_CHUNK, 0);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::TimedOut);
        }
        let n = match stream.read_timeout(&mut buf[filled..], left) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(HeadError::TimedOut),
            Err(e) => return Err(HeadError::Io(e)),
        };
        buf.truncate(filled + n);
        if n == 0 {
            // Closed between requests is quiet; closed mid-head is Gunicorn's NoMoreData.
            return Err(http::head_eof(&buf).map_or(HeadError::Closed, HeadError::Parse));
        }
        match http::parse_head(&buf, cfg, trust, true) {
            Ok(Some((head, consumed))) => return Ok((head, buf, consumed)),
            Ok(None) => continue,
            Err(e) => return Err(HeadError::Parse(e)),
        }
    }
}

/// The request body, decoded as the app reads it.
pub struct Body<'a> {
    stream: &'a Stream,
    buf: Vec<u8>,
    pos: usize,
    /// Decoded payload bytes inside `buf` not yet handed out.
    pending: Range<usize>,
    decoder: BodyDecoder,
    idle_timeout: Duration,
}

impl<'a> Body<'a> {
    pub fn new(
        stream: &'a Stream,
        buf: Vec<u8>,
        pos: usize,
        decoder: BodyDecoder,
        idle_timeout: Duration,
    ) -> Body<'a> {
        Body {
            stream,
            buf,
            pos,
            pending: 0..0,
            decoder,
            idle_timeout,
        }
    }

    /// Were all of the body's bytes (and nothing more) read? Then a plain close is safe.
    pub fn is_consumed(&self) -> bool {
        self.decoder.is_done() && self.pending.is_empty() && self.pos == self.buf.len()
    }

    fn fill(&mut self) -> Result<(), BodyError> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let filled = self.buf.len();
        self.buf.resize(filled + READ_CHUNK * 4, 0);
        let n = self
            .stream
            .read_timeout(&mut self.buf[filled..], self.idle_timeout);
        self.buf.truncate(filled + *n.as_ref().unwrap_or(&0));
        match n {
            // A short body must never look complete (reliability.md §3, "Incomplete + EOF").
            Ok(0) => Err(BodyError::Disconnected),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(BodyError::Timeout),
            Err(e) => Err(BodyError::Io(e)),
        }
    }
}

impl BodyRead for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<usize, BodyError> {
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
                self.fill()?;
            }
        }
    }
}
