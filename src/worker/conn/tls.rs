//! A TLS session over a non-blocking client socket (rustls), behind `Stream`'s calls: what
//! the connection layer reads is plaintext, what it writes is encrypted on the way out. The
//! handshake happens as the first head is read, so it has the head's deadline
//! (`--header-timeout`): a client that connects and sends nothing holds nothing.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::socket::{recv, send, sendmsg, MsgFlags};
use rustls::{ServerConfig, ServerConnection};

/// Plaintext taken per write: bounds what rustls holds encrypted beyond what the socket took.
const WRITE_CHUNK: usize = 64 * 1024;

/// The answer to plain HTTP sent to a TLS port (what nginx answers too): readable by the
/// person who typed `http://` for `https://`, then the close.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\
Content-Type: text/plain\r\nContent-Length: 55\r\n\r\n\
This port speaks HTTPS: a plain HTTP request was sent.\n";

pub(super) struct Tls {
    /// The socket, for the close_notify when the stream goes (`Drop`); `Stream` declares its
    /// session before its descriptor, so the descriptor is still open then.
    fd: std::os::fd::RawFd,
    /// close_notify was sent.
    notified: AtomicBool,
    /// Behind a lock for `Sync` only: one thread at a time serves a connection, so it is
    /// never contended.
    session: Mutex<ServerConnection>,
    /// A peer that closes without close_notify: EOF (`suppress_ragged_eofs`), else an error.
    ragged_eof_ok: bool,
    /// Any byte received yet (the first decides whether it is TLS at all).
    started: AtomicBool,
}

