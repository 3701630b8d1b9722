//! The corpus's fixtures as the parser tests (and tests/corpus_server.rs) take them: the
//! `.http` files' text as wire bytes, a Host line added where a rule wants one, and the
//! fixtures gunicorn-rs answers differently from Gunicorn 27 on purpose, each with its rule.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Valid fixtures whose body is shorter than its Content-Length: Gunicorn hands the app the
/// truncated body; we refuse it at EOF (reliability.md §3 "never run the app on a truncated
/// body"). The received bytes must still match Gunicorn's.
pub(crate) const TRUNCATED_BODY: &[&str] = &["099.http"];

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that lacks a Host header field". Gunicorn 27 accepts them.
const HOST_REQUIRED: &str = "RFC 9112 §3.2: an HTTP/1.1 request without Host is refused";
/// RFC 9110 §4.2.4: "A recipient SHOULD parse for userinfo and treat its presence as an error".
const NO_USERINFO: &str = "RFC 9110 §4.2.4: userinfo in an http(s) target is refused";

/// Valid fixtures Gunicorn 27 accepts and gunicorn-rs refuses on purpose, each with the rule
/// (tests/RULES.md, README "Stricter than Gunicorn") and the class it is refused with. Each
/// must be refused so (400) in every chunking; the Host ones must also, with a Host line added
/// to each request ([`with_host`]), give exactly Gunicorn's parse plus that Host.
pub(crate) const STRICTER: &[(&str, &str, &str)] = &[
    ("004.http", HOST_REQUIRED, "MissingHeader"),
    ("005.http", HOST_REQUIRED, "MissingHeader"),
    ("006.http", HOST_REQUIRED, "MissingHeader"),
    ("007.http", HOST_REQUIRED, "MissingHeader"),
    ("010.http", HOST_REQUIRED, "MissingHeader"),
    ("011.http", HOST_REQUIRED, "MissingHeader"),
    ("012.http", HOST_REQUIRED, "MissingHeader"),
    ("013.http", HOST_REQUIRED, "MissingHeader"),
    ("014.http", HOST_REQUIRED, "MissingHeader"),
    ("018.http", HOST_REQUIRED, "MissingHeader"),
    ("021.http", HOST_REQUIRED, "MissingHeader"),
    ("022.http", HOST_REQUIRED, "MissingHeader"),
    ("023.http", HOST_REQUIRED, "MissingHeader"),
    ("025.http", HOST_REQUIRED, "MissingHeader"),
    ("025_line.http", HOST_REQUIRED, "MissingHeader"),
    ("028.http", HOST_REQUIRED, "MissingHeader"),
    ("029.http", HOST_REQUIRED, "MissingHeader"),
    ("030.http", HOST_REQUIRED, "MissingHeader"),
    ("031.http", HOST_REQUIRED, "MissingHeader"),
    ("031compat.http", HOST_REQUIRED, "MissingHeader"),
    ("031compat2.http", HOST_REQUIRED, "MissingHeader"),
    ("100.http", HOST_REQUIRED, "MissingHeader"),
    ("compat_obs_fold_huge.http", HOST_REQUIRED, "MissingHeader"),
    ("pp_02.http", HOST_REQUIRED, "MissingHeader"),
    (
        "rfc9112_target_absolute_userinfo_01.http",
        NO_USERINFO,
        "InvalidRequestLine",
    ),
];

/// Invalid fixtures refused for an earlier reason than Gunicorn's, which is still checked with
/// a Host line added after the first request-line: (fixture, rule, our class). Same status.
pub(crate) const STRICTER_INVALID: &[(&str, &str, &str)] = &[
    ("chunked_01.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_09.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_10.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_11.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_12.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_13.http", HOST_REQUIRED, "MissingHeader"),
    ("chunked_14.http", HOST_REQUIRED, "MissingHeader"),
];

/// Where the first line ends (its CR LF).
pub(crate) fn memchr_crlf(bytes: &[u8]) -> usize {
    bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a request-line")
}

/// The Host line [`with_host`] adds.
pub(crate) const ADDED_HOST: &str = "gunicorn-rs.test";

/// Is this the rule that a Host line added fixes?
pub(crate) fn host_required(rule: &str) -> bool {
    rule == HOST_REQUIRED
}

/// `bytes` with `Host: gunicorn-rs.test` after the request-line of each of `requests` (as
/// Gunicorn parsed them: target and version), and how many were added.
pub(crate) fn with_host(bytes: &[u8], requests: &[Value]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut added = 0;
    let mut rest = bytes;
    for request in requests {
        let version = &request["version"];
        // The method as sent may differ in case from the parsed one (`casefold_http_method`).
        let line = format!(
            " {} HTTP/{}.{}\r\n",
            request["uri"].as_str().unwrap_or_default(),
            version[0],
            version[1]
        );
        let Some(at) = rest.windows(line.len()).position(|w| w == line.as_bytes()) else {
            break;
        };
        out.extend_from_slice(&rest[..at + line.len()]);
        out.extend_from_slice(format!("Host: {ADDED_HOST}\r\n").as_bytes());
        added += 1;
        rest = &rest[at + line.len()..];
    }
    out.extend_from_slice(rest);
    (out, added)
}

pub(crate) fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/requests")
}

/// The `.http` → wire bytes conversion of `tests/requests/README.md`.
pub(crate) fn wire_bytes(text: &[u8]) -> Vec<u8> {
    let no_lf: Vec<u8> = text.iter().copied().filter(|&b| b != b'\n').collect();
    let mut bytes = replace(&no_lf, b"\\r\\n", b"\r\n");
    for (from, to) in [(&b"\\0"[..], &b"\0"[..]), (b"\\n", b"\n"), (b"\\t", b"\t")] {
        bytes = replace(&bytes, from, to);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 2..i + 4)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (
            bytes[i..].starts_with(b"\\x"),
            hex.and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (true, Some(byte)) if hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) => {
                out.push(byte);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    assert!(
        !out.contains(&b'\\'),
        "a backslash escape survived the conversion"
    );
    out
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}
