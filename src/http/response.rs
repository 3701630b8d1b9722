//! Response heads and body framing (RFC 9112 §6, §7; RFC 9110 §6.4.1, §7.6.1).
//!
//! Pure: builds bytes. The worker decides when to write them.

use std::io::Write;

/// Hop-by-hop fields an app may not set (RFC 9110 §7.6.1); the server owns them. Gunicorn also
/// drops `Server` and `Date`, which it always writes itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "server",
    "date",
];

/// Does the server drop this app header?
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// RFC 9110 §5.1: a field name is a token (§5.6.2).
pub fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| super::fields::is_tchar(b))
}

/// Can an app's response field go on the wire as it is? Its name a token, its value without
/// CR, LF or NUL (RFC 9110 §5.5): those would end the head early and let the app's text be
/// read as another response (response splitting), so such a field is refused, never written.
pub fn is_sendable_field(name: &[u8], value: &[u8]) -> bool {
    is_field_name(name) && !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// HEAD, 1xx, 204, 304: no body bytes at all (RFC 9110 §6.4.1, §9.3.2).
    NoBody,
    /// The app's Content-Length; never more than that is written.
    Length(u64),
    /// HTTP/1.1 without a length (RFC 9112 §7.1).
    Chunked,
    /// HTTP/1.0 without a length: the end of the body is the close.
    Close,
}

impl Framing {
    /// `may_chunk`: the request allows the chunked coding ([`RequestHead::may_chunk`]).
    ///
    /// [`RequestHead::may_chunk`]: super::RequestHead::may_chunk
    pub fn decide(
        is_head: bool,
        may_chunk: bool,
        status: u16,
        content_length: Option<u64>,
    ) -> Framing {
        if is_head || (100..200).contains(&status) || status == 204 || status == 304 {
            return Framing::NoBody;
        }
        match content_length {
            Some(n) => Framing::Length(n),
            None if may_chunk => Framing::Chunked,
            None => Framing::Close,
        }
    }
}

/// The status code of a `"DDD reason"` status line (already validated by the bridge).
pub fn status_code(status: &str) -> u16 {
    status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(500)
}

/// Write a response head: status line with the request's version, `Server`, `Date`,
/// `Connection`, `Transfer-Encoding` when chunked, then the app's headers in order
/// (Gunicorn's order, `reference/gunicorn.md` §6 "Response writing").
pub fn write_head(
    out: &mut Vec<u8>,
    version: (u8, u8),
    status: &str,
    date: &str,
    connection: &str,
    framing: Framing,
    headers: &[(String, Vec<u8>)],
) {
    match version {
        (1, 1) => out.extend_from_slice(b"HTTP/1.1 "),
        (1, 0) => out.extend_from_slice(b"HTTP/1.0 "),
        (major, minor) => {
            let _ = write!(out, "HTTP/{major}.{minor} ");
        }
    }
    push_status(out, status);
    // RFC 9112 §4: the SP after the status code stays even when the reason phrase is empty.
    if !status.contains(' ') {
        out.push(b' ');
    }
    out.extend_from_slice(b"\r\nServer: gunicorn-rs\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\nConnection: ");
    out.extend_from_slice(connection.as_bytes());
    out.extend_from_slice(b"\r\n");
    if framing == Framing::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    let drop_length = matches!(framing, Framing::NoBody) && !keeps_length(status);
    for (name, value) in headers {
        if is_hop_by_hop(name) || (drop_length && name.eq_ignore_ascii_case("content-length")) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// An interim (1xx) response, e.g. `103 Early Hints` (RFC 8297): status line and the given
/// fields; no `Server`, `Date` or framing (RFC 9110 §15.2).
pub fn write_interim(out: &mut Vec<u8>, status: u16, headers: &[(String, Vec<u8>)]) {
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", interim_reason(status));
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn interim_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        _ => "Informational",
    }
}

/// 304 and HEAD keep Content-Length (it describes the representation); 1xx and 204 must not
/// carry one (RFC 9110 §8.6).
/// The status line's text in Latin-1, the status string's own charset (PEP 3333), so that a
/// WSGI app's `200 Café` goes out as Gunicorn sends it (é as one obs-text byte, RFC 9112 §4).
/// A reason with a letter past Latin-1 (only tornado's can hold one) goes out as tornado's
/// own server sends it, in UTF-8.
fn push_status(out: &mut Vec<u8>, status: &str) {
    let latin1: Option<Vec<u8>> = match status.is_ascii() {
        true => None,
        false => status.chars().map(|c| u8::try_from(c).ok()).collect(),
    };
    match latin1 {
        Some(bytes) => out.extend_from_slice(&bytes),
        None => out.extend_from_slice(status.as_bytes()),
    }
}

fn keeps_length(status: &str) -> bool {
    let code = status_code(status);
    !((100..200).contains(&code) || code == 204)
}

/// One chunk of a chunked body (RFC 9112 §7.1): size in hex, CRLF, data, CRLF.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return; // a zero-size chunk would end the body
    }
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The size line of a chunk of `len` bytes (RFC 9112 §7.1); the data and its CRLF follow.
pub fn write_chunk_size(out: &mut Vec<u8>, len: usize) {
    let _ = write!(out, "{len:x}\r\n");
}

