//! The response parser. It must be able to say "incomplete" and "two responses", or the
//! truncation and smuggling tests that rely on it could not fail.

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body framing completed (Content-Length reached, terminal chunk seen, or close-delimited).
    pub complete: bool,
    /// Chunked framing was used.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response at the start of `raw`; returns it and the bytes consumed. `head_request`:
/// the request was HEAD, so no body follows whatever the headers say.
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<(Response, usize)> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?.to_string();
    if !version.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut resp = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        complete: true,
        chunked: false,
    };
    let mut pos = end + 4;
    if head_request || status < 200 || status == 204 || status == 304 {
        return Some((resp, pos));
    }
    let te = resp
        .header("Transfer-Encoding")
        .map(|v| v.to_ascii_lowercase());
    if te.as_deref().is_some_and(|t| t.ends_with("chunked")) {
        resp.chunked = true;
        let (body, used, complete) = decode_chunked(&raw[pos..]);
        resp.body = body;
        resp.complete = complete;
        pos += used;
    } else if let Some(cl) = resp.header("Content-Length") {
        let cl: usize = cl.parse().ok()?;
        let available = raw.len() - pos;
        resp.body = raw[pos..pos + cl.min(available)].to_vec();
        resp.complete = available >= cl;
        pos += cl.min(available);
    } else {
        resp.body = raw[pos..].to_vec();
        pos = raw.len();
    }
    Some((resp, pos))
}

/// Decodes a chunked body: (data, bytes used, saw the last chunk and the end of the trailers).
pub fn decode_chunked(raw: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find(&raw[pos..], b"\r\n") else {
            return (body, raw.len(), false);
        };
        let line = String::from_utf8_lossy(&raw[pos..pos + eol]).to_string();
        let size_text = line.split(';').next().unwrap().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, raw.len(), false);
        };
        pos += eol + 2;
        if size == 0 {
            // Trailer section, ended by an empty line.
            loop {
                let Some(eol) = find(&raw[pos..], b"\r\n") else {
                    return (body, raw.len(), false);
                };
                pos += eol + 2;
                if eol == 0 {
                    return (body, pos, true);
                }
            }
        }
        if raw.len() < pos + size + 2 {
            body.extend_from_slice(&raw[pos..raw.len().min(pos + size)]);
            return (body, raw.len(), false);
        }
        body.extend_from_slice(&raw[pos..pos + size]);
        if &raw[pos + size..pos + size + 2] != b"\r\n" {
            return (body, raw.len(), false);
        }
        pos += size + 2;
    }
}

/// Exactly one response, skipping `1xx` interim responses; panics with the raw bytes otherwise.
pub fn parse_one(raw: &[u8], head_request: bool) -> Response {
    let responses = parse_all(raw, head_request);
    let finals: Vec<&Response> = responses.iter().filter(|r| r.status >= 200).collect();
    assert_eq!(
        finals.len(),
        1,
        "expected exactly one final response, got {}: {:?}",
        finals.len(),
        String::from_utf8_lossy(raw)
    );
    finals[0].clone()
}

/// Every response in `raw`, in order; panics on bytes that are not a response.
pub fn parse_all(raw: &[u8], head_request: bool) -> Vec<Response> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match parse_response(&raw[pos..], head_request) {
            Some((resp, used)) => {
                pos += used;
                out.push(resp);
            }
            None => panic!(
                "unparseable bytes after {} response(s): {:?}",
                out.len(),
                String::from_utf8_lossy(&raw[pos..raw.len().min(pos + 400)])
            ),
        }
    }
    out
}

/// Counts status lines anywhere in the raw bytes (a smuggled second response shows up here even
/// if it is glued to the first one's body).
pub fn count_status_lines(raw: &[u8]) -> usize {
    raw.split(|&b| b == b'\n')
        .filter(|line| {
            line.len() >= 12
                && line.starts_with(b"HTTP/1.")
                && line[8] == b' '
                && line[9..12].iter().all(u8::is_ascii_digit)
        })
        .count()
}
