//! A `--bind` value read as Gunicorn's `util.parse_address` reads it (`reference/gunicorn.md`
//! §8): `HOST:PORT`, `[V6]:PORT`, a bare host or port, `unix:PATH`, `fd://N`, `tcp://`.

use super::SockError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::path::PathBuf;

/// A listen address as written in `--bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(SocketAddr),
    /// A hostname to resolve at bind time (Gunicorn binds names as IPv4).
    TcpHost(String, u16),
    Unix(PathBuf),
    Fd(RawFd),
}

/// Parse one `--bind` value, Gunicorn's `util.parse_address` rules.
pub fn parse_address(raw: &str) -> Result<Address, SockError> {
    let invalid = || SockError::InvalidAddress(raw.to_string());
    if let Some(path) = raw
        .strip_prefix("unix://")
        .or_else(|| raw.strip_prefix("unix:"))
    {
        if path.is_empty() {
            return Err(invalid());
        }
        return Ok(Address::Unix(PathBuf::from(path)));
    }
    if let Some(fd) = raw.strip_prefix("fd://") {
        return fd.parse().map(Address::Fd).map_err(|_| invalid());
    }
    let rest = raw.strip_prefix("tcp://").unwrap_or(raw);
    if rest.is_empty() {
        return Ok(Address::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            8000,
        )));
    }
    let (host, port) = crate::config::split_host_port(rest).ok_or_else(invalid)?;
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| invalid())?,
        None => 8000,
    };
    let host = host.to_ascii_lowercase();
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(Address::Tcp(SocketAddr::new(ip, port))),
        Err(_) if host == "localhost" => Ok(Address::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        ))),
        Err(_) if host.is_empty() => Ok(Address::Tcp(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        ))),
        Err(_) => Ok(Address::TcpHost(host, port)),
    }
}
