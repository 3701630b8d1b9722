//! The uwsgi protocol: the binary packets nginx's `uwsgi_pass` sends (uWSGI docs, "The uwsgi
//! Protocol"; Gunicorn 24+ `gunicorn/uwsgi/message.py`), read into the same [`RequestHead`]
//! the HTTP parser makes, so every worker kind serves them unchanged. No I/O.
//!
//! A packet is a 4-byte header — modifier1 (0: a WSGI request), the size of the vars block as
//! a 16-bit little-endian number, modifier2 — then the vars block: pairs of 16-bit-LE
//! length-prefixed keys and values, CGI variables (RFC 3875 §4.1) and one `HTTP_*` per request
//! field. The body follows: exactly `CONTENT_LENGTH` bytes, the front having removed any
//! transfer coding. The answer is a plain HTTP response whose body may not be chunked, and
//! the connection closes after it.
//!
//! Where Gunicorn is lenient this parser is strict, since every packet comes from a front that
//! writes well-formed ones: a malformed `CONTENT_LENGTH` (Gunicorn reads 0 and leaves the body
//! unread, to be taken as the next packet), a repeated `CONTENT_LENGTH`, a field name that is
//! not a token or a value with CR, LF or NUL is refused, never guessed at.

use super::error::ParseError;
use super::fields::is_tchar;
use super::repr::latin1;
use super::request::{BodyKind, PeerTrust, Protocol, Remote, RequestHead};

/// modifier1, datasize (2 bytes), modifier2.
const HEADER_LEN: usize = 4;
/// Gunicorn's `MAX_UWSGI_VARS`: what one packet may make the parser do is bounded.
const MAX_VARS: usize = 1000;

/// Parse one uwsgi request packet's header and vars block from the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((head, consumed)))`: the body starts at
/// `buf[consumed..]`. A peer outside `uwsgi_allow_ips` is refused at its first byte, as
/// Gunicorn refuses it before reading anything.
pub fn parse_packet(
    buf: &[u8],
    trust: PeerTrust,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    if !trust.uwsgi {
        return Err(ParseError::ForbiddenUWSGIRequest);
    }
    // Only modifier1 0 (a WSGI/HTTP request) is served: refused as soon as it is here.
    match buf.first() {
        None => return Ok(None),
        Some(&0) => {}
        Some(&other) => return Err(ParseError::UnsupportedModifier(other)),
    }
    let Some(&[_, size_lo, size_hi, _modifier2]) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let end = HEADER_LEN + usize::from(u16::from_le_bytes([size_lo, size_hi]));
    let Some(block) = buf.get(HEADER_LEN..end) else {
        return Ok(None);
    };
    let mut cgi = Cgi::default();
    let mut pos = 0;
    let mut count = 0;
    while pos < block.len() {
        if count == MAX_VARS {
            return Err(invalid("too many variables"));
        }
        let (key, value) = next_var(block, &mut pos)?;
        cgi.accept(key, value)?;
        count += 1;
    }
    Ok(Some((cgi.into_head()?, end)))
}

fn invalid(why: &'static str) -> ParseError {
    ParseError::InvalidUWSGIHeader(why)
}

/// The key and value at `pos` of the vars block; `pos` moves past them. Gunicorn's messages.
fn next_var<'a>(block: &'a [u8], pos: &mut usize) -> Result<(&'a [u8], &'a [u8]), ParseError> {
    let key = sized(block, pos, "truncated key size", "truncated key")?;
    let value = sized(block, pos, "truncated value size", "truncated value")?;
    Ok((key, value))
}

/// A 16-bit little-endian length and that many bytes.
fn sized<'a>(
    block: &'a [u8],
    pos: &mut usize,
    short_size: &'static str,
    short_data: &'static str,
) -> Result<&'a [u8], ParseError> {
    let Some(&[lo, hi]) = block.get(*pos..*pos + 2) else {
        return Err(invalid(short_size));
    };
    let start = *pos + 2;
    let end = start + usize::from(u16::from_le_bytes([lo, hi]));
    let data = block.get(start..end).ok_or(invalid(short_data))?;
    *pos = end;
    Ok(data)
}

