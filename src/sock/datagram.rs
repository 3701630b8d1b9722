//! Datagram senders for the daemons logs and metrics go to (syslog over UDP, statsd): a UDP
//! socket connected to one address and non-blocking, so a send never waits.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

/// `host:port` as the daemon's address: a literal as it is; for a name, its first IPv4
/// address if it has one (Gunicorn's statsd and syslog sockets are `AF_INET`), else its first.
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let all: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let literal = host.parse::<std::net::IpAddr>().is_ok();
    all.iter()
        .find(|a| literal || a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

/// A non-blocking UDP socket, bound to any local address of `target`'s family and connected
/// to it.
pub fn udp_sender(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(target)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
