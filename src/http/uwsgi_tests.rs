//! The uwsgi packet parser: packets as nginx 1.22 writes them (captured from `uwsgi_pass` with
//! the stock `uwsgi_params`), every split point, truncations, oversize lengths, and random
//! bytes and mutations that must never panic or read past the packet.

use super::*;
use crate::http::percent_decode;

type Var<'a> = (&'a [u8], &'a [u8]);

fn trusted() -> PeerTrust {
    PeerTrust {
        uwsgi: true,
        ..PeerTrust::default()
    }
}

fn vars_block(vars: &[Var<'_>]) -> Vec<u8> {
    let mut block = Vec::new();
    for (key, value) in vars {
        block.extend_from_slice(&(key.len() as u16).to_le_bytes());
        block.extend_from_slice(key);
        block.extend_from_slice(&(value.len() as u16).to_le_bytes());
        block.extend_from_slice(value);
    }
    block
}

/// A request packet: header, vars, then `body`.
fn packet(vars: &[Var<'_>], body: &[u8]) -> Vec<u8> {
    let block = vars_block(vars);
    let mut out = vec![0];
    out.extend_from_slice(&(block.len() as u16).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&block);
    out.extend_from_slice(body);
    out
}

fn parse(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_packet(buf, trusted())
}

fn head(buf: &[u8]) -> RequestHead {
    parse(buf).expect("valid").expect("complete").0
}

fn error(buf: &[u8]) -> ParseError {
    parse(buf).expect_err("refused")
}

/// nginx's GET: `curl -H 'X-A: 1' -H 'X-A: 2' 'http://127.0.0.1:18080/p%20a/th?q=1'`.
fn nginx_get() -> Vec<u8> {
    packet(
        &[
            (b"QUERY_STRING", b"q=1"),
            (b"REQUEST_METHOD", b"GET"),
            (b"CONTENT_TYPE", b""),
            (b"CONTENT_LENGTH", b""),
            (b"REQUEST_URI", b"/p%20a/th?q=1"),
            (b"PATH_INFO", b"/p a/th"),
            (b"DOCUMENT_ROOT", b"/etc/nginx/html"),
            (b"SERVER_PROTOCOL", b"HTTP/1.1"),
            (b"REQUEST_SCHEME", b"http"),
            (b"REMOTE_ADDR", b"127.0.0.1"),
            (b"REMOTE_PORT", b"41418"),
            (b"SERVER_PORT", b"18080"),
            (b"SERVER_NAME", b""),
            (b"HTTP_HOST", b"127.0.0.1"),
            (b"HTTP_USER_AGENT", b"curl/7.88.1"),
            (b"HTTP_X_A", b"1"),
            (b"HTTP_X_A", b"2"),
        ],
        b"",
    )
}

/// nginx's POST of a chunked request body: it de-chunks it, sends `CONTENT_LENGTH` and the
/// client's own `Transfer-Encoding` and `Content-Type` as `HTTP_*` too.
fn nginx_chunked_post() -> Vec<u8> {
    packet(
        &[
            (b"QUERY_STRING", b""),
            (b"REQUEST_METHOD", b"POST"),
            (b"CONTENT_TYPE", b"application/x-www-form-urlencoded"),
            (b"CONTENT_LENGTH", b"6"),
            (b"REQUEST_URI", b"/chunk"),
            (b"PATH_INFO", b"/chunk"),
            (b"SERVER_PROTOCOL", b"HTTP/1.1"),
            (b"HTTPS", b"on"),
            (b"REMOTE_ADDR", b"10.1.2.3"),
            (b"REMOTE_PORT", b"5"),
            (b"HTTP_HOST", b"example.com"),
            (b"HTTP_TRANSFER_ENCODING", b"chunked"),
            (b"HTTP_CONTENT_TYPE", b"application/x-www-form-urlencoded"),
            (b"HTTP_CONTENT_LENGTH", b"6"),
        ],
        b"abcdef",
    )
}

#[test]
fn an_nginx_get_is_the_head_the_http_parser_would_make() {
    let raw = nginx_get();
    let (h, used) = parse(&raw).expect("valid").expect("complete");
    assert_eq!(used, raw.len());
    assert_eq!(
        (
            h.method.as_str(),
            h.path.as_str(),
            h.query.as_str(),
            h.uri.as_str()
        ),
        ("GET", "/p%20a/th", "q=1", "/p%20a/th?q=1")
    );
    assert_eq!(percent_decode(h.path.as_bytes()), b"/p a/th");
    assert_eq!(
        (h.version, h.body, h.protocol),
        ((1, 1), BodyKind::Empty, Protocol::Uwsgi)
    );
    let names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["HOST", "USER-AGENT", "X-A", "X-A"],
        "no empty CONTENT-*"
    );
    assert_eq!(h.secure_scheme, Some(false), "REQUEST_SCHEME http");
    let remote = h.remote.clone().expect("REMOTE_ADDR");
    assert_eq!(
        (remote.addr.as_str(), remote.port),
        ("127.0.0.1", Some(41418))
    );
    assert!(!h.expect_continue && h.proxy.is_none());
    assert!(
        h.must_close,
        "one request per connection, as uWSGI and nginx use it"
    );
    assert!(
        !h.may_chunk(),
        "a uwsgi response is never chunked and has no 1xx"
    );
    assert_eq!(h.told_client(), Some(("127.0.0.1", Some(41418))));
}

#[test]
fn a_body_is_content_length_bytes_and_the_front_framing_fields_are_dropped() {
    let raw = nginx_chunked_post();
    let (h, used) = parse(&raw).expect("valid").expect("complete");
    assert_eq!(&raw[used..], b"abcdef");
    assert_eq!(h.body, BodyKind::Length(6));
    assert_eq!(h.header("CONTENT-LENGTH"), Some(&b"6"[..]));
    assert_eq!(h.header("TRANSFER-ENCODING"), None);
    let types = h
        .headers
        .iter()
        .filter(|(n, _)| n == "CONTENT-TYPE")
        .count();
    assert_eq!(
        types, 1,
        "CONTENT_TYPE once, not again from HTTP_CONTENT_TYPE"
    );
    assert_eq!(h.secure_scheme, Some(true), "HTTPS on");
}

#[test]
fn every_split_point_waits_then_gives_the_same_head() {
    for raw in [nginx_get(), nginx_chunked_post()] {
        let (whole, used) = parse(&raw).expect("valid").expect("complete");
        for cut in 0..raw.len() {
            match parse(&raw[..cut]) {
                Ok(None) => assert!(cut < used, "complete at {cut} but waits"),
                Ok(Some((h, n))) => assert_eq!((h, n), (whole.clone(), used), "cut {cut}"),
                Err(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }
}

#[test]
fn pipelined_packets_are_read_one_at_a_time() {
    let (first, second) = (nginx_chunked_post(), nginx_get());
    let both = [first.clone(), second.clone()].concat();
    let (_, used) = parse(&both).expect("valid").expect("complete");
    let body = 6;
    let (h, n) = parse(&both[used + body..])
        .expect("valid")
        .expect("complete");
    assert_eq!((h.method.as_str(), n), ("GET", second.len()));
}

#[test]
fn truncated_vars_are_refused_with_gunicorns_words() {
    let cases: [(&[u8], &str); 4] = [
        (b"\x04", "truncated key size"),
        (b"\x04\x00AB", "truncated key"),
        (b"\x01\x00A\x05", "truncated value size"),
        (b"\x01\x00A\x05\x00xy", "truncated value"),
    ];
    for (block, why) in cases {
        let mut raw = vec![0, block.len() as u8, 0, 0];
        raw.extend_from_slice(block);
        assert_eq!(
            error(&raw),
            ParseError::InvalidUWSGIHeader(why),
            "{block:?}"
        );
        assert_eq!(error(&raw).status(), Some(400));
        // Every prefix waits: only the whole block says it is malformed.
        for cut in 0..raw.len() {
            assert!(
                matches!(parse(&raw[..cut]), Ok(None)),
                "{block:?} cut {cut}"
            );
        }
    }
}

#[test]
fn oversize_lengths_never_read_past_the_packet() {
    // A vars block announced at 65535 bytes waits for them (the most a packet can hold).
    assert!(matches!(parse(&[0, 0xff, 0xff, 0, 1, 2, 3]), Ok(None)));
    // A key or value longer than its block is refused, however large it says it is.
    let mut raw = vec![0, 4, 0, 0, 0xff, 0xff, b'A', b'B'];
    assert_eq!(error(&raw), invalid("truncated key"));
    raw = vec![0, 6, 0, 0, 1, 0, b'A', 0xff, 0xff, b'x'];
    assert_eq!(error(&raw), invalid("truncated value"));
    // The largest packet there is parses.
    let big = vec![b'v'; 65535 - 4 - 1];
    let raw = packet(&[(b"X", &big)], b"");
    assert_eq!(raw.len(), 4 + 65535);
    assert!(head(&raw).headers.is_empty());
}

#[test]
fn content_length_is_digits_once() {
    for bad in [
        &b"+5"[..],
        b"-1",
        b" 5",
        b"5 ",
        b"0x5",
        b"18446744073709551616",
        b"1_0",
    ] {
        let raw = packet(&[(b"CONTENT_LENGTH", bad)], b"");
        assert_eq!(error(&raw), invalid("invalid CONTENT_LENGTH"), "{bad:?}");
    }
    let raw = packet(&[(b"CONTENT_LENGTH", b"5"), (b"CONTENT_LENGTH", b"5")], b"");
    assert_eq!(
        error(&raw),
        invalid("repeated CONTENT_LENGTH"),
        "even equal ones"
    );
    let raw = packet(&[(b"CONTENT_LENGTH", b"18446744073709551615")], b"");
    assert_eq!(head(&raw).body, BodyKind::Length(u64::MAX));
    let raw = packet(&[(b"CONTENT_LENGTH", b"0")], b"");
    assert_eq!(head(&raw).body, BodyKind::Length(0));
}

#[test]
fn a_peer_or_a_packet_kind_not_served_is_refused_at_once() {
    let err = parse_packet(&[0], PeerTrust::default()).expect_err("forbidden");
    assert_eq!(
        (err.status(), err.kind()),
        (Some(403), "ForbiddenUWSGIRequest")
    );
    let err = error(&[5]);
    assert_eq!(
        (err.status(), err.to_string()),
        (Some(501), "Unsupported uWSGI modifier1: 5".into())
    );
    assert!(matches!(parse(b""), Ok(None)));
}

#[test]
fn at_most_a_thousand_vars() {
    let empty: Vec<Var<'_>> = vec![(b"", b""); 1000];
    assert!(head(&packet(&empty, b"")).headers.is_empty());
    let empty: Vec<Var<'_>> = vec![(b"", b""); 1001];
    assert_eq!(error(&packet(&empty, b"")), invalid("too many variables"));
}

#[test]
fn fields_are_tokens_and_values_never_split_a_head() {
    for name in [&b"HTTP_"[..], b"HTTP_X Y", b"HTTP_X:Y", b"HTTP_\xe9"] {
        let raw = packet(&[(name, b"v")], b"");
        assert_eq!(error(&raw), invalid("invalid header name"), "{name:?}");
    }
    for value in [&b"a\rb"[..], b"a\nb", b"a\0b"] {
        let raw = packet(&[(b"HTTP_X", value)], b"");
        assert_eq!(error(&raw), invalid("invalid header value"), "{value:?}");
    }
    let h = head(&packet(&[(b"HTTP_x_lower", b"caf\xe9\t")], b""));
    assert_eq!(h.headers, vec![("X-LOWER".into(), b"caf\xe9\t".to_vec())]);
    let raw = packet(&[(b"REQUEST_METHOD", b"G T")], b"");
    assert_eq!(error(&raw), invalid("invalid REQUEST_METHOD"));
}

#[test]
fn defaults_scheme_version_and_targets() {
    let h = head(&packet(&[], b""));
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.path.as_str()),
        ("GET", "/", "/")
    );
    assert_eq!(
        (h.secure_scheme, h.remote.clone(), h.version),
        (None, None, (1, 1))
    );
    let scheme = |vars: &[Var<'_>]| head(&packet(vars, b"")).secure_scheme;
    assert_eq!(scheme(&[(b"UWSGI_SCHEME", b"HTTPS")]), Some(true));
    assert_eq!(scheme(&[(b"wsgi.url_scheme", b"https")]), Some(true));
    assert_eq!(
        scheme(&[(b"HTTPS", b"off"), (b"REQUEST_SCHEME", b"http")]),
        Some(false)
    );
    assert_eq!(
        scheme(&[(b"REQUEST_SCHEME", b"http"), (b"UWSGI_SCHEME", b"https")]),
        Some(true),
        "UWSGI_SCHEME before REQUEST_SCHEME"
    );
    let version = |p: &[u8]| head(&packet(&[(b"SERVER_PROTOCOL", p)], b"")).version;
    assert_eq!(
        (version(b"HTTP/1.0"), version(b"HTTP/2.0"), version(b"x")),
        ((1, 0), (2, 0), (1, 1))
    );
    // A decoded PATH_INFO is escaped so the environ's one decoding gives it back.
    let h = head(&packet(&[(b"PATH_INFO", b"/a b%?#\xe9")], b""));
    assert_eq!(h.path, "/a%20b%25%3F%23%E9");
    assert_eq!(percent_decode(h.path.as_bytes()), b"/a b%?#\xe9");
    assert_eq!(h.uri, h.path);
    // Without PATH_INFO and QUERY_STRING, REQUEST_URI gives both.
    let h = head(&packet(&[(b"REQUEST_URI", b"/x%2Fy?a=1&b")], b""));
    assert_eq!((h.path.as_str(), h.query.as_str()), ("/x%2Fy", "a=1&b"));
    let h = head(&packet(
        &[(b"REMOTE_ADDR", b"unix:"), (b"REMOTE_PORT", b"")],
        b"",
    ));
    let remote = h.remote.expect("remote");
    assert_eq!((remote.addr.as_str(), remote.port), ("unix:", None));
}

/// xorshift64*: reproducible noise without a dependency.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Whatever the result of a whole buffer, each prefix either waits or has the same answer,
/// and a head never claims more bytes than there are.
fn check_consistent(raw: &[u8]) {
    let whole = parse(raw);
    if let Ok(Some((_, used))) = &whole {
        assert!(*used <= raw.len());
    }
    for cut in 0..raw.len() {
        match (parse(&raw[..cut]), &whole) {
            (Ok(None), _) => {}
            (Ok(Some((h, n))), Ok(Some((w, used)))) => assert_eq!((&h, n), (w, *used)),
            (Err(e), Err(w)) => assert_eq!(&e, w),
            (got, _) => panic!("prefix {cut} of {raw:?}: {got:?} but whole: {whole:?}"),
        }
    }
}

#[test]
fn random_bytes_and_mutations_never_panic_and_agree_with_their_prefixes() {
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let len = (noise(&mut state) % 64) as usize;
        let mut raw: Vec<u8> = (0..len).map(|_| noise(&mut state) as u8).collect();
        if raw.len() >= HEADER_LEN {
            // modifier1 0 and a datasize that fits, so the vars block is what gets parsed.
            raw[0] = 0;
            let size = (raw.len() - HEADER_LEN) as u16;
            raw[1..3].copy_from_slice(&size.to_le_bytes());
        }
        check_consistent(&raw);
    }
    let base = nginx_chunked_post();
    for _ in 0..300 {
        let mut raw = base.clone();
        let at = (noise(&mut state) as usize) % raw.len();
        raw[at] = noise(&mut state) as u8;
        check_consistent(&raw);
    }
}
