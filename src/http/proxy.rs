//! PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy and load balancers in
//! front of the server (haproxy.org `proxy-protocol.txt`). Only looked for at the start of a
//! connection; the peer must be allowed (`proxy_allow_ips`) or the request is refused (403).

use super::error::ParseError;
use super::repr::latin1;
use super::request::{PeerTrust, ProxyInfo, ProxyProtocol};
use std::net::{Ipv4Addr, Ipv6Addr};

/// proxy-protocol.txt §2.2: the 12-byte v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\x00\r\nQUIT\n";

/// What the start of a connection holds.
#[derive(Debug)]
pub(crate) enum Proxy {
    /// Too few bytes to tell or to finish the header.
    Incomplete,
    /// No PROXY header: plain HTTP starts at byte 0.
    Absent,
    /// A PROXY header of this many bytes.
    Found(ProxyInfo, usize),
}

pub(crate) fn parse_proxy(
    buf: &[u8],
    mode: ProxyProtocol,
    trust: PeerTrust,
    line_limit: usize,
) -> Result<Proxy, ParseError> {
    let v1 = matches!(mode, ProxyProtocol::V1 | ProxyProtocol::Auto);
    let v2 = matches!(mode, ProxyProtocol::V2 | ProxyProtocol::Auto);
    if v2 && buf.len() < V2_SIGNATURE.len() && V2_SIGNATURE.starts_with(buf) {
        return Ok(Proxy::Incomplete);
    }
    if v1 && buf.len() < 6 && b"PROXY ".starts_with(buf) {
        return Ok(Proxy::Incomplete);
    }
    let is_v2 = v2 && buf.starts_with(V2_SIGNATURE);
    let is_v1 = v1 && buf.starts_with(b"PROXY ");
    if !is_v1 && !is_v2 {
        return Ok(Proxy::Absent);
    }
    if !trust.proxy {
        return Err(ParseError::ForbiddenProxyRequest);
    }
    if is_v2 {
        parse_v2(buf)
    } else {
        parse_v1(buf, line_limit)
    }
}

