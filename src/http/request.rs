//! Request heads: request line, header fields, body framing, persistence (RFC 9112 §3–§6).

use super::error::ParseError;
use super::fields::{parse_fields, Limits, Syntax};
use super::framing::{body_framing, expects_continue, must_close, HeadFields};
use super::host::{check_host, TargetHost};
use super::proxy::{parse_proxy, Proxy};
use super::request_line::{parse_request_line, MethodRules, RequestLine};
use super::scan::HeadScan;

pub use crate::config::{HeaderMap, Protocol, ProxyProtocol};

/// Parser settings, taken from `Config` once per worker.
#[derive(Debug, Clone)]
pub struct ParserConfig {
    /// Max request-line bytes without CRLF; 0 = unlimited (already normalised by config).
    pub limit_request_line: usize,
    pub limit_request_fields: usize,
    pub limit_request_field_size: usize,
    pub permit_obsolete_folding: bool,
    pub strip_header_spaces: bool,
    pub permit_unconventional_http_method: bool,
    pub permit_unconventional_http_version: bool,
    pub casefold_http_method: bool,
    pub header_map: HeaderMap,
    /// Upper-case names a trusted peer may send although they contain `_`.
    pub forwarder_headers: Vec<String>,
    /// Upper-case header name → the value that means https.
    pub secure_scheme_headers: Vec<(String, String)>,
    pub proxy_protocol: ProxyProtocol,
    /// What the connection speaks: HTTP/1.x, or uwsgi packets from a front (`protocol`).
    pub protocol: Protocol,
}

impl Default for ParserConfig {
    /// Gunicorn 27's defaults.
    fn default() -> Self {
        ParserConfig {
            limit_request_line: 4094,
            limit_request_fields: 100,
            limit_request_field_size: 8190,
            permit_obsolete_folding: false,
            strip_header_spaces: false,
            permit_unconventional_http_method: false,
            permit_unconventional_http_version: false,
            casefold_http_method: false,
            header_map: HeaderMap::Drop,
            forwarder_headers: vec!["SCRIPT_NAME".into(), "PATH_INFO".into()],
            secure_scheme_headers: vec![
                ("X-FORWARDED-PROTOCOL".into(), "ssl".into()),
                ("X-FORWARDED-PROTO".into(), "https".into()),
                ("X-FORWARDED-SSL".into(), "on".into()),
            ],
            proxy_protocol: ProxyProtocol::Off,
            protocol: Protocol::Http,
        }
    }
}

/// What the worker knows about the peer, decided from `forwarded_allow_ips`,
/// `proxy_allow_ips` and `uwsgi_allow_ips`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerTrust {
    /// Peer may set `secure_scheme_headers` and `forwarder_headers`.
    pub forwarded: bool,
    /// Peer may send a PROXY protocol header.
    pub proxy: bool,
    /// Peer may send uwsgi packets (and with them the client's address and scheme).
    pub uwsgi: bool,
}

/// How the request body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No Content-Length and no Transfer-Encoding: zero bytes, never read to EOF.
    Empty,
    Length(u64),
    Chunked,
}

/// A parsed PROXY protocol header (v1 or v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// `TCP4`, `TCP6`, `UNKNOWN` (v1) or `LOCAL`.
    pub protocol: String,
    pub client_addr: String,
    pub client_port: u16,
    pub proxy_addr: String,
    pub proxy_port: u16,
}

/// The client's address as a trusted front reported it in the request itself (uwsgi's
/// `REMOTE_ADDR`/`REMOTE_PORT`): it stands for the peer in the environ and the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// As the front wrote it (nginx says `unix:` for a client on a Unix socket).
    pub addr: String,
    pub port: Option<u16>,
}

/// A request head, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request-target exactly as received (`RAW_URI`).
    pub uri: String,
    /// Path, query and fragment as split from the target, not percent-decoded.
    pub path: String,
    pub query: String,
    pub fragment: String,
    pub version: (u8, u8),
    /// Field names upper-cased, values trimmed of SP/HTAB, wire order; names with `_` already
    /// dropped per `header_map`. Values are raw bytes (obs-text is latin-1 to WSGI).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: BodyKind,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
    /// The connection must close after this request (RFC 9112 §9.3 and Gunicorn's rules).
    pub must_close: bool,
    /// `https` when a trusted peer sent a matching secure-scheme header, else `None`.
    pub secure_scheme: Option<bool>,
    /// PROXY protocol header seen before this request, if any.
    pub proxy: Option<ProxyInfo>,
    /// The client's address from a uwsgi packet, if the front sent one.
    pub remote: Option<Remote>,
    /// How the head arrived, which decides how the response may be framed.
    pub protocol: Protocol,
}

impl RequestHead {
    /// May the response be chunked (RFC 9112 §7.1: to HTTP/1.1) and be preceded by interim
    /// 1xx responses (RFC 9110 §15.2)? Never behind uwsgi: the front copies the response body
    /// as it comes, up to the close (Gunicorn 27's `is_chunked`), and nginx's uwsgi module
    /// takes the first status line it reads for the response's.
    pub fn may_chunk(&self) -> bool {
        self.version >= (1, 1) && self.protocol == Protocol::Http
    }

    /// The client as a front told it in the request — uwsgi's `REMOTE_ADDR`/`REMOTE_PORT`, a
    /// PROXY header's source — if one did. It stands for the socket's peer (the front itself)
    /// wherever the client is named: the environ, the access log's `h` (Gunicorn's is the
    /// environ's `REMOTE_ADDR`), the ASGI scope.
    pub fn told_client(&self) -> Option<(&str, Option<u16>)> {
        if let Some(remote) = &self.remote {
            return Some((&remote.addr, remote.port));
        }
        let proxy = self.proxy.as_ref().filter(|p| !p.client_addr.is_empty())?;
        Some((&proxy.client_addr, Some(proxy.client_port)))
    }

