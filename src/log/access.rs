//! Access-log lines from Gunicorn's atoms (`reference/gunicorn.md` §4 "Access log").
//!
//! The format is a Python %-format over named atoms (`%(h)s %(l)s …`); it is parsed once into
//! pieces and rendered per request. Unknown atoms render `-`; string values have `"` escaped.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::Duration;

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Atom(String),
}

/// A parsed `access_log_format`.
#[derive(Debug, Clone)]
pub struct AccessFormat {
    pieces: Vec<Piece>,
    source: String,
}

/// What one request contributes to its access-log line.
pub struct AccessRecord<'a> {
    /// `None` on a Unix socket (`h` is then empty).
    pub peer: Option<IpAddr>,
    pub method: &'a str,
    pub uri: &'a str,
    pub path_info: &'a str,
    pub query: &'a str,
    pub version: (u8, u8),
    /// Request headers, upper-case names.
    pub request_headers: &'a [(String, Vec<u8>)],
    pub status: u16,
    /// Body bytes sent; `None` when unknown (`-`).
    pub bytes: Option<u64>,
    pub response_headers: &'a [(String, Vec<u8>)],
    pub duration: Duration,
    /// Values of the `{key}e` atoms, in [`AccessFormat::environ_keys`] order.
    pub environ: &'a [Option<String>],
}

impl AccessFormat {
    pub fn parse(format: &str) -> AccessFormat {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = format;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            if let Some(after) = rest.strip_prefix('%') {
                literal.push('%');
                rest = after;
            } else if let Some((name, after)) =
                rest.strip_prefix('(').and_then(|r| r.split_once(')'))
            {
                // The conversion letter (s, d, r…) after the name; every atom renders as text.
                let conv = after.chars().next().map_or(0, char::len_utf8);
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                pieces.push(Piece::Atom(name.to_string()));
                rest = &after[conv..];
            } else {
                literal.push('%');
            }
        }
        literal.push_str(rest);
        pieces.push(Piece::Literal(literal));
        pieces.retain(|p| p != &Piece::Literal(String::new()));
        AccessFormat {
            pieces,
            source: format.to_string(),
        }
    }

    /// The environ keys the format asks for (`%({key}e)s`).
    pub fn environ_keys(&self) -> Vec<String> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Atom(a) => a
                    .strip_prefix('{')
                    .and_then(|a| a.strip_suffix("}e"))
                    .map(str::to_string),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    pub fn render(&self, rec: &AccessRecord<'_>) -> String {
        let mut out = String::with_capacity(128);
        let mut environ = rec.environ.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Atom(name) if name.starts_with('{') && name.ends_with("}e") => {
                    let value = environ.next().cloned().flatten();
                    out.push_str(&escape(value.as_deref().unwrap_or("-")));
                }
                Piece::Atom(name) => atom(&mut out, name, rec),
            }
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('"', "\\\"")
}

fn header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn atom(out: &mut String, name: &str, rec: &AccessRecord<'_>) {
    let _ = write!(out, "{}", escape(&atom_text(name, rec)));
}

