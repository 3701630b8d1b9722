//! The little HTTP/1.1 the metrics listener speaks, as pure functions over bytes: find the end
//! of a request head, read its request line, write a whole response. One request per
//! connection, GET and HEAD only, `Connection: close` (RFC 9112 §9.6), so there is no body
//! framing to read and no keep-alive to track. The master must not use the workers' HTTP
//! layer (DESIGN §2), and needs none of it: Prometheus and the probes send one plain GET.

/// A head larger than this is refused with 431 (a scrape's head is a few hundred bytes).
pub(super) const MAX_HEAD: usize = 8 * 1024;

/// What a complete head asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Asked {
    /// HEAD: the response's head only (RFC 9110 §9.3.2).
    pub head_only: bool,
    /// The target's path, without its query.
    pub path: String,
}

/// The end of the head in `buf` (after its empty line), if it is complete. A bare LF line end
/// is accepted as RFC 9112 §2.2 allows a recipient to.
pub(super) fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The request line of a complete head: `METHOD SP path SP HTTP/1.x` (RFC 9112 §3).
pub(super) fn parse_head(head: &[u8]) -> Result<Asked, Response> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let line = std::str::from_utf8(line).map_err(|_| Response::bad_request())?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::bad_request());
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(Response::bad_request());
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Response::method_not_allowed()),
    };
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Ok(Asked {
        head_only,
        path: path.to_owned(),
    })
}

/// A whole response, body included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    /// A plain-text response: the health endpoints' one-line reason, or an error's.
    pub fn text(status: u16, line: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{line}\n"),
        }
    }

    pub fn bad_request() -> Response {
        Response::text(400, "bad request")
    }

    pub fn method_not_allowed() -> Response {
        Response::text(405, "only GET and HEAD")
    }

    pub fn head_too_large() -> Response {
        Response::text(431, "request head too large")
    }

    pub fn not_found() -> Response {
        Response::text(404, "not found: try /metrics, /healthz or /readyz")
    }

    /// The bytes to send: status line, headers, and the body unless `head_only`. A HEAD
    /// response carries the GET's Content-Length (RFC 9110 §8.6).
    pub fn encode(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            // RFC 9110 §15.5.6: a 405 lists what the target supports.
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_empty_line_and_name_a_path() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        let asked = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").expect("GET");
        assert_eq!(asked.path, "/metrics");
        assert!(!asked.head_only);
        assert!(
            parse_head(b"HEAD /readyz HTTP/1.0\n\n")
                .expect("HEAD")
                .head_only
        );
    }

    #[test]
    fn anything_else_gets_a_status() {
        let status = |head: &[u8]| parse_head(head).expect_err("refused").status;
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status(b"GET /metrics\r\n\r\n"), 400);
        assert_eq!(status(b"GET  /metrics HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET metrics HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\xff HTTP/1.1\r\n\r\n"), 400);
    }

    #[test]
    fn responses_close_and_head_has_no_body() {
        let r = Response::text(503, "draining");
        let get = String::from_utf8(r.encode(false)).expect("text");
        assert!(
            get.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{get}"
        );
        assert!(get.contains("Connection: close\r\n"));
        assert!(get.contains("Content-Length: 9\r\n"), "{get}");
        assert!(get.ends_with("\r\n\r\ndraining\n"), "{get}");
        let head = r.encode(true);
        assert!(head.ends_with(b"\r\n\r\n"));
        let allow = String::from_utf8(Response::method_not_allowed().encode(true)).expect("text");
        assert!(allow.contains("Allow: GET, HEAD\r\n"), "{allow}");
    }
}