    /// The first value of a header, by upper-case name.
    pub fn header(&self, upper_name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == upper_name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parse one request head from the start of `buf`.
///
/// `Ok(None)`: more bytes are needed (and none of the limits is exceeded yet).
/// `Ok(Some((head, consumed)))`: `consumed` bytes (including any PROXY header and the blank
/// line) form the head; the body starts at `buf[consumed..]`.
/// `first_on_connection`: a PROXY protocol header is only looked for on the first request.
///
/// Refused as soon as the bytes so far cannot start a valid request (`scan.rs`), so a client
/// cannot make the caller buffer more than the request-line limit plus
/// `fields * (field_size + 2) + 4` bytes, nor wait for a line end that settles nothing.
pub fn parse_head(
    buf: &[u8],
    cfg: &ParserConfig,
    trust: PeerTrust,
    first_on_connection: bool,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    resume_head(
        &mut HeadScan::default(),
        buf,
        cfg,
        trust,
        first_on_connection,
    )
}

/// [`parse_head`] for a buffer that only grows between calls: `scan` keeps how far the bytes
/// were checked, so each call costs the new bytes, and the head is parsed once, when whole.
/// Start each request with a fresh `HeadScan`.
pub fn resume_head(
    scan: &mut HeadScan,
    buf: &[u8],
    cfg: &ParserConfig,
    trust: PeerTrust,
    first_on_connection: bool,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let limits = cfg.limits();
    let mut pos = 0;
    let mut proxy = None;
    if first_on_connection && cfg.proxy_protocol != ProxyProtocol::Off {
        match parse_proxy(buf, cfg.proxy_protocol, trust, limits.line)? {
            Proxy::Incomplete => return Ok(None),
            Proxy::Absent => {}
            Proxy::Found(info, len) => {
                proxy = Some(info);
                pos = len;
            }
        }
    }
    let Some(len) = scan.advance(&buf[pos..], cfg, &limits)? else {
        return Ok(None);
    };
    let head = &buf[pos..pos + len];
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line;
    // Gunicorn 27 ignores exactly one (the scan refused a second).
    let start = if head.starts_with(b"\r\n") { 2 } else { 0 };
    let line_len = super::find_crlf(&head[start..]).unwrap_or(head.len() - start);
    let line = parse_request_line(&head[start..start + line_len], cfg.method_rules())?;
    let mut fields = HeadFields::new(cfg, trust, scan.fields());
    let section = &head[(start + line_len + 2).min(len)..];
    // Everything before the blank line that ends the head (RFC 9112 §2.1).
    if let Some(lines) = section.len().checked_sub(4) {
        let mut accept = |name, value| fields.accept(name, value);
        let syntax = Syntax {
            scanned: true,
            ..cfg.syntax()
        };
        parse_fields(&section[..lines], true, &limits, syntax, &mut accept)?;
    }
    let head = build_head(line, fields, proxy)?;
    Ok(Some((head, pos + len)))
}

/// The peer closed with `buf` unparsed: `None` if nothing was pending (a clean close between
/// requests), else Gunicorn's `NoMoreData` (no response is sent) holding the bytes after the
/// request-line, as Gunicorn reports them.
pub fn head_eof(buf: &[u8]) -> Option<ParseError> {
    if buf.is_empty() {
        return None;
    }
    let start = buf.strip_prefix(b"\r\n").unwrap_or(buf);
    let rest = super::find_crlf(start).map_or(start, |i| &start[i + 2..]);
    Some(ParseError::NoMoreData(super::repr::latin1(rest)))
}

fn build_head(
    line: RequestLine,
    fields: HeadFields<'_>,
    proxy: Option<ProxyInfo>,
) -> Result<RequestHead, ParseError> {
    let (body, force_close) = body_framing(&fields.headers, line.version)?;
    let expect_continue = expects_continue(&fields.headers, line.version)?;
    let must_close = must_close(&fields.headers, line.version, &line.method, force_close);
    let mut headers = fields.headers;
    let target = TargetHost::of(&line.uri, &line.method);
    if let Some(host) = check_host(&headers, &target, line.version)? {
        let host = host.as_bytes().to_vec();
        match headers.iter_mut().find(|(n, _)| n == "HOST") {
            Some((_, value)) => *value = host,
            None => headers.push(("HOST".into(), host)),
        }
    }
    Ok(RequestHead {
        method: line.method,
        uri: line.uri,
        path: line.path,
        query: line.query,
        fragment: line.fragment,
        version: line.version,
        headers,
        body,
        expect_continue,
        must_close,
        secure_scheme: fields.secure_scheme,
        proxy,
        remote: None,
        protocol: Protocol::Http,
    })
}

impl ParserConfig {
    /// The limits in force, normalised as Gunicorn does (idempotent).
    pub(crate) fn limits(&self) -> Limits {
        Limits::new(
            self.limit_request_line,
            self.limit_request_fields,
            self.limit_request_field_size,
        )
    }

    pub(crate) fn syntax(&self) -> Syntax {
        Syntax {
            strip_header_spaces: self.strip_header_spaces,
            permit_obsolete_folding: self.permit_obsolete_folding,
            scanned: false,
        }
    }

    fn method_rules(&self) -> MethodRules {
        MethodRules {
            permit_unconventional_http_method: self.permit_unconventional_http_method,
            casefold_http_method: self.casefold_http_method,
            permit_unconventional_http_version: self.permit_unconventional_http_version,
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
pub(super) mod tests;
