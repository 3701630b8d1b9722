//! Request heads: request line, header fields, body framing, persistence (RFC 9112 §3–§6).

use super::error::ParseError;
use super::fields::{outgrows_limits, parse_fields, Limits, Progress, Syntax};
use super::framing::{body_framing, expects_continue, must_close, HeadFields};
use super::proxy::{parse_proxy, Proxy};
use super::request_line::{parse_request_line, MethodRules, RequestLine};
use memchr::memmem;

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
/// Limits are enforced on incomplete input too, so a client cannot make the caller buffer
/// more than the request-line limit plus `fields * (field_size + 2) + 4` bytes.
pub fn parse_head(
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
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line;
    // Gunicorn 27 ignores exactly one.
    if buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    let Some(line_len) = find_request_line(&buf[pos..], limits.line)? else {
        return Ok(None);
    };
    let line = parse_request_line(&buf[pos..pos + line_len], cfg.method_rules())?;
    let fields_start = pos + line_len + 2;
    let mut fields = HeadFields::new(cfg, trust);
    let Some(consumed) = parse_field_section(&buf[fields_start..], cfg, &limits, &mut fields)?
    else {
        return Ok(None);
    };
    let head = build_head(line, fields, proxy)?;
    Ok(Some((head, fields_start + consumed)))
}

/// The peer closed with `buf` unparsed: `None` if nothing was pending (a clean close between
/// requests), else Gunicorn's `NoMoreData` (no response is sent) holding the bytes after the
/// request-line, as Gunicorn reports them.
pub fn head_eof(buf: &[u8]) -> Option<ParseError> {
    if buf.is_empty() {
        return None;
    }
    let start = buf.strip_prefix(b"\r\n").unwrap_or(buf);
    let rest = memmem::find(start, b"\r\n").map_or(start, |i| &start[i + 2..]);
    Some(ParseError::NoMoreData(super::repr::latin1(rest)))
}

/// The request-line length, once its CRLF is here (RFC 9112 §3, §2.2: no bare LF).
fn find_request_line(data: &[u8], limit: usize) -> Result<Option<usize>, ParseError> {
    let too_long = |size| ParseError::LimitRequestLine { size, limit };
    // Whatever the reads were, the first problem in byte order decides: a bare LF (RFC 9112
    // §2.2 — refused as soon as it arrives, since a client using LF line ends never sends the
    // CRLF we would wait for) or a line already over the limit before it.
    match memchr::memchr(b'\n', data) {
        Some(i) if i == 0 || data[i - 1] != b'\r' => match i > limit {
            true => Err(too_long(i)),
            false => Err(ParseError::InvalidRequestLine(
                "bare LF as line terminator".into(),
            )),
        },
        Some(i) if i - 1 > limit => Err(too_long(i - 1)),
        Some(i) => Ok(Some(i - 1)),
        // Too long already, even if the last byte is the CR of the CRLF.
        None if data.len() > limit + 1 => Err(too_long(data.len())),
        None => Ok(None),
    }
}

/// Parse the field section at the start of `data` into `fields`; returns the bytes it used
/// (blank line included), or `None` if it is not complete yet.
fn parse_field_section(
    data: &[u8],
    cfg: &ParserConfig,
    limits: &Limits,
    fields: &mut HeadFields<'_>,
) -> Result<Option<usize>, ParseError> {
    let mut accept = |name, value| fields.accept(name, value);
    // RFC 9112 §2.1: the section ends at the first empty line.
    if data.starts_with(b"\r\n") {
        return Ok(Some(2));
    }
    let end = memmem::find(data, b"\r\n\r\n");
    // A bare LF never ends a line (RFC 9112 §2.2), so a head written with LF line ends never
    // completes: it is refused as soon as the LF arrives. To give every chunking the same
    // answer, the complete head is judged the same way: on what came up to that LF (an earlier
    // line's fault, or this line's size or syntax, in byte order).
    if let Some(lf) = first_bare_lf(data).filter(|&lf| end.is_none_or(|e| lf < e + 4)) {
        parse_fields(&data[..=lf], true, limits, cfg.syntax(), &mut accept)?;
        return Err(ParseError::InvalidHeader(
            "bare LF as line terminator".into(),
        ));
    }
    if let Some(end) = end {
        parse_fields(&data[..end], true, limits, cfg.syntax(), &mut accept)?;
        return Ok(Some(end + 4));
    }
    if outgrows_limits(data, limits) {
        // Report the first error in wire order, as if the whole section had arrived.
        if parse_fields(data, false, limits, cfg.syntax(), &mut accept)? == Progress::Incomplete
            && data.len() > limits.max_head
        {
            return Err(ParseError::LimitRequestHeaders("max buffer headers"));
        }
    }
    Ok(None)
}

