//! `ParseError`: every way a request can be malformed, and the one mapping to a status.
//!
//! Variants are Gunicorn 27's exception classes (`gunicorn/http/errors.py`); `Display` reproduces
//! Gunicorn's `str(exc)` so log lines read the same, and [`ParseError::error_page`] builds the
//! response Gunicorn's `Worker.handle_error` writes. Payload strings hold the offending bytes
//! latin-1 decoded (one char per byte), exactly like Gunicorn's `bytes_to_str`.

use super::repr::{repr_bytes, repr_str};

/// A malformed or refused request. Names follow Gunicorn's `http/errors.py`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The client closed the connection before a complete head (no response is sent).
    #[error("No more data after: {}", repr_bytes(.0))]
    NoMoreData(String),
    #[error("Invalid HTTP request line: {}", repr_str(.0))]
    InvalidRequestLine(String),
    #[error("Invalid HTTP method: {}", repr_str(.0))]
    InvalidRequestMethod(String),
    #[error("Invalid HTTP Version: {0}")]
    InvalidHTTPVersion(VersionText),
    #[error("Invalid HTTP Header: {}", repr_str(.0))]
    InvalidHeader(String),
    #[error("Invalid HTTP header name: {}", repr_str(.0))]
    InvalidHeaderName(String),
    /// A field a request MUST carry is absent (RFC 9112 §3.2: Host in HTTP/1.1).
    #[error("Missing HTTP header: {}", repr_str(.0))]
    MissingHeader(&'static str),
    #[error("Obsolete line folding is unacceptable: {}", repr_str(.0))]
    ObsoleteFolding(String),
    #[error("Request Line is too large ({size} > {limit})")]
    LimitRequestLine { size: usize, limit: usize },
    #[error("{0}")]
    LimitRequestHeaders(&'static str),
    #[error("Invalid chunk size: {}", repr_bytes(.0))]
    InvalidChunkSize(String),
    #[error("Invalid chunk terminator is not '\\r\\n': {}", repr_bytes(.0))]
    ChunkMissingTerminator(String),
    #[error("Invalid chunk extension: {0}")]
    InvalidChunkExtension(&'static str),
    #[error("Invalid PROXY line: {}", repr_str(.0))]
    InvalidProxyLine(String),
    /// A PROXY header from a peer outside `proxy_allow_ips` (the worker knows the address).
    #[error("Proxy request not allowed")]
    ForbiddenProxyRequest,
    #[error("Contradictory scheme headers")]
    InvalidSchemeHeaders,
    #[error("Unable to comply with expectation: {}", repr_str(.0))]
    ExpectationFailed(String),
    #[error("Unsupported transfer coding: {}", repr_str(.0))]
    UnsupportedTransferCoding(String),
    /// A uwsgi packet that is cut short or malformed (Gunicorn 24+ `gunicorn/uwsgi/errors.py`).
    #[error("Invalid uWSGI header: {0}")]
    InvalidUWSGIHeader(&'static str),
    /// A uwsgi packet of another kind than a WSGI request (modifier1 0).
    #[error("Unsupported uWSGI modifier1: {0}")]
    UnsupportedModifier(u8),
    /// A uwsgi packet from a peer outside `uwsgi_allow_ips` (the worker logs the address).
    #[error("uWSGI request not allowed")]
    ForbiddenUWSGIRequest,
}

/// How an unacceptable HTTP-version is reported: the raw text, or the parsed pair when it is
/// well-formed but outside 1.0..2.0 (Gunicorn prints the tuple, e.g. `(2, 0)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionText {
    Raw(String),
    Parsed(u8, u8),
}

impl std::fmt::Display for VersionText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionText::Raw(s) => f.write_str(&repr_str(s)),
            VersionText::Parsed(major, minor) => write!(f, "({major}, {minor})"),
        }
    }
}