/// The last chunk and the end of the (empty) trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `HTTP/1.1 100 Continue`, sent before the app reads a body it was asked to wait for.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// An IMF-fixdate for the `Date` header (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31); Howard Hinnant's civil-from-days.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A complete error response in Gunicorn's shape (`util.write_error`): no `Server`/`Date`,
/// `Connection: close`, a small HTML page with the HTML-escaped message. The page is latin-1,
/// as Gunicorn encodes it: messages carry request bytes decoded as latin-1.
pub fn error_page(status: u16, reason: &str, message: &str) -> Vec<u8> {
    let html = format!(
        "<html>\n  <head>\n    <title>{reason}</title>\n  </head>\n  <body>\n    <h1><p>{reason}</p></h1>\n    {}\n  </body>\n</html>\n",
        super::repr::html_escape(message)
    );
    let page = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{html}",
        html.chars().count()
    );
    page.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// `page` as the answer to a HEAD request: its head only, `Content-Length` kept (RFC 9110
/// §9.3.2: a response to HEAD has no content; §8.6: its length is what a GET would get).
/// Gunicorn writes the whole page, which the client takes for the start of its next response.
pub fn for_request<'p>(page: &'p [u8], method: &str) -> &'p [u8] {
    match method {
        "HEAD" => without_body(page),
        _ => page,
    }
}

/// The head of a response written whole (an [`error_page`]).
pub fn without_body(page: &[u8]) -> &[u8] {
    memchr::memmem::find(page, b"\r\n\r\n").map_or(page, |end| &page[..end + 4])
}

/// The body's length in a response written whole (an [`error_page`]): what the access log's
/// `%(b)s` counts when the server's page replaced the app's response.
pub fn page_body_len(page: &[u8]) -> u64 {
    memchr::memmem::find(page, b"\r\n\r\n").map_or(0, |end| (page.len() - end - 4) as u64)
}

/// The reason phrase of a status the server itself answers with (RFC 9110 §15). 501 says
/// "Not Implemented" where Gunicorn's WSGI path says "Bad Request" (a documented difference).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// The registered reason phrase of `status` (RFC 9110 §15 and the IANA HTTP Status Code
/// Registry), for apps that give only a code (ASGI); empty when unregistered — the status
/// line then ends in the SP RFC 9112 §4 keeps.
pub fn registered_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        402 => "Payment Required",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        451 => "Unavailable For Legal Reasons",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        400 | 403 | 408 | 413 | 414 | 417 | 431 | 500 | 501 | 505 => reason_phrase(status),
        _ => "",
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
