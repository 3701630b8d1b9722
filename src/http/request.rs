//! Request heads: request line, header fields, body framing, persistence (RFC 9112 §3–§6).

use super::error::ParseError;

pub use crate::config::{HeaderMap, ProxyProtocol};

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
        }
    }
}

/// What the worker knows about the peer, decided from `forwarded_allow_ips` / `proxy_allow_ips`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerTrust {
    /// Peer may set `secure_scheme_headers` and `forwarder_headers`.
    pub forwarded: bool,
    /// Peer may send a PROXY protocol header.
    pub proxy: bool,
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
}

impl RequestHead {
    /// The first value of a header, by upper-case name.
    pub fn header(&self, upper_name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == upper_name).map(|(_, v)| v.as_slice())
    }
}

/// Parse one request head from the start of `buf`.
///
/// `Ok(None)`: more bytes are needed (and none of the limits is exceeded yet).
/// `Ok(Some((head, consumed)))`: `consumed` bytes (including any PROXY header and the blank
/// line) form the head; the body starts at `buf[consumed..]`.
/// `first_on_connection`: a PROXY protocol header is only looked for on the first request.
pub fn parse_head(
    buf: &[u8],
    cfg: &ParserConfig,
    trust: PeerTrust,
    first_on_connection: bool,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let _ = (buf, cfg, trust, first_on_connection);
    todo!("http::request::parse_head")
}
