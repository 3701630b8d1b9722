//! Listeners: bind or inherit them (`HOST:PORT`, `[V6]:PORT`, `unix:PATH`, `fd://N`,
//! systemd's `LISTEN_FDS`, Gunicorn's `GUNICORN_FD`), and accept on them.
//!
//! Knows sockets only — no HTTP, no Python. Follows `gunicorn/sock.py` and `util.parse_address`
//! (`reference/gunicorn.md` §8): SO_REUSEADDR always, SO_REUSEPORT on request, TCP_NODELAY on TCP,
//! non-blocking, an existing *socket* file at a Unix path removed first.

use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

mod address;
mod datagram;

pub use address::{parse_address, Address};
pub use datagram::{resolve, udp_sender};

#[derive(Debug, thiserror::Error)]
pub enum SockError {
    #[error("Invalid address: {0}")]
    InvalidAddress(String),
    #[error("Can't connect to {0}")]
    CantConnect(String),
    #[error("{addr}: {err}")]
    Io { addr: String, err: io::Error },
}

/// What a listener is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A listening socket shared by the master and every worker.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    pub bound: Bound,
    /// Created by us (unlink the Unix path on final shutdown) rather than inherited.
    pub owned_path: bool,
}

impl Listener {
    /// Gunicorn's `Listening at:` form, `https://` for a TCP listener serving TLS.
    pub fn url(&self, tls: bool) -> String {
        match (&self.bound, tls) {
            (Bound::Tcp(SocketAddr::V4(a)), true) => format!("https://{a}"),
            (Bound::Tcp(SocketAddr::V6(a)), true) => format!("https://[{}]:{}", a.ip(), a.port()),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Listener {
    /// Gunicorn's `Listening at:` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bound {
            Bound::Tcp(SocketAddr::V4(a)) => write!(f, "http://{a}"),
            Bound::Tcp(SocketAddr::V6(a)) => write!(f, "http://[{}]:{}", a.ip(), a.port()),
            Bound::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// How long a connection that has sent nothing is kept from accept(2) under
/// [`Listener::defer_accept`]: Linux counts it in SYN-ACK retransmissions, the first after 1 s.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// A connected client socket and who is on the other end.
pub struct Accepted {
    pub fd: OwnedFd,
    /// `None` for a Unix-socket peer.
    pub peer: Option<SocketAddr>,
}

impl Listener {
    /// Accept one connection, or `WouldBlock` when another worker was faster. The socket is
    /// non-blocking: workers wait on it through epoll or poll(2), never inside a read.
    pub fn accept(&self) -> io::Result<Accepted> {
        // SAFETY: sockaddr_storage is plain data, valid zeroed; accept4 writes at most `len`
        // bytes into it and returns a new descriptor that nothing else owns.
        let (raw, storage) = unsafe {
            let mut storage: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let raw = libc::accept4(
                self.fd.as_raw_fd(),
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            );
            (raw, storage)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let peer = match self.bound {
            Bound::Tcp(_) => peer_of(&storage),
            Bound::Unix(_) => None,
        };
        // TCP_NODELAY (responses are written whole; Nagle would only delay the last segment)
        // comes from the listener: Linux copies it into every socket accepted from it
        // (`sk_clone_lock`), which saves a setsockopt(2) per connection — a tenth of the
        // system calls of a connection that carries one request, as behind nginx's uwsgi_pass.
        Ok(Accepted { fd, peer })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Hand a TCP connection to accept(2) only once its first bytes are here (`on`), or as
    /// soon as the handshake ends (tcp(7) `TCP_DEFER_ACCEPT`, as uWSGI sets on its sockets).
    ///
    /// For a client that always writes first, at once — the uwsgi front — it spares each
    /// connection a read that finds nothing, a registration in the worker's set and a second
    /// wake-up for the packet (and a sync worker the hand-off of a head "still arriving" to
    /// its sibling). A client that has written nothing after [`DEFER_ACCEPT_SECS`] is handed
    /// over anyway, and waits under `--header-timeout` as before. Unix sockets have no such
    /// option: nothing to do.
    pub fn defer_accept(&self, on: bool) -> io::Result<()> {
        if !matches!(self.bound, Bound::Tcp(_)) {
            return Ok(());
        }
        let secs: libc::c_int = if on { DEFER_ACCEPT_SECS } else { 0 };
        // SAFETY: the descriptor is open (owned by `self`); the option value is a c_int that
        // lives across the call, and its size is passed with it.
        let done = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&secs as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        match done {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// After a rebind: remove this (old) Unix socket's file unless a new listener took its path.
    pub fn unlink_if_rebound(&self, new: &[Listener]) {
        if !new.iter().any(|l| l.bound == self.bound) {
            self.unlink();
        }
    }

    /// Remove the Unix socket file (final shutdown only; not on USR2 hand-over or inherited fds).
    pub fn unlink(&self) {
        if let (Bound::Unix(path), true) = (&self.bound, self.owned_path) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The peer address accept4(2) wrote (IPv4 or IPv6).
fn peer_of(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough and aligned enough to hold.
            let v4 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(v6.sin6_port))))
        }
        _ => None,
    }
}

/// The TCP peer of a connected socket (a connection a sibling worker handed over).
pub fn peer_address(fd: RawFd) -> Option<SocketAddr> {
    let addr: SockaddrStorage = socket::getpeername(fd).ok()?;
    to_socket_addr(&addr)
}

fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// Bind settings.
#[derive(Debug, Clone, Copy)]
pub struct BindOptions {
    pub backlog: i32,
    pub reuse_port: bool,
    pub umask: u32,
}

/// Bind (or adopt) one listener.
pub fn bind(address: &Address, opts: BindOptions) -> Result<Listener, SockError> {
    let name = describe(address);
    let io_err = |err: io::Error| SockError::Io {
        addr: name.clone(),
        err,
    };
    match address {
        Address::Tcp(sa) => bind_tcp(*sa, opts).map_err(io_err),
        Address::TcpHost(host, port) => {
            let resolved = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                .map_err(io_err)?
                .find(SocketAddr::is_ipv4)
                .ok_or_else(|| SockError::InvalidAddress(name.clone()))?;
            bind_tcp(resolved, opts).map_err(io_err)
        }
        Address::Unix(path) => bind_unix(path, opts).map_err(io_err),
        Address::Fd(fd) => adopt(*fd, opts).map_err(io_err),
    }
}

fn describe(address: &Address) -> String {
    match address {
        Address::Tcp(sa) => sa.to_string(),
        Address::TcpHost(h, p) => format!("{h}:{p}"),
        Address::Unix(p) => format!("unix:{}", p.display()),
        Address::Fd(fd) => format!("fd://{fd}"),
    }
}

fn new_socket(family: AddressFamily) -> io::Result<OwnedFd> {
    socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(io::Error::from)
}

fn listen(fd: &OwnedFd, backlog: i32) -> io::Result<()> {
    let backlog = Backlog::new(backlog.max(1)).unwrap_or(Backlog::MAXCONN);
    socket::listen(fd, backlog).map_err(io::Error::from)
}

fn bind_tcp(sa: SocketAddr, opts: BindOptions) -> io::Result<Listener> {
    let family = if sa.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = new_socket(family)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(io::Error::from)?;
    if opts.reuse_port {
        // ENOPROTOOPT/EINVAL: the kernel lacks it; Gunicorn ignores that too.
        let _ = socket::setsockopt(&fd, sockopt::ReusePort, &true);
    }
    if sa.is_ipv6() {
        let _ = socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true);
    }
    socket::setsockopt(&fd, sockopt::TcpNoDelay, &true).map_err(io::Error::from)?;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(sa)).map_err(io::Error::from)?;
    listen(&fd, opts.backlog)?;
    let bound: SockaddrStorage = socket::getsockname(fd.as_raw_fd()).map_err(io::Error::from)?;
    let bound = to_socket_addr(&bound).unwrap_or(sa);
    Ok(Listener {
        fd,
        bound: Bound::Tcp(bound),
        owned_path: false,
    })
}

fn bind_unix(path: &std::path::Path, opts: BindOptions) -> io::Result<Listener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let fd = new_socket(AddressFamily::Unix)?;
    let addr = socket::UnixAddr::new(path).map_err(io::Error::from)?;
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        opts.umask as libc::mode_t,
    ));
    let bound = socket::bind(fd.as_raw_fd(), &addr).map_err(io::Error::from);
    nix::sys::stat::umask(old);
    bound?;
    listen(&fd, opts.backlog)?;
    Ok(Listener {
        fd,
        bound: Bound::Unix(path.to_path_buf()),
        owned_path: true,
    })
}