/// The variables a head is made of, as the packet had them (the last of a repeated one wins,
/// as in Gunicorn's dict, except `CONTENT_LENGTH`, which may come once).
#[derive(Default)]
struct Cgi<'a> {
    method: Option<&'a [u8]>,
    path_info: Option<&'a [u8]>,
    query: Option<&'a [u8]>,
    request_uri: Option<&'a [u8]>,
    protocol: Option<&'a [u8]>,
    body: Option<BodyKind>,
    remote_addr: Option<&'a [u8]>,
    remote_port: Option<&'a [u8]>,
    /// `HTTPS` (nginx's `$https`: `on` under TLS).
    https: Option<&'a [u8]>,
    /// `UWSGI_SCHEME`, `wsgi.url_scheme`, `REQUEST_SCHEME`: the scheme by name, in that order
    /// of precedence (uWSGI's var, Gunicorn's, nginx's `uwsgi_params`).
    schemes: [Option<&'a [u8]>; 3],
    headers: Vec<(String, Vec<u8>)>,
}

impl<'a> Cgi<'a> {
    fn accept(&mut self, key: &'a [u8], value: &'a [u8]) -> Result<(), ParseError> {
        match key {
            b"REQUEST_METHOD" => self.method = Some(value),
            b"PATH_INFO" => self.path_info = Some(value),
            b"QUERY_STRING" => self.query = Some(value),
            b"REQUEST_URI" => self.request_uri = Some(value),
            b"SERVER_PROTOCOL" => self.protocol = Some(value),
            b"REMOTE_ADDR" => self.remote_addr = Some(value),
            b"REMOTE_PORT" => self.remote_port = Some(value),
            b"HTTPS" => self.https = Some(value),
            b"UWSGI_SCHEME" => self.schemes[0] = Some(value),
            b"wsgi.url_scheme" => self.schemes[1] = Some(value),
            b"REQUEST_SCHEME" => self.schemes[2] = Some(value),
            b"CONTENT_LENGTH" => self.content_length(value)?,
            // RFC 3875 §4.1.3; nginx sends it empty when the request has none.
            b"CONTENT_TYPE" if !value.is_empty() => {
                self.headers.push(("CONTENT-TYPE".into(), value.to_vec()))
            }
            // DOCUMENT_ROOT, SERVER_NAME, SERVER_PORT…: the environ takes the server's own
            // from the socket, as Gunicorn's does.
            _ => {
                if let Some(name) = key.strip_prefix(b"HTTP_") {
                    self.field(name, value)?;
                }
            }
        }
        Ok(())
    }

    /// RFC 3875 §4.1.2: the body's length, decimal digits; empty (nginx, no body) means none.
    /// The body is exactly this long: it is the only framing the packet has.
    fn content_length(&mut self, value: &[u8]) -> Result<(), ParseError> {
        if self.body.is_some() {
            return Err(invalid("repeated CONTENT_LENGTH"));
        }
        if value.is_empty() {
            self.body = Some(BodyKind::Empty);
            return Ok(());
        }
        let length = std::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(invalid("invalid CONTENT_LENGTH"))?;
        self.body = Some(BodyKind::Length(length));
        self.headers.push(("CONTENT-LENGTH".into(), value.to_vec()));
        Ok(())
    }