/// The first LF not preceded by CR.
fn first_bare_lf(data: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', data).find(|&i| i == 0 || data[i - 1] != b'\r')
}

fn build_head(
    line: RequestLine,
    fields: HeadFields<'_>,
    proxy: Option<ProxyInfo>,
) -> Result<RequestHead, ParseError> {
    let (body, force_close) = body_framing(&fields.headers, line.version)?;
    let expect_continue = expects_continue(&fields.headers, line.version)?;
    let must_close = must_close(&fields.headers, line.version, &line.method, force_close);
    Ok(RequestHead {
        method: line.method,
        uri: line.uri,
        path: line.path,
        query: line.query,
        fragment: line.fragment,
        version: line.version,
        headers: fields.headers,
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
mod tests {
    //! Attack classes of reliability.md §3 that the Gunicorn corpus does not cover.
    use super::*;

    fn parse(raw: &[u8]) -> Result<Option<(RequestHead, usize)>, ParseError> {
        parse_head(raw, &ParserConfig::default(), PeerTrust::default(), true)
    }

    fn kind(raw: &[u8]) -> &'static str {
        match parse(raw) {
            Ok(Some(_)) => "ok",
            Ok(None) => "incomplete",
            Err(e) => e.kind(),
        }
    }

    fn head(raw: &[u8]) -> RequestHead {
        parse(raw).expect("valid").expect("complete").0
    }

    #[test]
    fn cl_te_is_refused() {
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(kind(raw), "InvalidHeader");
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(kind(raw), "InvalidHeader");
    }

    #[test]
    fn te_obfuscations_are_refused() {
        let cases: [(&[u8], &str); 8] = [
            (b"Transfer-Encoding : chunked", "InvalidHeaderName"),
            (b"Transfer-Encoding: \x0bchunked", "InvalidHeader"),
            (b"Transfer-Encoding: chunked, identity", "InvalidHeader"),
            (b"Transfer-Encoding: chunked, chunked", "InvalidHeader"),
            (b"Transfer-Encoding: identity", "InvalidHeader"),
            (b"Transfer-Encoding: xchunked", "UnsupportedTransferCoding"),
            (b"Transfer-Encoding: ", "UnsupportedTransferCoding"),
            (
                b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                "InvalidHeader",
            ),
        ];
        for (field, want) in cases {
            let raw = [&b"POST / HTTP/1.1\r\nHost: a\r\n"[..], field, b"\r\n\r\n"].concat();
            assert_eq!(kind(&raw), want, "{}", String::from_utf8_lossy(field));
        }
        let raw = b"POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\n\r\n";
        assert_eq!(
            head(raw).body,
            BodyKind::Empty,
            "`_` names are dropped, never framing"
        );
    }

    #[test]
    fn te_on_http10_is_refused() {
        assert_eq!(
            kind(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "InvalidHeader"
        );
    }

    #[test]
    fn content_length_syntax() {
        for bad in [
            "+5",
            "-1",
            "0x5",
            "1 0",
            "",
            "1_0",
            "5, 5",
            "18446744073709551616",
            "5 5",
        ] {
            let raw = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(kind(raw.as_bytes()), "InvalidHeader", "{bad:?}");
        }
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 010\r\n\r\n";
        assert_eq!(head(raw).body, BodyKind::Length(10), "010 means ten");
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(kind(raw), "InvalidHeader", "even equal duplicates");
    }

    #[test]
    fn request_line_limit_is_414_before_the_crlf() {
        let long = |n: usize| format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(n));
        let err = parse(&long(10_000).as_bytes()[..5000]).expect_err("too long");
        assert_eq!((err.kind(), err.status()), ("LimitRequestLine", Some(414)));
        assert_eq!(
            parse(long(70_000).as_bytes()).map_err(|e| e.status()).err(),
            Some(Some(414))
        );
        let cfg = ParserConfig {
            limit_request_line: 8190,
            ..ParserConfig::default()
        };
        assert!(
            parse_head(long(7000).as_bytes(), &cfg, PeerTrust::default(), true)
                .is_ok_and(|h| h.is_some())
        );
        let err =
            parse_head(long(10_000).as_bytes(), &cfg, PeerTrust::default(), true).expect_err("414");
        assert_eq!(err.status(), Some(414));
    }

    #[test]
    fn field_limits_are_431_before_the_blank_line() {
        let big = format!("GET / HTTP/1.1\r\nX: {}", "b".repeat(9000));
        assert_eq!(
            parse(big.as_bytes()).map_err(|e| e.status()).err(),
            Some(Some(431))
        );
        let ok = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(4000));
        assert_eq!(kind(ok.as_bytes()), "ok");
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse(raw.as_bytes()).map_err(|e| e.status()).err(),
            Some(Some(431))
        );
        // Dropped `_` names still count toward the limit.
        let dropped: String = (0..101).map(|i| format!("X_{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{dropped}\r\n");
        assert_eq!(
            parse(raw.as_bytes()).map_err(|e| e.status()).err(),
            Some(Some(431))
        );
    }

    #[test]
    fn an_oversize_line_is_refused_whatever_follows_it_in_the_read() {
        // The long line complete and the next begun in one read: refused at once, as when the
        // long line arrived on its own (fuzz/ request_head and chunked targets).
        let raw = format!("GET / HTTP/1.1\r\nX: {}\r\nY", "b".repeat(9000));
        assert_eq!(
            parse(raw.as_bytes()).map_err(|e| e.status()).err(),
            Some(Some(431))
        );
    }

    #[test]
    fn head_buffer_is_bounded() {
        let cfg = ParserConfig {
            limit_request_fields: 2,
            limit_request_field_size: 20,
            ..ParserConfig::default()
        };
        // 2 * (20 + 2) + 4 = 48 bytes of field section, never more.
        let raw = [&b"GET / HTTP/1.1\r\n"[..], &b"A: b\r\n".repeat(9)].concat();
        let err = parse_head(&raw, &cfg, PeerTrust::default(), true).expect_err("bounded");
        assert_eq!(err.status(), Some(431));
    }

    #[test]
    fn request_line_rules() {
        assert_eq!(kind(b"get / HTTP/1.1\r\n\r\n"), "InvalidRequestMethod");
        assert_eq!(kind(b"GET / HTTP/2.0\r\n\r\n"), "InvalidHTTPVersion");
        assert_eq!(kind(b"GET / HTTP/1.2\r\n\r\n"), "ok");
        assert_eq!(kind(b"GET /a b HTTP/1.1\r\n\r\n"), "InvalidHTTPVersion");
        assert_eq!(kind(b"GET /\x7f HTTP/1.1\r\n\r\n"), "InvalidRequestLine");
        assert_eq!(kind(b"GET / HTTP/1.1\rX\r\n\r\n"), "InvalidHTTPVersion");
        assert_eq!(
            kind(b"GET / HTTP/1.1\n\n"),
            "InvalidRequestLine",
            "bare LF never ends a line, and is refused as soon as it arrives"
        );
        assert_eq!(kind(b"GET / HTTP/1.1\r\nHost: x\n"), "InvalidHeader");
        assert_eq!(
            kind(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
            "InvalidRequestLine"
        );
        let h = head(b"GET //x?a=1#f HTTP/1.1\r\n\r\n");
        assert_eq!(
            (h.path.as_str(), h.query.as_str(), h.fragment.as_str()),
            ("//x", "a=1", "f")
        );
    }

    #[test]
    fn field_syntax() {
        assert_eq!(
            kind(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
            "InvalidHeaderName"
        );
        assert_eq!(kind(b"GET / HTTP/1.1\r\n: a\r\n\r\n"), "InvalidHeader");
        assert_eq!(kind(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), "InvalidHeader");
        assert_eq!(
            kind(b"GET / HTTP/1.1\r\nX\x85: a\r\n\r\n"),
            "InvalidHeaderName"
        );
        assert_eq!(kind(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), "InvalidHeader");
        assert_eq!(
            kind(b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n"),
            "InvalidHeader"
        );
        let h = head(b"GET / HTTP/1.1\r\nX: caf\xe9\r\nX: 2\r\n\r\n");
        assert_eq!(
            h.headers,
            vec![
                ("X".into(), b"caf\xe9".to_vec()),
                ("X".into(), b"2".to_vec())
            ]
        );
    }

    #[test]
    fn expect_and_persistence() {
        let h = head(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
        assert!(h.expect_continue && !h.must_close);
        assert!(!head(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        let err = parse(b"GET / HTTP/1.1\r\nExpect: bogus\r\n\r\n").expect_err("417");
        assert_eq!(err.status(), Some(417));
        assert!(head(b"GET / HTTP/1.0\r\n\r\n").must_close);
        assert!(!head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").must_close);
        assert!(head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").must_close);
        assert!(head(b"CONNECT a:443 HTTP/1.1\r\n\r\n").must_close);
        assert!(head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").must_close);
    }

    #[test]
    fn trusted_scheme_and_forwarder_headers() {
        let raw = b"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nSCRIPT_NAME: /app\r\n\r\n";
        let h = head(raw);
        assert_eq!(
            (h.secure_scheme, h.headers.len()),
            (None, 1),
            "untrusted: ignored, `_` dropped"
        );
        let trust = PeerTrust {
            forwarded: true,
            ..PeerTrust::default()
        };
        let (h, _) = parse_head(raw, &ParserConfig::default(), trust, true)
            .expect("ok")
            .expect("complete");
        assert_eq!(
            (h.secure_scheme, h.header("SCRIPT_NAME")),
            (Some(true), Some(&b"/app"[..]))
        );
    }

    #[test]
    fn proxy_protocol_needs_trust_and_first_request() {
        let cfg = ParserConfig {
            proxy_protocol: ProxyProtocol::Auto,
            ..ParserConfig::default()
        };
        let raw = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n";
        let err = parse_head(raw, &cfg, PeerTrust::default(), true).expect_err("forbidden");
        assert_eq!(err.status(), Some(403));
        let err = parse_head(raw, &cfg, PeerTrust::default(), false).expect_err("not first");
        assert_eq!(
            err.kind(),
            "InvalidRequestLine",
            "PROXY is read as a method, TCP4 as a target"
        );
        let trust = PeerTrust {
            proxy: true,
            ..PeerTrust::default()
        };
        let (h, used) = parse_head(raw, &cfg, trust, true)
            .expect("ok")
            .expect("complete");
        assert_eq!((h.proxy.map(|p| p.client_port), used), (Some(1), raw.len()));
    }

    #[test]
    fn error_page_matches_gunicorn() {
        let page = ParseError::InvalidHeaderName("Bad Header".into()).error_page();
        let want = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\n\
                    Content-Length: 169\r\n\r\n<html>\n  <head>\n    <title>Bad Request</title>\n  \
                    </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    Invalid HTTP header name: \
                    &#x27;Bad Header&#x27;\n  </body>\n</html>\n";
        assert_eq!(String::from_utf8_lossy(&page), want);
        let page = ParseError::UnsupportedTransferCoding("br".into()).error_page();
        assert!(page.starts_with(b"HTTP/1.1 501 Not Implemented\r\n"));
        assert!(ParseError::NoMoreData(String::new())
            .error_page()
            .is_empty());
    }

    #[test]
    fn clean_close_and_mid_head_close() {
        assert_eq!(head_eof(b""), None);
        assert_eq!(
            head_eof(b"GET / HTTP/1.1\r\nHo"),
            Some(ParseError::NoMoreData("Ho".into()))
        );
    }
}