/// An atom's value, unescaped.
fn atom_text(name: &str, rec: &AccessRecord<'_>) -> String {
    let micros = rec.duration.as_micros();
    match name {
        "h" => rec.peer.map(|ip| ip.to_string()).unwrap_or_default(),
        "l" => "-".into(),
        "u" => basic_auth_user(rec.request_headers).unwrap_or_else(|| "-".into()),
        "t" => crate::log::timestamp("[%d/%b/%Y:%H:%M:%S %z]"),
        "r" => format!(
            "{} {} HTTP/{}.{}",
            rec.method, rec.uri, rec.version.0, rec.version.1
        ),
        "s" => rec.status.to_string(),
        "m" => rec.method.into(),
        "U" => rec.path_info.into(),
        "q" => rec.query.into(),
        "H" => format!("HTTP/{}.{}", rec.version.0, rec.version.1),
        "b" | "B" => rec.bytes.map_or("-".into(), |b| b.to_string()),
        "f" => header(rec.request_headers, "REFERER").map_or("-".into(), latin1),
        "a" => header(rec.request_headers, "USER-AGENT").map_or("-".into(), latin1),
        "T" => rec.duration.as_secs().to_string(),
        "M" => rec.duration.as_millis().to_string(),
        "D" => micros.to_string(),
        "L" => format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
        "p" => format!("<{}>", std::process::id()),
        _ => match name.strip_prefix('{').and_then(|n| n.rsplit_once('}')) {
            Some((h, "i")) => {
                header(rec.request_headers, &h.replace('_', "-")).map_or("-".into(), latin1)
            }
            Some((h, "o")) => header(rec.response_headers, h).map_or("-".into(), latin1),
            _ => "-".into(),
        },
    }
}

/// One value of [`AccessFormat::atoms`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtomValue {
    Text(String),
    Int(u128),
}

/// The atoms Gunicorn's `Logger.atoms` passes as the access record's args (`gunicorn/glogging.py`):
/// integers where Gunicorn has them (`B`, `T`, `M`, `D`), text with `"` escaped (its
/// `SafeAtoms`), headers as `{name}i` / `{name}o` lower-cased.
impl AccessFormat {
    pub fn atoms(&self, rec: &AccessRecord<'_>) -> Vec<(String, AtomValue)> {
        let micros = rec.duration.as_micros();
        let mut atoms: Vec<(String, AtomValue)> = [
            "h", "l", "u", "t", "r", "s", "m", "U", "q", "H", "b", "f", "a", "L", "p",
        ]
        .iter()
        .map(|&name| {
            (
                name.to_string(),
                AtomValue::Text(escape(&atom_text(name, rec))),
            )
        })
        .collect();
        if let Some(bytes) = rec.bytes {
            atoms.push(("B".into(), AtomValue::Int(u128::from(bytes))));
        }
        atoms.push(("T".into(), AtomValue::Int(micros / 1_000_000)));
        atoms.push(("M".into(), AtomValue::Int(micros / 1_000)));
        atoms.push(("D".into(), AtomValue::Int(micros)));
        for (suffix, headers) in [("i", rec.request_headers), ("o", rec.response_headers)] {
            for (name, value) in headers {
                let key = format!("{{{}}}{suffix}", name.to_lowercase());
                atoms.push((key, AtomValue::Text(escape(&latin1(value)))));
            }
        }
        for (key, value) in self.environ_keys().into_iter().zip(rec.environ) {
            if let Some(value) = value {
                atoms.push((
                    format!("{{{}}}e", key.to_lowercase()),
                    AtomValue::Text(escape(value)),
                ));
            }
        }
        atoms
    }

    /// The format as given, for a logger that applies it itself (`%`-formatting in Python).
    pub fn text(&self) -> &str {
        &self.source
    }
}

/// A request known only from the scoreboard (the master's line for a request it killed, the
/// watchdog's 504): method, target, version and client, no headers.
pub struct PartialRequest<'a> {
    pub method: &'a str,
    /// The request target as received (path and query).
    pub uri: &'a str,
    pub version: (u8, u8),
    /// `ip:port` (TCP) or empty (Unix socket).
    pub client: &'a str,
}

impl PartialRequest<'_> {
    /// `f` over the access record of this request answered with `status`: no headers, the
    /// body size unknown (`-`), no environ values.
    pub fn with_record<R>(
        &self,
        status: u16,
        duration: Duration,
        format: &AccessFormat,
        f: impl FnOnce(&AccessRecord<'_>) -> R,
    ) -> R {
        let (path, query) = self.uri.split_once('?').unwrap_or((self.uri, ""));
        let peer = self
            .client
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .ok();
        let environ = vec![None; format.environ_keys().len()];
        f(&AccessRecord {
            peer,
            method: self.method,
            uri: self.uri,
            path_info: path,
            query,
            version: self.version,
            request_headers: &[],
            status,
            bytes: None,
            response_headers: &[],
            duration,
            environ: &environ,
        })
    }
}

