//! The RFC 9112 / 9110 rules of `tests/RULES.md` that the Gunicorn corpus does not cover, and
//! the byte at which each refusal is decided (`scan.rs`): the shortest prefix that is refused
//! must end at that byte, and every shorter one must still be waiting.

use super::request::tests::{kind, parse};
use super::request::{parse_head, ParserConfig, PeerTrust};

/// The length of the shortest refused prefix, and its class.
fn refused_at(raw: &[u8]) -> Option<(usize, &'static str)> {
    (1..=raw.len()).find_map(|n| parse(&raw[..n]).err().map(|e| (n, e.kind())))
}

/// Each case ends with its deciding byte: refused there, not before.
#[test]
fn refused_at_the_deciding_byte() {
    let cases: &[(&[u8], &str)] = &[
        // TLS ClientHello, binary garbage, HTTP/2 preface without h2c.
        (b"\x16", "InvalidRequestMethod"),
        (b"\x00", "InvalidRequestMethod"),
        (b"PRI *", "InvalidRequestLine"),
        (b"g", "InvalidRequestMethod"),
        (b"GE ", "InvalidRequestMethod"),
        (b"GET\x7f", "InvalidRequestMethod"),
        (b"GET  ", "InvalidRequestLine"),
        (b"GET /a\x00", "InvalidRequestLine"),
        (b"GET /\xff", "InvalidRequestLine"),
        (b"GET /\r", "InvalidRequestLine"),
        (b"GET *", "InvalidRequestLine"),
        (b"OPTIONS *x", "InvalidRequestLine"),
        (b"GET host:8", "InvalidRequestLine"),
        (b"GET http:/x", "InvalidRequestLine"),
        (b"GET 1", "InvalidRequestLine"),
        (b"CONNECT /", "InvalidRequestLine"),
        // A target whose host no Host can save: refused where the target ends.
        (b"GET http://[:,:1]:8080/foo ", "InvalidRequestLine"),
        (b"PUT s://]ufd/: ", "InvalidRequestLine"),
        (b"GET http://user@h/ ", "InvalidRequestLine"),
        (b"GET http:///x ", "InvalidRequestLine"),
        (b"CONNECT host ", "InvalidRequestLine"),
        (b"CONNECT [:1]:443 ", "InvalidRequestLine"),
        (b"GET / HTTP/2", "InvalidHTTPVersion"),
        (b"GET / h", "InvalidHTTPVersion"),
        (b"GET / HTTP/1.1 ", "InvalidHTTPVersion"),
        (b"GET / HTTP/1.1\n", "InvalidRequestLine"),
        (b"GET / HTTP/1.1\rX", "InvalidHTTPVersion"),
        (b"\r\n\r", "InvalidRequestLine"),
        (b"GET / HTTP/1.1\r\n ", "InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\nHost ", "InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\nHo\"", "InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\n:", "InvalidHeader"),
        (b"GET / HTTP/1.1\r\nHost: a\x01", "InvalidHeader"),
        (b"GET / HTTP/1.1\r\nHost: a\rb", "InvalidHeader"),
        (b"GET / HTTP/1.1\r\nHost: a\n", "InvalidHeader"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\t", "ObsoleteFolding"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\rX", "InvalidHeader"),
    ];
    for &(raw, want) in cases {
        assert_eq!(
            refused_at(raw),
            Some((raw.len(), want)),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn limits_are_decided_at_the_overrunning_byte() {
    let cfg = ParserConfig {
        limit_request_line: 14,
        limit_request_field_size: 10,
        limit_request_fields: 1,
        ..ParserConfig::default()
    };
    let at = |raw: &[u8]| {
        (1..=raw.len()).find_map(|n| {
            parse_head(&raw[..n], &cfg, PeerTrust::default(), true)
                .err()
                .map(|e| (n, e.status()))
        })
    };
    // The request-line's 15th byte; a CR there may still be the line's end.
    assert_eq!(at(b"GET /1 HTTP/1.0"), Some((15, Some(414))));
    assert_eq!(at(b"GET / HTTP/1.0\r\n\r\n"), None);
    // A field line of 9 bytes and its CRLF is over 10.
    assert_eq!(at(b"GET / HTTP/1.0\r\nA: 345678"), Some((25, Some(431))));
    assert_eq!(at(b"GET / HTTP/1.0\r\nA: 1\r\nB"), Some((23, Some(431))));
}

#[test]
fn host_rules() {
    // RFC 9112 §3.2: missing in HTTP/1.1, more than one, an invalid value.
    assert_eq!(kind(b"GET / HTTP/1.1\r\n\r\n"), "MissingHeader");
    assert_eq!(kind(b"GET / HTTP/1.0\r\n\r\n"), "ok");
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"),
        "InvalidHeader"
    );
    assert_eq!(
        kind(b"GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        "ok",
        "empty is allowed"
    );
    assert_eq!(kind(b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n"), "ok");
}

#[test]
fn absolute_form_host_wins() {
    // RFC 9112 §3.2.2: the target's authority replaces Host.
    let (h, _) = parse(b"GET http://a.example:81/p?q HTTP/1.1\r\nHost: b.example\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert_eq!(h.header("HOST"), Some(&b"a.example:81"[..]));
    assert_eq!((h.path.as_str(), h.query.as_str()), ("/p", "q"));
    let (h, _) = parse(b"GET http://a.example HTTP/1.0\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert_eq!(h.header("HOST"), Some(&b"a.example"[..]));
    // RFC 9112 §3.2: Host is still required in HTTP/1.1.
    assert_eq!(kind(b"GET http://a/ HTTP/1.1\r\n\r\n"), "MissingHeader");
    // RFC 9110 §4.2.1: an empty host; §4.2.4: userinfo.
    assert_eq!(
        kind(b"GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n"),
        "InvalidRequestLine"
    );
    assert_eq!(
        kind(b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        "InvalidRequestLine"
    );
}

#[test]
fn connect_is_host_and_port() {
    // RFC 9110 §9.3.6, RFC 9112 §3.2.3.
    assert_eq!(
        kind(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        "ok"
    );
    assert_eq!(
        kind(b"CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n"),
        "InvalidRequestLine"
    );
    assert_eq!(kind(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "ok");
}

#[test]
fn empty_list_elements_are_ignored() {
    // RFC 9110 §5.6.1.2.
    let (h, _) = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert_eq!(h.body, super::BodyKind::Chunked);
    let (h, _) = parse(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: , 100-continue\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert!(h.expect_continue);
    let (h, _) = parse(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: \r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert!(!h.expect_continue, "an empty Expect asks for nothing");
}
