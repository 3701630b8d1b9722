//! What the header fields of a request mean for the server: which fields are kept (the `_`
//! policy), the trusted scheme, body framing (RFC 9112 §6), `Expect` (RFC 9110 §10.1.1) and
//! connection persistence (RFC 9112 §9.3). Pure decisions over already-tokenised fields.

use super::error::ParseError;
use super::request::{BodyKind, HeaderMap, ParserConfig, PeerTrust};

/// Collects header fields, applying the per-field rules in wire order.
pub(crate) struct HeadFields<'a> {
    cfg: &'a ParserConfig,
    trust: PeerTrust,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `Some(true)` = https, from the first trusted secure-scheme header.
    pub secure_scheme: Option<bool>,
}

impl<'a> HeadFields<'a> {
    /// `fields`: how many field lines the head has (the scan counted them), so the list is
    /// allocated once.
    pub(crate) fn new(cfg: &'a ParserConfig, trust: PeerTrust, fields: usize) -> Self {
        HeadFields {
            cfg,
            trust,
            headers: Vec::with_capacity(fields),
            secure_scheme: None,
        }
    }

    pub(crate) fn accept(&mut self, name: String, value: Vec<u8>) -> Result<(), ParseError> {
        self.note_scheme(&name, &value)?;
        if name.as_bytes().contains(&b'_') && !self.keeps_underscore_name(&name)? {
            return Ok(());
        }
        // RFC 9110 §5.3: Host and Content-Type are singletons; a second one is an attack
        // vector (RFC 9112 §3.2 for Host), refused since Gunicorn 26.1.
        if (name == "HOST" || name == "CONTENT-TYPE")
            && self.headers.iter().any(|(n, _)| *n == name)
        {
            return Err(ParseError::InvalidHeader(name));
        }
        self.headers.push((name, value));
        Ok(())
    }

    /// `secure_scheme_headers`, only from trusted peers; disagreeing headers are refused.
    fn note_scheme(&mut self, name: &str, value: &[u8]) -> Result<(), ParseError> {
        if !self.trust.forwarded {
            return Ok(());
        }
        let Some((_, https_value)) = self
            .cfg
            .secure_scheme_headers
            .iter()
            .find(|(n, _)| n == name)
        else {
            return Ok(());
        };
        let https = value == https_value.as_bytes();
        match self.secure_scheme {
            Some(seen) if seen != https => Err(ParseError::InvalidSchemeHeaders),
            _ => {
                self.secure_scheme = Some(https);
                Ok(())
            }
        }
    }

    /// Names with `_` collide with `-` in CGI-style environ keys (RFC 3875 §4.1.18), so
    /// they are kept only from trusted forwarders, or per `header_map`.
    fn keeps_underscore_name(&self, name: &str) -> Result<bool, ParseError> {
        let forwarders = &self.cfg.forwarder_headers;
        if self.trust.forwarded && forwarders.iter().any(|f| f == name || f == "*") {
            return Ok(true);
        }
        match self.cfg.header_map {
            HeaderMap::Dangerous => Ok(true),
            HeaderMap::Drop => Ok(false),
            HeaderMap::Refuse => Err(ParseError::InvalidHeaderName(name.to_string())),
        }
    }
}

/// Body framing and whether a transfer coding forces the connection closed.
pub(crate) fn body_framing(
    headers: &[(String, Vec<u8>)],
    version: (u8, u8),
) -> Result<(BodyKind, bool), ParseError> {
    let bad_cl = || ParseError::InvalidHeader("CONTENT-LENGTH".into());
    let bad_te = || ParseError::InvalidHeader("TRANSFER-ENCODING".into());
    let mut content_length: Option<&[u8]> = None;
    let mut te_seen = false;
    let mut chunked = false;
    let mut force_close = false;
    for (name, value) in headers {
        match name.as_str() {
            // RFC 9112 §6.3(5): repeated Content-Length is refused outright, even if equal.
            "CONTENT-LENGTH" if content_length.is_some() => return Err(bad_cl()),
            "CONTENT-LENGTH" => content_length = Some(value),
            "TRANSFER-ENCODING" => {
                te_seen = true;
                force_close |= transfer_codings(value, &mut chunked)?;
            }
            _ => {}
        }
    }
    // RFC 9112 §6.3(4): a request whose final coding is not chunked has no knowable length.
    if te_seen && !chunked {
        return Err(bad_te());
    }
    if chunked {
        // RFC 9112 §6.1: chunked in HTTP/1.0 is faulty framing.
        if version < (1, 1) {
            return Err(bad_te());
        }
        // RFC 9112 §6.1, §6.3(3): CL with TE is a smuggling signal; refuse and close.
        if content_length.is_some() {
            return Err(bad_cl());
        }
        return Ok((BodyKind::Chunked, force_close));
    }
    match content_length {
        // RFC 9110 §8.6: 1*DIGIT; no sign, no list, no whitespace; overflow refused.
        Some(value) => {
            let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
            let length = std::str::from_utf8(value)
                .ok()
                .filter(|_| digits)
                .and_then(|s| s.parse::<u64>().ok());
            length
                .map(|n| (BodyKind::Length(n), false))
                .ok_or_else(bad_cl)
        }
        // RFC 9112 §6.3(7): a request without CL or TE has no body.
        None => Ok((BodyKind::Empty, false)),
    }
}

