//! Peer allow-lists (`forwarded_allow_ips`, `proxy_allow_ips`): parsed like Python's
//! `ipaddress.ip_network(addr)` (strict: no host bits set), matched per connection.

use std::net::IpAddr;

/// An allow-list of peers (`forwarded_allow_ips`, `proxy_allow_ips`): `*`, addresses or CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowIps {
    Any,
    Nets(Vec<(IpAddr, u8)>),
}

impl AllowIps {
    /// Is `peer` on the list? Unix-socket peers (`None`) are always trusted, as in Gunicorn.
    pub fn allows(&self, peer: Option<IpAddr>) -> bool {
        let Some(peer) = peer else { return true };
        match self {
            AllowIps::Any => true,
            AllowIps::Nets(nets) => nets
                .iter()
                .any(|(net, prefix)| in_network(peer, *net, *prefix)),
        }
    }
}

fn in_network(peer: IpAddr, net: IpAddr, prefix: u8) -> bool {
    // An IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d`.
    let peer = match (peer, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        _ => peer,
    };
    peer.is_ipv4() == net.is_ipv4() && masked(peer, prefix) == masked(net, prefix)
}

impl AllowIps {
    /// Parses Gunicorn's list: `*` anywhere means any peer; otherwise each entry is an address
    /// or a `ADDR/PREFIX` network whose host bits are zero (`192.168.1.1/24` is refused, as
    /// `ipaddress.ip_network` refuses it).
    pub fn parse(entries: &[String]) -> Result<AllowIps, String> {
        if entries.iter().any(|e| e == "*") {
            return Ok(AllowIps::Any);
        }
        entries
            .iter()
            .map(|e| parse_network(e))
            .collect::<Result<_, _>>()
            .map(AllowIps::Nets)
    }
}

fn parse_network(entry: &str) -> Result<(IpAddr, u8), String> {
    let invalid = || format!("{entry:?} does not appear to be an IPv4 or IPv6 network");
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    if masked(addr, prefix) != addr {
        return Err(format!("{entry} has host bits set"));
    }
    Ok((addr, prefix))
}

fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<AllowIps, String> {
        AllowIps::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn star_allows_everyone() {
        assert_eq!(parse(&["10.0.0.1", "*"]), Ok(AllowIps::Any));
    }

    #[test]
    fn addresses_and_networks() {
        let list = parse(&["127.0.0.1", "::1", "10.0.0.0/8"]).expect("valid list");
        assert!(list.allows(Some("10.1.2.3".parse().expect("ip"))));
        assert!(list.allows(Some("::1".parse().expect("ip"))));
        assert!(list.allows(Some("::ffff:127.0.0.1".parse().expect("ip"))));
        assert!(!list.allows(Some("192.168.0.1".parse().expect("ip"))));
        assert!(list.allows(None), "unix-socket peers are trusted");
    }

    #[test]
    fn refuses_what_ip_network_refuses() {
        assert!(parse(&["192.168.1.1/24"]).is_err());
        assert!(parse(&["10.0.0.0/33"]).is_err());
        assert!(parse(&["localhost"]).is_err());
        assert!(parse(&["10.0.0.0/"]).is_err());
        assert!(parse(&[""]).is_err());
    }
}
