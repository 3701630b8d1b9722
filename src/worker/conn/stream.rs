//! A client socket. Always non-blocking: the worker's loop waits on it through epoll while a
//! request head arrives, and the thread serving a request waits with poll(2) and a deadline
//! when the app reads a body or writes a response faster than the client keeps up. A read
//! that has data never costs a second syscall.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
// The socket calls, not read(2)/write(2): these skip the file layer (its position lock and
// the generic read/write iterators: about 1 % of an asgi worker's samples under a keep-alive
// hello-world load, in `perf`) and go straight to the socket. MSG_NOSIGNAL: a client that
// left is an EPIPE here, whatever the process's SIGPIPE disposition.
use nix::sys::socket::{recv, send, sendmsg, MsgFlags};

/// A greenlet worker's wait for a socket: the hub's (other greenlets run meanwhile), instead
/// of the thread's poll(2). `Ok(false)`: the timeout ran out first.
pub type HubWait =
    fn(fd: RawFd, write: bool, timeout: Option<std::time::Duration>) -> io::Result<bool>;

static HUB_WAIT: std::sync::OnceLock<HubWait> = std::sync::OnceLock::new();

/// Greenlet kinds, at boot: every wait of every stream goes through the hub from now on.
pub fn wait_through_hub(wait: HubWait) {
    let _ = HUB_WAIT.set(wait);
}

/// A connected socket (TCP or Unix) in non-blocking mode; with TLS, its session: every call
/// below then reads and writes plaintext.
pub struct Stream {
    // Declared (so dropped) before `fd`: a session's close_notify goes out on an open socket.
    tls: Option<Box<super::tls::Tls>>,
    fd: OwnedFd,
}

/// Which way a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Read,
    Write,
}

fn timed_out() -> io::Error {
    io::ErrorKind::TimedOut.into()
}

impl Stream {
    /// `fd` must be non-blocking (accept4 with SOCK_NONBLOCK, or a hand-off from a sibling).
    pub fn new(fd: OwnedFd) -> Stream {
        Stream { fd, tls: None }
    }

    /// A connection on a TLS listener: its handshake happens as the first head is read.
    pub fn with_tls(
        fd: OwnedFd,
        config: std::sync::Arc<rustls::ServerConfig>,
        ragged_eof_ok: bool,
    ) -> io::Result<Stream> {
        let tls = super::tls::Tls::new(fd.as_raw_fd(), config, ragged_eof_ok)?;
        Ok(Stream {
            fd,
            tls: Some(Box::new(tls)),
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The client's TLS certificate in PEM, when it presented one.
    pub fn peer_certificate_pem(&self) -> Option<String> {
        self.tls.as_ref()?.peer_certificate_pem()
    }

    /// The negotiated TLS session (`None` without TLS).
    pub fn tls_info(&self) -> Option<super::tls::TlsInfo> {
        self.tls.as_ref().map(|t| t.info())
    }

    /// Encrypted bytes still waiting for the client (always `false` without TLS): a response
    /// is out only when this is `false` too.
    pub fn tls_pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.pending())
    }

    /// Request bytes TLS has decrypted and not handed over yet (always `false` without TLS).
    pub fn holds_plaintext(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.holds_plaintext())
    }

