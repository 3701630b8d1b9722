//! `--log-syslog`: the error log (and the access log, unless
//! `--disable-redirect-access-to-syslog`) also goes to a syslog daemon, in the bytes Gunicorn's
//! `SysLogHandler` sends (`gunicorn/glogging.py` `_set_syslog_handler`; CPython's
//! `logging/handlers.py`):
//!
//! `<PRI>gunicorn.PREFIX.error: [PID] MESSAGE\0` — PRI is `facility << 3 | severity`
//! (RFC 5424 §6.2.1; the BSD form of RFC 3164 without a timestamp or hostname, which the
//! daemon adds), a NUL ends each message, one datagram or one stream write per message.
//!
//! Never blocking a request: the socket is non-blocking and a message that would block is
//! dropped. Each process opens its own socket (a stream shared across fork could interleave
//! two processes' partial writes); a TCP connection is made without waiting, and messages are
//! dropped until it is up.

use crate::config::{LogLevel, SyslogAddr, SyslogSettings};
use crate::sock::{resolve, udp_sender};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

/// How long after a failure a process tries to reach the daemon again.
const RETRY: Duration = Duration::from_secs(1);

enum Socket {
    Udp(UdpSocket),
    UnixDgram(UnixDatagram),
    UnixStream(UnixStream),
    Tcp(TcpStream),
}

enum Conn {
    /// No socket in this process yet, or the last one failed (`retry` is when to try again).
    Closed {
        retry: Option<Instant>,
    },
    /// A TCP connection not known to be established yet.
    Connecting {
        owner: u32,
        stream: TcpStream,
    },
    Open {
        owner: u32,
        socket: Socket,
    },
}

/// One process's syslog sender.
pub struct Syslog {
    settings: SyslogSettings,
    conn: Conn,
}

/// Python's `SysLogHandler.priority_map` for logging's levels.
fn severity(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 7,
        LogLevel::Info => 6,
        LogLevel::Warning => 4,
        LogLevel::Error => 3,
        LogLevel::Critical => 2,
    }
}

impl Syslog {
    pub fn new(settings: SyslogSettings) -> Syslog {
        Syslog {
            settings,
            conn: Conn::Closed { retry: None },
        }
    }

    /// Are access lines sent too?
    pub fn takes_access(&self) -> bool {
        self.settings.access
    }

    /// Check that the address resolves and the socket opens (for the master, before binding:
    /// a wrong address is one line at start, not silence).
    pub fn check(&mut self) -> io::Result<()> {
        self.conn = open(&self.settings.addr)?;
        Ok(())
    }

    /// Send one record; `log` is Gunicorn's logger suffix, `error` or `access`.
    pub fn send(&mut self, level: LogLevel, log: &str, message: &str) {
        let pri = (self.settings.facility << 3) | severity(level);
        let packet = format!(
            "<{pri}>gunicorn.{}.{log}: [{}] {}\0",
            self.settings.prefix,
            std::process::id(),
            message.trim_end_matches('\n')
        );
        let Some(socket) = self.socket() else { return };
        let sent = match socket {
            Socket::Udp(s) => s.send(packet.as_bytes()).map(drop),
            Socket::UnixDgram(s) => s.send(packet.as_bytes()).map(drop),
            Socket::UnixStream(s) => whole(s, packet.as_bytes()),
            Socket::Tcp(s) => whole(s, packet.as_bytes()),
        };
        match sent {
            Ok(()) => {}
            // The daemon is slow: this message is dropped, the socket kept.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Gone (restarted daemon, closed connection): reopen later.
            Err(_) => {
                self.conn = Conn::Closed {
                    retry: Some(Instant::now() + RETRY),
                }
            }
        }
    }

    /// This process's open socket, opening or finishing a connection when it is time.
    fn socket(&mut self) -> Option<&mut Socket> {
        let pid = std::process::id();
        let conn = std::mem::replace(&mut self.conn, Conn::Closed { retry: None });
        self.conn = match conn {
            Conn::Open { owner, socket } if owner == pid => Conn::Open { owner, socket },
            Conn::Connecting { owner, stream } if owner == pid => match connected(&stream) {
                Some(true) => Conn::Open {
                    owner,
                    socket: Socket::Tcp(stream),
                },
                Some(false) => Conn::Connecting { owner, stream },
                None => Conn::Closed {
                    retry: Some(Instant::now() + RETRY),
                },
            },
            Conn::Closed { retry: Some(at) } if Instant::now() < at => {
                Conn::Closed { retry: Some(at) }
            }
            // Not opened yet, failed a while ago, or inherited across fork (dropping the
            // parent's socket here closes only this process's copy).
            _ => open(&self.settings.addr).unwrap_or(Conn::Closed {
                retry: Some(Instant::now() + RETRY),
            }),
        };
        match &mut self.conn {
            Conn::Open { socket, .. } => Some(socket),
            _ => None,
        }
    }
}

/// One write of the whole message, or nothing: on a stream a message cut in two would run
/// into the next one, so a short write closes the connection.
fn whole(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    match stream.write(bytes)? {
        n if n == bytes.len() => Ok(()),
        _ => Err(io::ErrorKind::WriteZero.into()),
    }
}

fn open(addr: &SyslogAddr) -> io::Result<Conn> {
    let owner = std::process::id();
    let socket = match addr {
        SyslogAddr::Udp { host, port } => Socket::Udp(udp_sender(resolve(host, *port)?)?),
        SyslogAddr::Unix { path, dgram_only } => {
            let dgram = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
            match (dgram, dgram_only) {
                (Ok(s), _) => {
                    s.set_nonblocking(true)?;
                    Socket::UnixDgram(s)
                }
                (Err(e), true) => return Err(e),
                // Python's `SysLogHandler` with no socket type: a stream socket next.
                (Err(_), false) => {
                    let s = UnixStream::connect(path)?;
                    s.set_nonblocking(true)?;
                    Socket::UnixStream(s)
                }
            }
        }
        SyslogAddr::Tcp { host, port } => {
            let stream = connect_nonblocking(resolve(host, *port)?)?;
            return Ok(Conn::Connecting { owner, stream });
        }
    };
    Ok(Conn::Open { owner, socket })
}

/// A TCP connect that does not wait for the handshake.
fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd: OwnedFd = socket(family, SockType::Stream, flags, None)?;
    match connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    ) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: `raw` is a TCP socket this function just created and owns alone.
    Ok(unsafe { TcpStream::from_raw_fd(raw) })
}

/// Is the connection up (`Some(true)`), still on its way (`Some(false)`) or failed (`None`)?
fn connected(stream: &TcpStream) -> Option<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => Some(false),
        Ok(_) => match stream.take_error() {
            Ok(None) => Some(true),
            _ => None,
        },
        Err(_) => None,
    }
}