/// One Transfer-Encoding field value (RFC 9112 §6.1, a list). Returns whether a compression
/// coding forces the connection closed (we never decode them; the app sees them raw).
fn transfer_codings(value: &[u8], chunked: &mut bool) -> Result<bool, ParseError> {
    let mut force_close = false;
    for item in value.split(|&b| b == b',') {
        let coding = trim(item).to_ascii_lowercase();
        // RFC 9110 §5.6.1.2: a recipient MUST parse and ignore empty list elements.
        if coding.is_empty() {
            continue;
        }
        // chunked must be the last coding, and only once (RFC 9112 §6.1, §7).
        if *chunked {
            return Err(ParseError::InvalidHeader("TRANSFER-ENCODING".into()));
        }
        match coding.as_slice() {
            b"chunked" => *chunked = true,
            b"identity" => {}
            b"compress" | b"deflate" | b"gzip" => force_close = true,
            _ => {
                return Err(ParseError::UnsupportedTransferCoding(super::repr::latin1(
                    value,
                )))
            }
        }
    }
    Ok(force_close)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 §10.1.1: `100-continue` is the only expectation; ignored in HTTP/1.0.
pub(crate) fn expects_continue(
    headers: &[(String, Vec<u8>)],
    version: (u8, u8),
) -> Result<bool, ParseError> {
    let mut expect_continue = false;
    for (_, value) in headers.iter().filter(|(n, _)| n == "EXPECT") {
        // RFC 9110 §10.1.1: Expect is a list; §5.6.1.2: empty elements are ignored.
        for expectation in value.split(|&b| b == b',').map(trim) {
            if expectation.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = version >= (1, 1);
            } else if !expectation.is_empty() {
                return Err(ParseError::ExpectationFailed(super::repr::latin1(value)));
            }
        }
    }
    Ok(expect_continue)
}

/// Gunicorn's `should_close`: a compression coding or CONNECT closes; then the first
/// Connection field decides `close`/`keep-alive`; otherwise HTTP/1.0 closes (RFC 9112 §9.3).
pub(crate) fn must_close(
    headers: &[(String, Vec<u8>)],
    version: (u8, u8),
    method: &str,
    force: bool,
) -> bool {
    if force || method == "CONNECT" {
        return true;
    }
    // RFC 9112 §9.6: a "close" among the connection options (of any Connection field, in
    // any position of its list) closes. Gunicorn compares the first field's whole value, so
    // `Connection: keep-alive, close` persisted there; here it closes, as the RFC says.
    let options = headers
        .iter()
        .filter(|(n, _)| n == "CONNECTION")
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(trim);
    let mut keep_alive = false;
    for option in options {
        if option.eq_ignore_ascii_case(b"close") {
            return true;
        }
        keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
    }
    // HTTP/1.0 persists only when asked to (RFC 9112 §9.3, Appendix C.2.2).
    version <= (1, 0) && !keep_alive
}

#[cfg(test)]
mod tests {
    use super::must_close;

    fn close(connection: &[&str], version: (u8, u8)) -> bool {
        let headers: Vec<(String, Vec<u8>)> = connection
            .iter()
            .map(|v| ("CONNECTION".to_string(), v.as_bytes().to_vec()))
            .collect();
        must_close(&headers, version, "GET", false)
    }

    #[test]
    fn connection_options_are_a_list() {
        assert!(!close(&[], (1, 1)));
        assert!(close(&[], (1, 0)));
        assert!(close(&["close"], (1, 1)));
        assert!(
            close(&["Keep-Alive, close"], (1, 1)),
            "close anywhere in the list"
        );
        assert!(close(&["te", " CLOSE "], (1, 1)), "close in a later field");
        assert!(!close(&["keep-alive"], (1, 0)));
        assert!(!close(&["foo, Keep-Alive"], (1, 0)));
        assert!(close(&["keep-alive, close"], (1, 0)));
        assert!(!close(&["upgrade"], (1, 1)));
    }
}
