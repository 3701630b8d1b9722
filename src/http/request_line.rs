//! The request-line (RFC 9112 §3): method, request-target, HTTP-version, with Gunicorn 27's
//! rules, and the target split into path / query / fragment the way Python's
//! `urllib.parse.urlsplit` does it (Gunicorn's `split_request_uri`).

use super::error::{ParseError, VersionText};
use super::fields::is_tchar;
use super::repr::latin1;
use std::net::Ipv6Addr;

/// A validated request-line.
#[derive(Debug)]
pub(crate) struct RequestLine {
    pub method: String,
    pub uri: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
    pub version: (u8, u8),
}

/// Method rules that are configurable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MethodRules {
    pub permit_unconventional_http_method: bool,
    pub casefold_http_method: bool,
    pub permit_unconventional_http_version: bool,
}

pub(crate) fn parse_request_line(
    line: &[u8],
    rules: MethodRules,
) -> Result<RequestLine, ParseError> {
    let bad_line = || ParseError::InvalidRequestLine(latin1(line));
    // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
    let mut bits = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (bits.next(), bits.next(), bits.next())
    else {
        return Err(bad_line());
    };
    let method = check_method(method, rules)?;
    check_target(target, &method).map_err(|()| bad_line())?;
    let uri = ascii(target).ok_or_else(bad_line)?;
    let (path, query, fragment) = split_target(&uri).map_err(|()| bad_line())?;
    let version = check_version(version, rules.permit_unconventional_http_version)?;
    Ok(RequestLine {
        method,
        uri,
        path,
        query,
        fragment,
        version,
    })
}

/// RFC 9110 §9.1: the method is a case-sensitive token. Gunicorn additionally refuses
/// lowercase, `#` and lengths outside 3..=20 unless `permit_unconventional_http_method`.
fn check_method(method: &[u8], rules: MethodRules) -> Result<String, ParseError> {
    let bad = || ParseError::InvalidRequestMethod(latin1(method));
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    if !rules.permit_unconventional_http_method {
        let odd = method.iter().any(|&b| b.is_ascii_lowercase() || b == b'#');
        if odd || !(3..=20).contains(&method.len()) {
            return Err(bad());
        }
    }
    let method = ascii(method).ok_or_else(bad)?;
    // RFC 9110 §9.1 says methods are case-sensitive; folding is an explicit opt-in.
    Ok(if rules.casefold_http_method {
        method.to_ascii_uppercase()
    } else {
        method
    })
}

/// Bytes already checked to be ASCII (a token, visible ASCII) as text: one check and one
/// copy, where `latin1` checks twice before it copies.
fn ascii(checked: &[u8]) -> Option<String> {
    std::str::from_utf8(checked).ok().map(str::to_owned)
}

/// RFC 9112 §3.2: the four target forms, and nothing but visible ASCII (Gunicorn 27).
fn check_target(target: &[u8], method: &str) -> Result<(), ()> {
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(());
    }
    // §3.2.4 asterisk-form only for OPTIONS.
    if target == b"*" {
        return if method == "OPTIONS" { Ok(()) } else { Err(()) };
    }
    // §3.2.1 origin-form or §3.2.2 absolute-form.
    if target.starts_with(b"/") || memchr::memmem::find(target, b"://").is_some() {
        return Ok(());
    }
    // §3.2.3 authority-form only for CONNECT.
    if method == "CONNECT" {
        Ok(())
    } else {
        Err(())
    }
}

/// `HTTP/<digit>.<digit>` (RFC 9112 §2.3); 1.0 ≤ version < 2.0 unless permitted.
pub(crate) fn check_version(version: &[u8], permit_any: bool) -> Result<(u8, u8), ParseError> {
    let &[b'H', b'T', b'T', b'P', b'/', major, b'.', minor] = version else {
        return Err(ParseError::InvalidHTTPVersion(VersionText::Raw(latin1(
            version,
        ))));
    };
    if !major.is_ascii_digit() || !minor.is_ascii_digit() {
        return Err(ParseError::InvalidHTTPVersion(VersionText::Raw(latin1(
            version,
        ))));
    }
    let parsed = (major - b'0', minor - b'0');
    if parsed.0 != 1 && !permit_any {
        return Err(ParseError::InvalidHTTPVersion(VersionText::Parsed(
            parsed.0, parsed.1,
        )));
    }
    Ok(parsed)
}

/// Path, query and fragment as `urllib.parse.urlsplit` gives them; `Err` where urlsplit
/// raises `ValueError` (unbalanced or invalid brackets in the authority). A leading `//`
/// is a path, not an authority (RFC 9112 §3.2.1 origin-form).
pub(crate) fn split_target(uri: &str) -> Result<(String, String, String), ()> {
    let mut rest = uri;
    // A target starting with `/` has no scheme (one starts with a letter), so no authority
    // either: only the query and fragment to split off.
    if !uri.starts_with('/') {
        rest = strip_scheme(rest);
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            check_netloc(&after[..end])?;
            rest = &after[end..];
        }
    }
    // The first `#` starts the fragment, the first `?` before it the query (one scan for both).
    let bytes = rest.as_bytes();
    let (path, query, fragment) = match memchr::memchr2(b'?', b'#', bytes) {
        None => (rest, "", ""),
        Some(i) if bytes[i] == b'#' => (&rest[..i], "", &rest[i + 1..]),
        Some(i) => {
            let after = &rest[i + 1..];
            let (query, fragment) = after.split_once('#').unwrap_or((after, ""));
            (&rest[..i], query, fragment)
        }
    };
    Ok((path.to_string(), query.to_string(), fragment.to_string()))
}

/// urlsplit's scheme rule: `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")` before the first `:`.
fn strip_scheme(uri: &str) -> &str {
    let Some(colon) = uri.find(':') else {
        return uri;
    };
    let scheme = &uri[..colon];
    let starts_alpha = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic());
    let all_scheme = scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if starts_alpha && all_scheme {
        &uri[colon + 1..]
    } else {
        uri
    }
}

/// urlsplit's bracket checks: balanced, and a bracketed host is IPv6 or `v<hex>.<text>`.
fn check_netloc(netloc: &str) -> Result<(), ()> {
    match (netloc.find('['), netloc.find(']')) {
        (None, None) => Ok(()),
        (Some(open), Some(_)) => {
            let inner = &netloc[open + 1..];
            let host = &inner[..inner.find(']').ok_or(())?];
            check_bracketed_host(host)
        }
        _ => Err(()),
    }
}

fn check_bracketed_host(host: &str) -> Result<(), ()> {
    if let Some(future) = host.strip_prefix('v') {
        let (hex, text) = future.split_once('.').ok_or(())?;
        let ok = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) && !text.is_empty();
        return if ok { Ok(()) } else { Err(()) };
    }
    let addr = host.split_once('%').map_or(host, |(addr, _zone)| addr);
    addr.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| ())
}