/// v1: `PROXY TCP4|TCP6 src dst sport dport\r\n` (or `PROXY UNKNOWN …\r\n`).
fn parse_v1(buf: &[u8], line_limit: usize) -> Result<Proxy, ParseError> {
    let Some(end) = super::find_crlf(buf) else {
        if buf.len() > line_limit + 1 {
            return Err(ParseError::LimitRequestLine {
                size: buf.len(),
                limit: line_limit,
            });
        }
        return Ok(Proxy::Incomplete);
    };
    if end > line_limit {
        return Err(ParseError::LimitRequestLine {
            size: end,
            limit: line_limit,
        });
    }
    let line = latin1(&buf[..end]);
    let bits: Vec<&str> = line.split_ascii_whitespace().collect();
    // proxy-protocol.txt §2.1: UNKNOWN means "use the real connection", rest ignored.
    if bits.get(1) == Some(&"UNKNOWN") {
        let info = ProxyInfo {
            protocol: "UNKNOWN".into(),
            client_addr: String::new(),
            client_port: 0,
            proxy_addr: String::new(),
            proxy_port: 0,
        };
        return Ok(Proxy::Found(info, end + 2));
    }
    let &[_, proto, src, dst, sport, dport] = bits.as_slice() else {
        return Err(ParseError::InvalidProxyLine(line.clone()));
    };
    let valid_addrs = match proto {
        "TCP4" => src.parse::<Ipv4Addr>().is_ok() && dst.parse::<Ipv4Addr>().is_ok(),
        "TCP6" => src.parse::<Ipv6Addr>().is_ok() && dst.parse::<Ipv6Addr>().is_ok(),
        _ => {
            return Err(ParseError::InvalidProxyLine(format!(
                "protocol '{proto}' not supported"
            )))
        }
    };
    if !valid_addrs {
        return Err(ParseError::InvalidProxyLine(line.clone()));
    }
    let (Some(client_port), Some(proxy_port)) = (parse_port(sport), parse_port(dport)) else {
        return Err(ParseError::InvalidProxyLine(format!("invalid port {line}")));
    };
    let info = ProxyInfo {
        protocol: proto.into(),
        client_addr: src.into(),
        client_port,
        proxy_addr: dst.into(),
        proxy_port,
    };
    Ok(Proxy::Found(info, end + 2))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// v2: signature, ver/cmd, family/protocol, big-endian length, addresses (§2.2).
fn parse_v2(buf: &[u8]) -> Result<Proxy, ParseError> {
    let Some(&[ver_cmd, fam_proto, len_hi, len_lo]) = buf.get(12..16) else {
        return Ok(Proxy::Incomplete);
    };
    let total = 16 + usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let Some(addrs) = buf.get(16..total) else {
        return Ok(Proxy::Incomplete);
    };
    let invalid = |why: &str| ParseError::InvalidProxyLine(why.to_string());
    if ver_cmd >> 4 != 2 {
        return Err(invalid("unsupported PROXY v2 version"));
    }
    let info = match (ver_cmd & 0x0f, fam_proto >> 4, fam_proto & 0x0f) {
        // LOCAL: the proxy's own connection (health check); addresses are ignored.
        (0x0, _, _) => unknown_info("LOCAL"),
        (0x1, 0x0, _) => unknown_info("UNKNOWN"),
        (0x1, 0x1, 0x1) => {
            inet_info("TCP4", addrs, 4).ok_or_else(|| invalid("short PROXY v2 address"))?
        }
        (0x1, 0x2, 0x1) => {
            inet_info("TCP6", addrs, 16).ok_or_else(|| invalid("short PROXY v2 address"))?
        }
        (0x1, _, _) => return Err(invalid("unsupported PROXY v2 family or protocol")),
        _ => return Err(invalid("unsupported PROXY v2 command")),
    };
    Ok(Proxy::Found(info, total))
}

fn unknown_info(protocol: &str) -> ProxyInfo {
    ProxyInfo {
        protocol: protocol.into(),
        client_addr: String::new(),
        client_port: 0,
        proxy_addr: String::new(),
        proxy_port: 0,
    }
}

/// src addr, dst addr, src port, dst port; `width` is 4 (IPv4) or 16 (IPv6).
fn inet_info(protocol: &str, addrs: &[u8], width: usize) -> Option<ProxyInfo> {
    let src = addrs.get(..width)?;
    let dst = addrs.get(width..2 * width)?;
    let ports = addrs.get(2 * width..2 * width + 4)?;
    let text = |a: &[u8]| -> Option<String> {
        Some(if width == 4 {
            Ipv4Addr::from(<[u8; 4]>::try_from(a).ok()?).to_string()
        } else {
            Ipv6Addr::from(<[u8; 16]>::try_from(a).ok()?).to_string()
        })
    };
    Some(ProxyInfo {
        protocol: protocol.into(),
        client_addr: text(src)?,
        client_port: u16::from_be_bytes([ports[0], ports[1]]),
        proxy_addr: text(dst)?,
        proxy_port: u16::from_be_bytes([ports[2], ports[3]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> PeerTrust {
        PeerTrust {
            proxy: true,
            ..PeerTrust::default()
        }
    }

    /// A v2 header: command, family/protocol, then `rest` (addresses and TLVs).
    fn v2(cmd: u8, fam: u8, rest: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.extend_from_slice(&[0x20 | cmd, fam]);
        out.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        out.extend_from_slice(rest);
        out
    }

    fn found(buf: &[u8]) -> (ProxyInfo, usize) {
        match parse_proxy(buf, ProxyProtocol::Auto, trusted(), 4094) {
            Ok(Proxy::Found(info, len)) => (info, len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v2_tlvs_after_the_addresses_are_skipped_whole() {
        // TCP4 10.0.0.1:4000 → 10.0.0.2:80, then HAProxy's TLVs: PP2_TYPE_UNIQUE_ID (0x05)
        // and PP2_TYPE_CRC32C (0x03), each type, 16-bit length, value (§2.2.7).
        let mut rest = vec![10, 0, 0, 1, 10, 0, 0, 2, 0x0f, 0xa0, 0, 80];
        rest.extend_from_slice(&[0x05, 0, 4, b'a', b'b', b'c', b'd']);
        rest.extend_from_slice(&[0x03, 0, 4, 1, 2, 3, 4]);
        let mut raw = v2(0x1, 0x11, &rest);
        let header = raw.len();
        raw.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let (info, used) = found(&raw);
        assert_eq!(used, header, "the request starts right after the TLVs");
        assert_eq!(
            (info.client_addr.as_str(), info.client_port),
            ("10.0.0.1", 4000)
        );
        for cut in 0..header {
            let got = parse_proxy(&raw[..cut], ProxyProtocol::Auto, trusted(), 4094);
            assert!(matches!(got, Ok(Proxy::Incomplete)), "cut {cut}: {got:?}");
        }
    }

    #[test]
    fn v2_local_has_no_addresses_whatever_follows() {
        // A health check: LOCAL with an AF_INET block the receiver must ignore (§2.2).
        let raw = v2(0x0, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]);
        let (info, used) = found(&raw);
        assert_eq!(
            (info.protocol.as_str(), info.client_addr.as_str()),
            ("LOCAL", "")
        );
        assert_eq!(used, raw.len());
        let (info, _) = found(&v2(0x0, 0x00, &[]));
        assert_eq!(info.protocol, "LOCAL");
    }

    #[test]
    fn v2_refusals() {
        let bad = |raw: &[u8]| parse_proxy(raw, ProxyProtocol::V2, trusted(), 4094).is_err();
        assert!(bad(&v2(0x2, 0x11, &[0; 12])), "unknown command");
        assert!(bad(&v2(0x1, 0x11, &[0; 11])), "short address block");
        assert!(bad(&v2(0x1, 0x12, &[0; 12])), "UDP");
        let mut wrong_version = v2(0x1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        assert!(bad(&wrong_version));
        let untrusted = parse_proxy(
            &v2(0x1, 0x11, &[0; 12]),
            ProxyProtocol::V2,
            PeerTrust::default(),
            4094,
        );
        assert_eq!(untrusted.err(), Some(ParseError::ForbiddenProxyRequest));
    }
}
