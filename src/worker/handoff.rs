//! The sync workers' hand-off: a connection whose head is still arriving is passed to an idle
//! sibling before its worker goes off to run the app, so that a head completing meanwhile
//! never waits behind that request while another worker is idle (issue 7; nginx's rule that
//! an incomplete head holds nothing, across processes).
//!
//! One datagram socket pair, made before the first fork and shared by every worker: a worker
//! sends the descriptor (SCM_RIGHTS) with the bytes read so far and the time left of its head
//! deadline; whichever idle worker epoll wakes (EPOLLEXCLUSIVE) receives it. When every worker
//! is busy the connections wait in the socket's queue, as new ones wait in the backlog.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};

use crate::worker::conn::{Conn, Stream};

/// The most read-ahead a handed-off connection may carry (a datagram must hold it whole).
pub const MAX_CARRIED: usize = 32 * 1024;
/// listener index (u32) + milliseconds left (u32).
const HEADER: usize = 8;

pub struct Handoff {
    send: OwnedFd,
    recv: OwnedFd,
}

/// A connection a sibling passed on.
pub struct Received {
    pub conn: Conn,
    pub deadline: Instant,
}

impl Handoff {
    pub fn new() -> io::Result<Handoff> {
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let (send, recv) = socketpair(AddressFamily::Unix, SockType::Datagram, None, flags)?;
        Ok(Handoff { send, recv })
    }

    /// The end a worker's epoll watches.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.recv.as_fd()
    }

    /// Pass `conn` on; it comes back when it cannot go (too much read-ahead, queue full).
    pub fn give(&self, conn: Conn, deadline: Instant) -> Result<(), Box<Conn>> {
        let carried = conn.buffered();
        if carried.len() > MAX_CARRIED {
            return Err(Box::new(conn));
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis();
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(conn.listener as u32).to_le_bytes());
        header[4..].copy_from_slice(&u32::try_from(left).unwrap_or(u32::MAX).to_le_bytes());
        let fds = [conn.stream.raw()];
        let iov = [IoSlice::new(&header), IoSlice::new(carried)];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match sendmsg::<UnixAddr>(self.send.as_raw_fd(), &iov, &cmsg, flags, None) {
            // Our descriptor closes with `conn`; the sibling holds its own copy now.
            Ok(_) => Ok(()),
            Err(_) => Err(Box::new(conn)),
        }
    }

    /// One connection from the queue, if any. `peer_of` finds a TCP peer's address.
    pub fn take(
        &self,
        buf: &mut Vec<u8>,
        peer_of: impl Fn(RawFd, usize) -> Option<std::net::SocketAddr>,
    ) -> io::Result<Option<Received>> {
        buf.resize(HEADER + MAX_CARRIED, 0);
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(buf)];
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
            let msg =
                match recvmsg::<UnixAddr>(self.recv.as_raw_fd(), &mut iov, Some(&mut space), flags)
                {
                    Ok(msg) => msg,
                    Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
            let fd = msg.cmsgs()?.find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            });
            (msg.bytes, fd)
        };
        let Some(raw) = fd else {
            return Ok(None);
        };
        // SAFETY: SCM_RIGHTS installed a new descriptor in this process that nothing owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if len < HEADER {
            return Ok(None);
        }
        let word = |at: usize| u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let (listener, left) = (word(0) as usize, word(4));
        let peer = peer_of(fd.as_raw_fd(), listener);
        let carried = buf[HEADER..len].to_vec();
        let conn = Conn::adopted(Stream::new(fd), peer, listener, carried);
        let deadline = Instant::now() + Duration::from_millis(u64::from(left));
        Ok(Some(Received { conn, deadline }))
    }
}