impl ParseError {
    /// The status code Gunicorn 27 answers with; `None` = close without a response.
    pub fn status(&self) -> Option<u16> {
        use ParseError::*;
        match self {
            NoMoreData(_) => None,
            // RFC 9112 §3: a request-line longer than we accept → 414 (Gunicorn 27).
            LimitRequestLine { .. } => Some(414),
            // RFC 6585 §5: header fields too large or too many.
            LimitRequestHeaders(_) => Some(431),
            // RFC 9110 §10.1.1: an expectation we cannot meet.
            ExpectationFailed(_) => Some(417),
            // RFC 9112 §6.1: a transfer coding we do not understand → 501.
            UnsupportedTransferCoding(_) => Some(501),
            ForbiddenProxyRequest | ForbiddenUWSGIRequest => Some(403),
            // Gunicorn's code for a packet type it does not serve.
            UnsupportedModifier(_) => Some(501),
            InvalidRequestLine(_)
            | InvalidRequestMethod(_)
            | InvalidHTTPVersion(_)
            | InvalidHeader(_)
            | InvalidHeaderName(_)
            | MissingHeader(_)
            | ObsoleteFolding(_)
            | InvalidChunkSize(_)
            | ChunkMissingTerminator(_)
            | InvalidChunkExtension(_)
            | InvalidProxyLine(_)
            | InvalidSchemeHeaders
            | InvalidUWSGIHeader(_) => Some(400),
        }
    }

    /// The reason phrase of [`status`](Self::status). Gunicorn says `Bad Request` for its 501;
    /// we say `Not Implemented` (RFC 9110 §15.6.2), a deliberate difference.
    pub fn reason(&self) -> &'static str {
        super::response::reason_phrase(self.status().unwrap_or(400))
    }

    /// Gunicorn's exception class name (for the conformance corpus and logs).
    pub fn kind(&self) -> &'static str {
        use ParseError::*;
        match self {
            NoMoreData(_) => "NoMoreData",
            InvalidRequestLine(_) => "InvalidRequestLine",
            InvalidRequestMethod(_) => "InvalidRequestMethod",
            InvalidHTTPVersion(_) => "InvalidHTTPVersion",
            InvalidHeader(_) => "InvalidHeader",
            InvalidHeaderName(_) => "InvalidHeaderName",
            MissingHeader(_) => "MissingHeader",
            ObsoleteFolding(_) => "ObsoleteFolding",
            LimitRequestLine { .. } => "LimitRequestLine",
            LimitRequestHeaders(_) => "LimitRequestHeaders",
            InvalidChunkSize(_) => "InvalidChunkSize",
            ChunkMissingTerminator(_) => "ChunkMissingTerminator",
            InvalidChunkExtension(_) => "InvalidChunkExtension",
            InvalidProxyLine(_) => "InvalidProxyLine",
            ForbiddenProxyRequest => "ForbiddenProxyRequest",
            InvalidSchemeHeaders => "InvalidSchemeHeaders",
            ExpectationFailed(_) => "ExpectationFailed",
            UnsupportedTransferCoding(_) => "UnsupportedTransferCoding",
            InvalidUWSGIHeader(_) => "InvalidUWSGIHeader",
            UnsupportedModifier(_) => "UnsupportedModifier",
            ForbiddenUWSGIRequest => "ForbiddenUWSGIRequest",
        }
    }

    /// The text of the error page, as `Worker.handle_error` words it.
    fn page_message(&self) -> String {
        use ParseError::*;
        match self {
            InvalidRequestLine(_) => format!("Invalid Request Line '{self}'"),
            InvalidRequestMethod(_) => format!("Invalid Method '{self}'"),
            InvalidHTTPVersion(_) => format!("Invalid HTTP Version '{self}'"),
            LimitRequestHeaders(_) => format!("Error parsing headers: '{self}'"),
            InvalidProxyLine(_) => format!("'{self}'"),
            ForbiddenProxyRequest | ForbiddenUWSGIRequest => "Request forbidden".to_string(),
            _ => self.to_string(),
        }
    }

    /// The complete error response (status line, headers, HTML body), byte for byte what
    /// Gunicorn's `util.write_error` sends: `Connection: close`, no `Server`/`Date`.
    /// `NoMoreData` has no response; it yields an empty vector.
    pub fn error_page(&self) -> Vec<u8> {
        match self.status() {
            Some(status) => {
                super::response::error_page(status, self.reason(), &self.page_message())
            }
            None => Vec::new(),
        }
    }
}