/// Take over an inherited listening descriptor (`fd://N`, systemd, USR2 hand-over).
pub fn adopt(raw: RawFd, opts: BindOptions) -> io::Result<Listener> {
    // SAFETY: the descriptor was handed to this process to own (by the user or a parent).
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let addr: SockaddrStorage = socket::getsockname(raw).map_err(io::Error::from)?;
    let bound = match (to_socket_addr(&addr), addr.as_unix_addr()) {
        (Some(sa), _) => Bound::Tcp(sa),
        (None, Some(ua)) => Bound::Unix(ua.path().map(PathBuf::from).unwrap_or_default()),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an INET or Unix socket",
            ))
        }
    };
    set_cloexec_nonblock(raw)?;
    if matches!(bound, Bound::Tcp(_)) {
        // Accepted sockets inherit it (see `Listener::accept`); a handed-over socket may lack it.
        let _ = socket::setsockopt(&fd, sockopt::TcpNoDelay, &true);
    }
    // Gunicorn 27: no second listen() on a socket that already listens (systemd-passed).
    if !socket::getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false) {
        listen(&fd, opts.backlog)?;
    }
    Ok(Listener {
        fd,
        bound,
        owned_path: false,
    })
}

fn set_cloexec_nonblock(fd: RawFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    // SAFETY: `fd` is open for the duration of this call (owned by the caller).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    let flags =
        OFlag::from_bits_truncate(fcntl(borrowed, FcntlArg::F_GETFL).map_err(io::Error::from)?);
    fcntl(borrowed, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
    Ok(())
}

/// systemd socket activation (`sd_listen_fds(3)`): fds 3.. when `LISTEN_PID` is this process.
pub fn systemd_fds() -> Vec<RawFd> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_matches || count <= 0 {
        return Vec::new();
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    (3..3 + count).collect()
}

/// Bind every address, retrying a busy one as Gunicorn does (5 tries, 1 s apart).
pub fn bind_all(
    addresses: &[Address],
    opts: BindOptions,
    on_retry: &mut dyn FnMut(&str),
) -> Result<Vec<Listener>, SockError> {
    let mut listeners = Vec::with_capacity(addresses.len());
    for address in addresses {
        let mut attempt = 0;
        loop {
            match bind(address, opts) {
                Ok(l) => break listeners.push(l),
                Err(SockError::Io { addr, err })
                    if err.kind() == io::ErrorKind::AddrInUse && attempt < 4 =>
                {
                    on_retry(&format!("Connection in use: {addr}"));
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                Err(SockError::Io { addr, err }) if err.kind() == io::ErrorKind::AddrInUse => {
                    on_retry(&format!("Connection in use: {addr}"));
                    return Err(SockError::CantConnect(addr));
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(listeners)
}

#[cfg(test)]
#[path = "sock_tests.rs"]
mod tests;
