//! The Host rules a server MUST apply (RFC 9112 §3.2, §3.2.2, §3.2.3; RFC 9110 §7.2, §4.2):
//! an HTTP/1.1 request without Host, with more than one, or with an invalid value is refused;
//! an absolute-form target's authority is the request's host, whatever Host said; CONNECT's
//! target is a host and a port.

use super::error::ParseError;
use std::net::Ipv6Addr;

/// What the request-target says about the host, by form (RFC 9112 §3.2).
pub(crate) enum TargetHost<'a> {
    /// origin-form or asterisk-form: the host is Host's.
    None,
    /// absolute-form: `scheme://authority…`.
    Absolute { scheme: &'a str, authority: &'a str },
    /// authority-form (CONNECT only).
    Authority(&'a str),
}

impl<'a> TargetHost<'a> {
    pub(crate) fn of(target: &'a str, method: &str) -> TargetHost<'a> {
        if method == "CONNECT" {
            return TargetHost::Authority(target);
        }
        if target.starts_with('/') || target == "*" {
            return TargetHost::None;
        }
        // The scan let only `scheme://…` through (RFC 9112 §3.2.2, RFC 3986 §3.1).
        match target.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                TargetHost::Absolute {
                    scheme,
                    authority: &rest[..end],
                }
            }
            None => TargetHost::None,
        }
    }
}

fn invalid(what: &str) -> ParseError {
    ParseError::InvalidHeader(what.to_string())
}

/// Apply the Host rules to the fields of a request; returns the host the request is for,
/// when the target names one that Host must yield to (RFC 9112 §3.2.2).
pub(crate) fn check_host<'a>(
    headers: &[(String, Vec<u8>)],
    target: &TargetHost<'a>,
    version: (u8, u8),
) -> Result<Option<&'a str>, ParseError> {
    let host = headers.iter().find(|(n, _)| n == "HOST").map(|(_, v)| v);
    // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    // HTTP/1.1 request message that lacks a Host header field" (more than one is refused
    // as the fields arrive, `framing.rs`).
    match host {
        None if version >= (1, 1) => return Err(ParseError::MissingHeader("HOST")),
        Some(value) if !is_host(value, false) => return Err(invalid("HOST")),
        _ => {}
    }
    match target_host(target) {
        Ok(host) => Ok(host),
        Err(authority) => Err(ParseError::InvalidRequestLine(authority.to_string())),
    }
}

/// What a request-target says of the host, from the target alone (the scan asks this as
/// soon as the target ends, so a request no Host could save is refused then): the host the
/// request is for when the target names one Host must yield to, or the authority at fault.
pub(crate) fn target_host<'a>(target: &TargetHost<'a>) -> Result<Option<&'a str>, &'a str> {
    match *target {
        TargetHost::None => Ok(None),
        // RFC 9110 §9.3.6: "CONNECT server.example.com:80": a host and a port, always.
        TargetHost::Authority(authority) => match is_host(authority.as_bytes(), true) {
            true => Ok(None),
            false => Err(authority),
        },
        TargetHost::Absolute { scheme, authority } => {
            let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
            // RFC 9110 §4.2.1: an http(s) URI with an empty host MUST be rejected; §4.2.4:
            // userinfo SHOULD be treated as an error (it is a phishing device).
            let bad = authority.contains('@')
                || !is_host(authority.as_bytes(), false)
                || (http && authority.split(':').next().is_none_or(str::is_empty));
            match bad {
                true => Err(authority),
                // RFC 9112 §3.2.2: the origin server MUST ignore Host and use the target's.
                false => Ok(Some(authority)),
            }
        }
    }
}

/// RFC 9110 §7.2 `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3); with `need_port`, the
/// authority-form's `uri-host ":" port` with a port present.
fn is_host(value: &[u8], need_port: bool) -> bool {
    let (host, port) = match value.first() {
        Some(b'[') => match memchr::memchr(b']', value) {
            Some(close) => {
                let literal = &value[1..close];
                if !is_ip_literal(literal) {
                    return false;
                }
                match &value[close + 1..] {
                    [] => (&value[..=close], None),
                    [b':', port @ ..] => (&value[..=close], Some(port)),
                    _ => return false,
                }
            }
            None => return false,
        },
        // A plain search: a Host is a few bytes, where memchr's vector setup cost more.
        _ => match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        },
    };
    let port_ok = port.is_none_or(|p| p.iter().all(u8::is_ascii_digit));
    let has_port = port.is_some_and(|p| !p.is_empty());
    port_ok && (!need_port || has_port) && (host.starts_with(b"[") || is_reg_name(host))
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, which IPv4 addresses also match.
fn is_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            let hex = host.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !REG_NAME[usize::from(b)] {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 3986 §2.3 unreserved and §2.2 sub-delims, one lookup per byte of a Host.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

/// `IP-literal` inside the brackets: an IPv6 address or `IPvFuture` (RFC 3986 §3.2.2).
fn is_ip_literal(literal: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = literal {
        let Some(dot) = memchr::memchr(b'.', rest) else {
            return false;
        };
        let (hex, text) = (&rest[..dot], &rest[dot + 1..]);
        let text_ok = text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(&b));
        return !hex.is_empty()
            && hex.iter().all(u8::is_ascii_hexdigit)
            && !text.is_empty()
            && text_ok;
    }
    std::str::from_utf8(literal).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::is_host;

    #[test]
    fn host_values_follow_rfc3986() {
        for good in [
            "",
            "example.com",
            "example.com:8080",
            "example.com:",
            "127.0.0.1",
            "[::1]",
            "[::1]:80",
            "[v1.fe80::a+en1]",
            "a%20b",
            "xn--nxasmq6b.example",
        ] {
            assert!(is_host(good.as_bytes(), false), "{good:?}");
        }
        for bad in [
            "exa mple.com",
            "a/b",
            "a:b",
            "[::1",
            "[::1]x",
            "[zz]",
            "a@b",
            "a%2",
            "h:1:2",
            "\u{e9}.example",
        ] {
            assert!(!is_host(bad.as_bytes(), false), "{bad:?}");
        }
        assert!(is_host(b"example.com:443", true));
        assert!(!is_host(b"example.com", true), "CONNECT needs the port");
        assert!(!is_host(b"example.com:", true));
    }
}