    /// `HTTP_X_FORWARDED_FOR` → `X-FORWARDED-FOR` (the CGI mapping reversed, as Gunicorn does;
    /// `_` and `-` are one character after it).
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), ParseError> {
        // The front's copies of the framing fields: the packet's own CONTENT_LENGTH and
        // CONTENT_TYPE stand for them (nginx sends both), and the body already had its
        // transfer coding removed — a `Transfer-Encoding: chunked` beside a plain body would
        // tell the app something false.
        if matches!(
            name,
            b"CONTENT_LENGTH" | b"CONTENT_TYPE" | b"TRANSFER_ENCODING"
        ) {
            return Ok(());
        }
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(invalid("invalid header name"));
        }
        // RFC 9110 §5.5: no CR, LF or NUL in a field value, whoever relays it.
        if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(invalid("invalid header value"));
        }
        let name: String = name
            .iter()
            .map(|&b| match b {
                b'_' => '-',
                _ => char::from(b.to_ascii_uppercase()),
            })
            .collect();
        self.headers.push((name, value.to_vec()));
        Ok(())
    }

    fn into_head(self) -> Result<RequestHead, ParseError> {
        let method = match self.method {
            None => "GET".to_owned(),
            Some(m) if !m.is_empty() && m.iter().all(|&b| is_tchar(b)) => latin1(m),
            Some(_) => return Err(invalid("invalid REQUEST_METHOD")),
        };
        let (path, query, uri) = self.target();
        Ok(RequestHead {
            method,
            uri,
            path,
            query,
            fragment: String::new(),
            version: version(self.protocol),
            body: self.body.unwrap_or(BodyKind::Empty),
            // nginx answers `Expect: 100-continue` itself, before it sends the packet.
            expect_continue: false,
            // One request per connection, as uWSGI serves the protocol (it closes after every
            // response) and as nginx uses it: its uwsgi module never keeps an upstream
            // connection (not even with `keepalive` in the upstream block) and closes it once
            // the response is in. Waiting for that close instead (Gunicorn keeps the
            // connection) cost an epoll registration, a wake-up and a read per request, and
            // left the TIME_WAIT on the front's ephemeral ports. The client's `Connection`
            // field says nothing about this connection: it is the front's.
            must_close: true,
            secure_scheme: self.scheme(),
            proxy: None,
            remote: self.remote(),
            protocol: Protocol::Uwsgi,
            headers: self.headers,
        })
    }

    /// (path, query, RAW_URI). `PATH_INFO` is what the front routed (nginx's `$document_uri`:
    /// decoded and normalised), so it is the path; it is escaped back here because the head's
    /// path is kept undecoded (the environ decodes it once). `REQUEST_URI` is the raw target.
    fn target(&self) -> (String, String, String) {
        let raw = self.request_uri.unwrap_or_default();
        let (raw_path, raw_query) = match raw.iter().position(|&b| b == b'?') {
            Some(q) => (&raw[..q], &raw[q + 1..]),
            None => (raw, &b""[..]),
        };
        let path = match (self.path_info, raw_path.is_empty()) {
            (Some(decoded), _) => escape(decoded, b"%?#"),
            (None, false) => escape(raw_path, b""),
            (None, true) => "/".to_owned(),
        };
        let query = escape(self.query.unwrap_or(raw_query), b"#");
        let uri = match (raw.is_empty(), query.is_empty()) {
            (false, _) => escape(raw, b""),
            (true, true) => path.clone(),
            (true, false) => format!("{path}?{query}"),
        };
        (path, query, uri)
    }

    /// https when `HTTPS` is on (nginx's `uwsgi_params`: `HTTPS $https if_not_empty`), else
    /// the scheme a var names; `None` (the listener's) when none does.
    fn scheme(&self) -> Option<bool> {
        let on = |v: &[u8]| {
            [&b"on"[..], b"1", b"true"]
                .iter()
                .any(|w| v.eq_ignore_ascii_case(w))
        };
        if self.https.is_some_and(on) {
            return Some(true);
        }
        self.schemes
            .iter()
            .flatten()
            .find_map(|s| match s.to_ascii_lowercase().as_slice() {
                b"https" => Some(true),
                b"http" => Some(false),
                _ => None,
            })
    }

    fn remote(&self) -> Option<Remote> {
        let addr = self.remote_addr.filter(|a| !a.is_empty())?;
        let port = self
            .remote_port
            .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok());
        Some(Remote {
            addr: latin1(addr),
            port,
        })
    }
}

/// `SERVER_PROTOCOL` as (major, minor): `HTTP/1.0` stays 1.0 for the app; anything that is not
/// `HTTP/d.d` is taken as 1.1 (the front speaks HTTP/1.1 to us whatever the client spoke).
fn version(protocol: Option<&[u8]>) -> (u8, u8) {
    match protocol {
        Some(&[b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (major - b'0', minor - b'0')
        }
        _ => (1, 1),
    }
}

/// Bytes as a target string the head can hold: visible ASCII as itself except `also`, every
/// other byte `%XX` (RFC 3986 §2.1), so decoding it once gives the bytes back.
fn escape(bytes: &[u8], also: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x21..0x7f).contains(&b) && !also.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
#[path = "uwsgi_tests.rs"]
mod tests;
