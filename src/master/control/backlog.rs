//! Listen-queue depth: connections the kernel accepted that no worker has taken yet. For a TCP
//! socket in LISTEN state Linux reports it in `struct tcp_info`'s `tcpi_unacked` (and the
//! queue's limit in `tcpi_sacked`) — uWSGI's listen-queue gauge reads the same (`core/master.c`).

use std::os::fd::RawFd;

/// Connections waiting in the accept queue of the TCP listener `fd`; `None` for a Unix socket
/// or when the kernel does not say.
pub(in crate::master) fn queued(fd: RawFd) -> Option<u32> {
    // SAFETY: all-zero is a valid `tcp_info` (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `fd` is a listener the master owns; `info` and `len` describe a writable buffer
    // of `len` bytes, and the kernel writes at most that many.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // TCP_LISTEN is 10 in the kernel's tcp_states.h.
    (rc == 0 && info.tcpi_state == 10).then_some(info.tcpi_unacked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn counts_connections_nobody_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        assert_eq!(queued(listener.as_raw_fd()), Some(0));
        let _a = std::net::TcpStream::connect(addr).expect("connect");
        let _b = std::net::TcpStream::connect(addr).expect("connect");
        assert_eq!(queued(listener.as_raw_fd()), Some(2));
        let unix = std::os::unix::net::UnixDatagram::unbound().expect("socket");
        assert_eq!(queued(unix.as_raw_fd()), None);
    }
}
