//! Bad requests and bad apps through the real server: the right status and a close for
//! malformed input, no smuggled second request, and app faults that never corrupt the wire.

use crate::support::*;
use std::io::{Read, Write};

/// Sends `raw`, expects exactly one response with `status` and `Connection: close`.
fn expect_refused(server: &Server, raw: &[u8], status: u16) -> Response {
    let reply = server.http(raw);
    assert_eq!(
        count_status_lines(&reply),
        1,
        "one response only for {:?}: {:?}",
        show(raw),
        String::from_utf8_lossy(&reply)
    );
    let resp = parse_one(&reply, false);
    assert_eq!(
        resp.status,
        status,
        "{:?} → {:?}",
        show(raw),
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(resp.header("Connection"), Some("close"), "{:?}", show(raw));
    // RFC 9110 §15's phrase (Gunicorn says "Bad Request" on its 501: a documented difference).
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        other => panic!("no reason phrase listed for {other}"),
    };
    assert_eq!(resp.reason, reason, "{:?}", show(raw));
    resp
}

fn show(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if s.len() > 120 {
        format!("{}…", &s[..120])
    } else {
        s.into_owned()
    }
}

#[test]
fn malformed_requests_get_the_gunicorn_status() {
    let server = Server::hello(&[], 1);
    let mark = server.mark();
    expect_refused(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        400,
    );
    server.wait_for_from(mark, "Invalid request from ip=127.0.0.1", WAIT);

    expect_refused(&server, b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400); // bare LF
    expect_refused(&server, b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400); // lowercase method
    expect_refused(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        400,
    ); // obs-fold
    expect_refused(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        400,
    ); // NUL in a value
    expect_refused(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        400,
    );

    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    expect_refused(&server, long_target.as_bytes(), 414);
    let ok_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(4000));
    assert_eq!(
        parse_one(&server.http(ok_target.as_bytes()), false).status,
        404,
        "a 4 KB target is within the limit"
    );

    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(9000)
    );
    expect_refused(&server, big_field.as_bytes(), 431);
    let many: String = (0..101).map(|i| format!("X-F{i}: v\r\n")).collect();
    expect_refused(
        &server,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        431,
    );

    expect_refused(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx",
        417,
    );
    expect_refused(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    // The worker survived all of it.
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn head_with_only_bare_lf_line_ends_is_refused_at_once() {
    // No CRLF CRLF ever comes: the server must not wait for one until the head timeout
    // (Gunicorn 27 answers 400 "bare LF as line terminator" at once).
    let server = Server::hello(&[], 1);
    for raw in [
        &b"GET / HTTP/1.1\nHost: x\n\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\n\r\n",
    ] {
        let started = std::time::Instant::now();
        expect_refused(&server, raw, 400);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?} took {:?}",
            show(raw),
            started.elapsed()
        );
    }
}

#[test]
fn smuggled_requests_are_never_served() {
    let server = Server::hello(&[], 1);
    let smuggled = "GET /mark?name=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases = [
        // CL.TE: a front end framing by Content-Length forwards the smuggled request as body.
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}", 5 + smuggled.len()),
        // TE.CL: chunked body that hides a request past the Content-Length.
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
            smuggled.len()
        ),
        // Duplicate, differing Content-Length.
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
        // TE not ending in chunked must not fall back to Content-Length.
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 0\r\n\r\n{smuggled}"),
        // Obfuscated TE name.
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{smuggled}"),
    ];
    for case in &cases {
        expect_refused(&server, case.as_bytes(), 400);
    }
    // Even a valid request followed by a pipelined one gets one response on a sync worker.
    let pipelined = format!("GET / HTTP/1.1\r\nHost: x\r\n\r\n{smuggled}");
    let reply = server.http(pipelined.as_bytes());
    assert_eq!(
        count_status_lines(&reply),
        1,
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(parse_one(&reply, false).header("Connection"), Some("close"));

    assert_eq!(server.get("/").status, 200);
    assert_eq!(
        server.markers("mark-smuggled"),
        Vec::<String>::new(),
        "a smuggled request reached the app"
    );
}