/// recv(2)/send(2) on the socket for rustls (the socket calls, as `Stream`'s plaintext ones),
/// `EAGAIN` as `WouldBlock`.
struct Socket<'a>(&'a OwnedFd);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match recv(self.0.as_raw_fd(), buf, MsgFlags::empty()) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match send(self.0.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// rustls hands every queued record at once: one sendmsg(2) for all of them, so a
    /// handshake flight or a response of several records is one segment and one wake-up of
    /// the client, not one per record.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match sendmsg::<()>(self.0.as_raw_fd(), bufs, &[], MsgFlags::MSG_NOSIGNAL, None) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn broken(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Tls {
    pub(super) fn new(
        fd: std::os::fd::RawFd,
        config: Arc<ServerConfig>,
        ragged_eof_ok: bool,
    ) -> io::Result<Tls> {
        let session = ServerConnection::new(config).map_err(broken)?;
        Ok(Tls {
            fd,
            notified: AtomicBool::new(false),
            session: Mutex::new(session),
            ragged_eof_ok,
            started: AtomicBool::new(false),
        })
    }

    fn session(&self) -> MutexGuard<'_, ServerConnection> {
        // A panic elsewhere cannot leave the session half-updated in a way reads must avoid:
        // rustls's own state checks report it.
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Plaintext now: `Some(0)` at the end, `None` when more must arrive first.
    pub(super) fn recv(&self, fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut session = self.session();
        loop {
            match session.reader().read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && self.ragged_eof_ok => {
                    return Ok(Some(0))
                }
                Err(e) => return Err(e),
            }
            if !self.started.load(Ordering::Relaxed) && self.answer_plain_http(fd)? {
                return Err(broken("plain HTTP on a TLS port"));
            }
            match session.read_tls(&mut Socket(fd)) {
                Ok(0) => {
                    // The peer's end: what it sent before is read first; then the reader
                    // says whether it closed cleanly (close_notify) or not.
                    let _ = session.process_new_packets();
                    return match session.reader().read(buf) {
                        Ok(n) => Ok(Some(n)),
                        Err(e)
                            if e.kind() == io::ErrorKind::UnexpectedEof && !self.ragged_eof_ok =>
                        {
                            Err(e)
                        }
                        Err(_) => Ok(Some(0)),
                    };
                }
                Ok(_) => {
                    self.started.store(true, Ordering::Relaxed);
                    if let Err(e) = session.process_new_packets() {
                        // The alert goes out (best effort), then the connection closes.
                        let _ = session.write_tls(&mut Socket(fd));
                        return Err(broken(e));
                    }
                    flush(&mut session, fd)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    flush(&mut session, fd)?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Before the first byte is taken: an ASCII letter where a TLS record (0x16) belongs is
    /// an HTTP request line. Answered in plain text; `true` when it was.
    fn answer_plain_http(&self, fd: &OwnedFd) -> io::Result<bool> {
        let mut first = [0u8; 1];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        match recv(fd.as_raw_fd(), &mut first, flags) {
            Ok(1) if first[0].is_ascii_uppercase() => {
                let _ = nix::unistd::write(fd, PLAIN_HTTP_ANSWER);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Encrypt and send what the socket takes of `data`: the plaintext bytes taken, `0` when
    /// earlier ciphertext is still waiting for the client.
    pub(super) fn send(&self, fd: &OwnedFd, data: &[u8]) -> io::Result<usize> {
        let mut session = self.session();
        if !flush(&mut session, fd)? || data.is_empty() {
            return Ok(0);
        }
        let n = session
            .writer()
            .write(&data[..data.len().min(WRITE_CHUNK)])?;
        flush(&mut session, fd)?;
        Ok(n)
    }

    /// Send what is encrypted and not yet sent; `true` when nothing is left.
    pub(super) fn flush(&self, fd: &OwnedFd) -> io::Result<bool> {
        flush(&mut self.session(), fd)
    }

    /// Plaintext rustls has decrypted and the connection has not taken: records read along
    /// with an earlier one (a pipelined request behind a body). The socket will not signal
    /// it again, so a connection must take it before it waits. A session that failed says
    /// `true`: the next read reports the failure.
    pub(super) fn holds_plaintext(&self) -> bool {
        self.session()
            .process_new_packets()
            .map_or(true, |io| io.plaintext_bytes_to_read() > 0)
    }

    /// Append the plaintext rustls holds decrypted to `buf` (none: nothing changes).
    pub(super) fn take_held(&self, buf: &mut Vec<u8>) {
        let mut session = self.session();
        let held = match session.process_new_packets() {
            Ok(io) => io.plaintext_bytes_to_read(),
            // Reported by the next read.
            Err(_) => 0,
        };
        if held > 0 {
            let at = buf.len();
            buf.resize(at + held, 0);
            let took = session.reader().read(&mut buf[at..]).unwrap_or(0);
            buf.truncate(at + took);
        }
    }

    /// Encrypted bytes the socket has not taken yet.
    pub(super) fn pending(&self) -> bool {
        self.session().wants_write()
    }

    /// TLS's close_notify before our FIN (RFC 8446 §6.1), sent as far as the socket takes.
    pub(super) fn close_notify(&self, fd: &OwnedFd) {
        if self.notified.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut session = self.session();
        session.send_close_notify();
        let _ = flush(&mut session, fd);
    }

    /// The client's certificate, when it presented one, in PEM.
    pub(super) fn peer_certificate_pem(&self) -> Option<String> {
        let session = self.session();
        Some(pem(session.peer_certificates()?.first()?.as_ref()))
    }

    /// What was negotiated, for the ASGI `tls` extension.
    pub(super) fn info(&self) -> TlsInfo {
        let session = self.session();
        TlsInfo {
            version: session.protocol_version().map(u16::from),
            cipher_suite: session
                .negotiated_cipher_suite()
                .map(|s| u16::from(s.suite())),
            client_chain: session
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| pem(c.as_ref())).collect())
                .unwrap_or_default(),
            client_name: session.peer_certificates().and_then(|chain| {
                let (_, cert) =
                    x509_parser::parse_x509_certificate(chain.first()?.as_ref()).ok()?;
                Some(cert.subject().to_string())
            }),
        }
    }
}

impl Drop for Tls {
    /// A connection closed without a lingering close (a response that said `close`) still
    /// ends with close_notify (RFC 8446 §6.1), so the client sees a clean end, not a
    /// truncation; sent as far as the socket takes it now.
    fn drop(&mut self) {
        if self.notified.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: `Stream` drops its session before its descriptor (field order), and
        // `Stream::into_fd` is refused for TLS streams, so `self.fd` is open and ours here.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let mut session = self.session();
        session.send_close_notify();
        let mut out = SocketRef(fd);
        while session.wants_write() {
            if session.write_tls(&mut out).is_err() {
                break;
            }
        }
    }
}

/// write(2) on a borrowed descriptor, for the close_notify of `Drop`.
struct SocketRef<'a>(std::os::fd::BorrowedFd<'a>);

impl Write for SocketRef<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        nix::unistd::write(self.0, buf).map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A negotiated session, as the ASGI TLS extension describes it.
pub struct TlsInfo {
    /// The TLS version's code point (0x0303 for 1.2, 0x0304 for 1.3).
    pub version: Option<u16>,
    /// The cipher suite's IANA code point.
    pub cipher_suite: Option<u16>,
    /// The client's certificate chain in PEM, the client's own first.
    pub client_chain: Vec<String>,
    /// Its subject's distinguished name (RFC 4514 form).
    pub client_name: Option<String>,
}

/// A DER certificate in PEM (RFC 7468).
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn flush(session: &mut ServerConnection, fd: &OwnedFd) -> io::Result<bool> {
    while session.wants_write() {
        match session.write_tls(&mut Socket(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