    /// Send what TLS holds encrypted; `true` when nothing is left (always, without TLS).
    pub fn flush_now(&self) -> io::Result<bool> {
        match &self.tls {
            Some(tls) => tls.flush(&self.fd),
            None => Ok(true),
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The descriptor, for the app to speak another protocol on (tornado's `detach`). A TLS
    /// session cannot go with it: `None` for a TLS stream.
    pub fn into_fd(self) -> Option<OwnedFd> {
        match self.tls {
            Some(_) => None,
            None => Some(self.fd),
        }
    }

    /// What is there now: `Ok(Some(0))` at EOF, `Ok(None)` when nothing has arrived yet.
    pub fn recv_now(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if let Some(tls) = &self.tls {
            return tls.recv(&self.fd, buf);
        }
        loop {
            match recv(self.raw(), buf, MsgFlags::empty()) {
                Ok(n) => return Ok(Some(n)),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Append what is there now to `buf`, up to `room` bytes, reading straight into the
    /// vector's spare capacity (no scratch buffer to zero and copy from): `Ok(Some(0))` at
    /// EOF, `Ok(None)` when nothing has arrived yet. Under TLS, past `room` too when rustls
    /// decrypted more with the same read: the socket would not signal those bytes again.
    pub fn recv_append(&self, buf: &mut Vec<u8>, room: usize) -> io::Result<Option<usize>> {
        buf.reserve(room);
        if let Some(tls) = &self.tls {
            let filled = buf.len();
            buf.resize(filled + room, 0);
            let got = tls.recv(&self.fd, &mut buf[filled..]);
            let n = got.as_ref().map_or(0, |n| n.unwrap_or(0));
            buf.truncate(filled + n);
            if n == room {
                tls.take_held(buf);
                return Ok(Some(buf.len() - filled));
            }
            return got;
        }
        loop {
            let filled = buf.len();
            let spare = buf.spare_capacity_mut();
            // SAFETY: `spare` is at least `room` bytes of the vector's allocation past its
            // length (reserved above); recv(2) writes at most that many, and exactly `n` of
            // them are then marked initialised.
            let got = unsafe {
                let n = libc::recv(self.raw(), spare.as_mut_ptr().cast(), room, 0);
                if n > 0 {
                    buf.set_len(filled + n as usize);
                }
                n
            };
            if got >= 0 {
                return Ok(Some(got as usize));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
    }

    /// Has the client sent bytes not read yet (a request that crossed a graceful stop)?
    /// Looked at without consuming them; an EOF or an error is no.
    pub fn input_waiting(&self) -> bool {
        let mut probe = [0u8; 1];
        loop {
            match recv(
                self.raw(),
                &mut probe,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(n) => return n > 0,
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Read, waiting until `deadline` for data; `TimedOut` when none came in time.
    pub fn read(&self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        loop {
            if let Some(n) = self.recv_now(buf)? {
                return Ok(n);
            }
            self.wait(Direction::Read, deadline)?;
        }
    }

    /// Write all of `data` before `deadline` (a client that reads nothing for that long is
    /// given up on: `TimedOut`).
    pub fn write_all(&self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        if self.tls.is_some() {
            return self.write_all_tls(data, deadline);
        }
        // `write_now` is the one write(2) loop (EINTR, EAGAIN); here only the waiting.
        while !data.is_empty() {
            match self.write_now(data)? {
                0 => self.wait(Direction::Write, deadline)?,
                n => data = &data[n..],
            }
        }
        Ok(())
    }

    /// Write what the socket takes now; `Ok(0)` when it takes nothing without waiting.
    pub fn write_now(&self, data: &[u8]) -> io::Result<usize> {
        if let Some(tls) = &self.tls {
            return tls.send(&self.fd, data);
        }
        loop {
            match send(self.raw(), data, MsgFlags::MSG_NOSIGNAL) {
                Ok(0) if !data.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// sendmsg(2) what the socket takes now of `parts`, in order; `Ok(0)` when nothing.
    pub fn writev_now(&self, parts: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        if self.tls.is_some() {
            // Encrypted part by part: TLS records carry no scatter list.
            let mut taken = 0;
            for part in parts {
                let n = self.write_now(part)?;
                taken += n;
                if n < part.len() {
                    break;
                }
            }
            return Ok(taken);
        }
        loop {
            match sendmsg::<()>(self.raw(), parts, &[], MsgFlags::MSG_NOSIGNAL, None) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Wait until the client takes bytes again, or `deadline` (`TimedOut`).
    pub fn wait_writable(&self, deadline: Instant) -> io::Result<()> {
        self.wait(Direction::Write, deadline)
    }

    /// sendfile(2) `count` bytes of `file` from `offset`; returns the bytes sent (fewer only
    /// when the file is shorter than promised). A client that takes nothing for `stall` is
    /// given up on (`TimedOut`); one that keeps taking bytes is not, however long the file.
    pub fn sendfile(
        &self,
        file: BorrowedFd<'_>,
        offset: u64,
        count: u64,
        stall: Duration,
    ) -> io::Result<u64> {
        if self.tls.is_some() {
            // The kernel cannot encrypt: the file goes through TLS in buffered writes.
            return self.send_file_buffered(file, offset, count, stall);
        }
        let mut off = offset as libc::off64_t;
        let mut sent = 0u64;
        while sent < count {
            let want = (count - sent).min(1 << 30) as usize;
            match nix::sys::sendfile::sendfile64(&self.fd, file, Some(&mut off), want) {
                Ok(0) => break,
                Ok(n) => sent += n as u64,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => self.wait(Direction::Write, Instant::now() + stall)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }

    /// Send our FIN; reading stays possible (the first half of a lingering close).
    pub fn shutdown_write(&self) {
        if let Some(tls) = &self.tls {
            tls.close_notify(&self.fd);
        }
        let _ = nix::sys::socket::shutdown(self.raw(), nix::sys::socket::Shutdown::Write);
    }

    fn write_all_tls(&self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        loop {
            let n = self.write_now(data)?;
            data = &data[n..];
            if data.is_empty() && self.flush_now()? {
                return Ok(());
            }
            if n == 0 || self.tls_pending() {
                self.wait(Direction::Write, deadline)?;
            }
        }
    }

    fn send_file_buffered(
        &self,
        file: BorrowedFd<'_>,
        offset: u64,
        count: u64,
        stall: Duration,
    ) -> io::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < count {
            let want = (count - sent).min(buf.len() as u64) as usize;
            let at = (offset + sent) as libc::off64_t;
            let n = match nix::sys::uio::pread(file, &mut buf[..want], at) {
                Ok(0) => break,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            self.write_all(&buf[..n], Instant::now() + stall)?;
            sent += n as u64;
        }
        Ok(sent)
    }

    /// Wait until the socket is ready for `direction`, or `deadline`.
    fn wait(&self, direction: Direction, deadline: Instant) -> io::Result<()> {
        if let Some(hub) = HUB_WAIT.get() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            return match hub(self.raw(), direction == Direction::Write, Some(left))? {
                true => Ok(()),
                false => Err(timed_out()),
            };
        }
        let events = match direction {
            Direction::Read => PollFlags::POLLIN,
            Direction::Write => PollFlags::POLLOUT,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            // Whole milliseconds, rounded up, so a sub-millisecond rest never spins.
            let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), events)];
            match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                // Readable, writable, or an error/hang-up the next syscall will report.
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