#[test]
fn app_exception_before_start_response_is_a_500_and_the_worker_survives() {
    let server = Server::hello(&[], 1);
    let mark = server.mark();
    let raw = server.http(b"GET /fault/raise HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = parse_one(&raw, false);
    assert_eq!(resp.status, 500);
    assert!(
        resp.header("Content-Length").is_some(),
        "a 500 with a length: {:?}",
        resp.headers
    );
    assert!(resp.complete);
    assert!(
        !resp.text().contains("boom"),
        "the exception text is not sent to the client"
    );
    server.wait_for_from(mark, "Error handling request GET /fault/raise", WAIT);
    server.wait_for_from(mark, "Traceback (most recent call last)", WAIT);
    server.wait_for_from(mark, "RuntimeError: boom before start_response", WAIT);
    let pid_before = server.get("/pid").text();
    assert_eq!(server.get("/").status, 200);
    assert_eq!(
        server.get("/pid").text(),
        pid_before,
        "same worker, not a respawn"
    );
}

#[test]
fn app_exception_after_headers_truncates_visibly() {
    let server = Server::hello(&[], 1);
    // Content-Length 100, 8 octets, then the app raises: the short body must show.
    let raw = server.http(b"GET /fault/raise-after-start HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        count_status_lines(&raw),
        1,
        "never a 500 appended: {}",
        String::from_utf8_lossy(&raw)
    );
    let resp = parse_one(&raw, false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Length"), Some("100"));
    assert_eq!(resp.text(), "12345678");
    assert!(!resp.complete);

    // No length: chunked, and no terminal chunk.
    let raw = server.http(b"GET /fault/raise-after-start?chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        count_status_lines(&raw),
        1,
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let resp = parse_one(&raw, false);
    assert_eq!(resp.status, 200);
    assert!(resp.chunked);
    assert_eq!(resp.text(), "12345678");
    assert!(
        !resp.complete,
        "the terminal chunk must be missing: {:?}",
        String::from_utf8_lossy(&raw)
    );
    server.wait_for("RuntimeError: boom after the headers were sent", WAIT);
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn app_that_never_calls_start_response_gets_a_500() {
    let server = Server::hello(&[], 1);
    let resp = server.get("/fault/no-start");
    assert_eq!(resp.status, 500);
    assert!(
        !resp.text().contains("never called"),
        "the app's body is not sent"
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn invalid_status_or_headers_from_the_app_never_reach_the_wire() {
    let server = Server::hello(&[], 1);
    for (path, forbidden) in [
        ("/fault/bad-status", &b"2000"[..]),
        ("/fault/bad-header-name", &b"injected-name"[..]),
        ("/fault/crlf-header", &b"injected=1"[..]),
    ] {
        let raw = server.http(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert!(
            !raw.windows(forbidden.len()).any(|w| w == forbidden),
            "{path}: the app's bad bytes were sent: {:?}",
            String::from_utf8_lossy(&raw)
        );
        assert_eq!(count_status_lines(&raw), 1, "{path}");
        let resp = parse_one(&raw, false);
        assert_eq!(resp.status, 500, "{path}");
        assert_eq!(resp.header("Set-Cookie"), None, "{path}");
    }
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn client_disconnect_mid_stream_still_closes_the_iterable() {
    let mut server = Server::hello(&[], 1);
    let marker = server.dir.path().join("stream-closed");
    // 100,000 chunks of 16 KiB: far more than socket buffers, so the worker is still writing.
    let mut stream = server.connect();
    stream
        .write_all(b"GET /stream?n=100000&size=16384 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    stream.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
    drop(stream);
    let sent: u64 = poll(WAIT, "the stream's close() marker", || {
        std::fs::read_to_string(&marker).ok()
    })
    .trim()
    .parse()
    .unwrap();
    assert!(
        sent < 100_000,
        "iteration stopped when the client went away (produced {sent} chunks)"
    );
    assert_eq!(server.get("/").status, 200, "the worker keeps serving");
    // No log storm: a disconnect is not an application error (in the whole log).
    let log = server.stop_and_log();
    assert!(!log.contains("Error handling request GET /stream"), "{log}");
}

/// The 500 page that replaced a raising app's response is what the access log counts: its
/// body's size in `%(b)s` and `%(B)s`, under every kind that writes it (sync, gthread and the
/// green kinds share one path; asgi has its own).
#[test]
fn the_500_page_sent_for_a_raising_app_is_counted_in_the_access_log() {
    let format = "%(s)s b=%(b)s B=%(B)s %(U)s";
    for (kind, app, path) in [
        ("sync", "hello:app", "/fault/raise"),
        ("gthread", "hello:app", "/fault/raise"),
        ("gevent", "hello:app", "/fault/raise"),
        ("asgi", "asgi_app:app", "/raise"),
    ] {
        let args = [
            "-k",
            kind,
            "--access-logfile",
            "-",
            "--access-logformat",
            format,
        ];
        let server = Server::app_with(app, &args, 1, Opts::default().with_venv());
        let resp = server.get(path);
        assert_eq!(resp.status, 500, "{kind}");
        let n = resp.body.len();
        assert!(n > 0, "{kind}: the page has a body");
        let want = format!("500 b={n} B={n} {path}");
        server.stdout.find_from(0, &want, WAIT).unwrap_or_else(|| {
            panic!("{kind}: no access line {want:?}:\n{}", server.stdout.text())
        });
    }
}

/// The tutorial app that returns a list of `str`: the error line says what to change.
#[test]
fn a_str_body_is_refused_with_the_fix_in_the_error_line() {
    let server = Server::app("validator_app:app", &[], 1);
    assert_eq!(server.get("/bad/str-body").status, 500);
    let line = server.wait_for("must be bytes, not str", WAIT);
    assert!(
        line.contains("encode the text (`return [text.encode()]`)")
            && line.contains("or give bytes (`return [b\"Hello\"]`)"),
        "{line}"
    );
}