impl AccessFormat {
    /// The line for `req` answered with `status`; the body size is unknown (`-`).
    pub fn render_partial(
        &self,
        req: &PartialRequest<'_>,
        status: u16,
        duration: Duration,
    ) -> String {
        req.with_record(status, duration, self, |record| self.render(record))
    }
}

impl AccessRecord<'_> {
    /// A request header by name, as ISO-8859-1 text (Gunicorn's environ decoding).
    pub fn header(&self, name: &str) -> Option<String> {
        header(self.request_headers, name).map(latin1)
    }

    /// The user of `Authorization: Basic` (the `u` atom).
    pub fn user(&self) -> Option<String> {
        basic_auth_user(self.request_headers)
    }
}

/// The user of `Authorization: Basic …` (RFC 7617), for the `u` atom.
fn basic_auth_user(headers: &[(String, Vec<u8>)]) -> Option<String> {
    let value = header(headers, "AUTHORIZATION")?;
    let (scheme, token) = std::str::from_utf8(value).ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(token.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(
        text.split_once(':')
            .map_or(text.clone(), |(u, _)| u.to_string()),
    )
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(
        headers: &'a [(String, Vec<u8>)],
        environ: &'a [Option<String>],
    ) -> AccessRecord<'a> {
        AccessRecord {
            peer: Some("127.0.0.1".parse().unwrap()),
            method: "GET",
            uri: "/a?b=1",
            path_info: "/a",
            query: "b=1",
            version: (1, 1),
            request_headers: headers,
            status: 200,
            bytes: Some(0),
            response_headers: &[],
            duration: Duration::from_micros(1_500_042),
            environ,
        }
    }

    #[test]
    fn default_format_renders_like_gunicorn() {
        let fmt =
            AccessFormat::parse(r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#);
        let headers = vec![("USER-AGENT".to_string(), b"curl \"x\"".to_vec())];
        let line = fmt.render(&record(&headers, &[]));
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with(r#""GET /a?b=1 HTTP/1.1" 200 0 "-" "curl \"x\"""#),
            "{line}"
        );
    }

    #[test]
    fn durations_headers_environ_and_unknown_atoms() {
        let fmt = AccessFormat::parse(
            "%(T)s %(M)s %(D)s %(L)s %({x-id}i)s %({REMOTE_USER}e)s %(zz)s 100%%",
        );
        let headers = vec![("X-ID".to_string(), b"7".to_vec())];
        let env = vec![Some("bob".to_string())];
        assert_eq!(fmt.environ_keys(), vec!["REMOTE_USER".to_string()]);
        assert_eq!(
            fmt.render(&record(&headers, &env)),
            "1 1500 1500042 1.500042 7 bob - 100%"
        );
    }

    #[test]
    fn partial_request_has_no_bytes_and_no_headers() {
        let fmt = AccessFormat::parse(
            r#"%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s "%(a)s" %(U)s %(q)s %(T)s"#,
        );
        let req = PartialRequest {
            method: "GET",
            uri: "/stuck?n=1",
            version: (1, 1),
            client: "127.0.0.1:4000",
        };
        assert_eq!(
            fmt.render_partial(&req, 504, Duration::from_secs(3)),
            r#"127.0.0.1 - - "GET /stuck?n=1 HTTP/1.1" 504 - "-" /stuck n=1 3"#
        );
    }

    #[test]
    fn basic_auth_user_atom() {
        let headers = vec![(
            "AUTHORIZATION".to_string(),
            b"Basic YWxhZGRpbjpvcGVuc2VzYW1l".to_vec(),
        )];
        assert_eq!(
            AccessFormat::parse("%(u)s").render(&record(&headers, &[])),
            "aladdin"
        );
    }
}
