//! Refused as early as the bytes allow (issue 12; src/http/scan.rs), on a running server of
//! each kind that reads heads differently (sync, gthread, asgi): each case is sent one byte
//! per write; up to the byte before the deciding one the server answers nothing and keeps the
//! connection, and right after the deciding byte the refusal arrives and the connection
//! closes — with `--header-timeout` at 60 s, so no timeout can be what answers.

use crate::support::*;
use std::time::{Duration, Instant};

/// The bytes of each case end with its deciding byte; the status it is refused with.
fn cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let fixed: &[(&str, &[u8], u16)] = &[
        ("TLS ClientHello on a plain port", b"\x16", 400),
        ("binary garbage", b"\x00", 400),
        ("a lowercase method", b"g", 400),
        ("a control byte in the target", b"GET /a\x01", 400),
        ("a byte >= 0x80 in the target", b"GET /\xc3", 400),
        ("asterisk-form for GET", b"GET *", 400),
        ("authority-form for GET", b"GET example.com:4", 400),
        ("not an HTTP version", b"GET / HTTX", 400),
        ("HTTP/2 on an HTTP/1 request-line", b"GET / HTTP/2", 400),
        ("a bare CR after the version", b"GET / HTTP/1.1\rX", 400),
        (
            "whitespace before the colon",
            b"GET / HTTP/1.1\r\nHost ",
            400,
        ),
        (
            "a control byte in a value",
            b"GET / HTTP/1.1\r\nHost: a\x00",
            400,
        ),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\n ", 400),
    ];
    let mut cases: Vec<_> = fixed.iter().map(|&(w, b, s)| (w, b.to_vec(), s)).collect();
    // The default --limit-request-line is 4094: the 4095th byte (not a CR) overruns it.
    cases.push((
        "a request-line over the limit",
        [&b"GET /"[..], &[b'a'; 4090]].concat(),
        414,
    ));
    cases
}

/// The deciding byte's answer must come well before any timeout (`--header-timeout 60`).
const PROMPT: Duration = Duration::from_secs(10);
/// How long "nothing yet" is watched for before the deciding byte.
const QUIET: Duration = Duration::from_millis(150);

fn refuses_each_case_at_its_deciding_byte(server: &Server, kind: &str) {
    for (what, bytes, status) in cases() {
        let mut c = Client::connect(server.port());
        c.stream.set_nodelay(true).expect("TCP_NODELAY");
        let (before, deciding) = bytes.split_at(bytes.len() - 1);
        // One byte per write (the long line in a few writes: 4095 round trips buy nothing).
        let piece = if before.len() > 64 { 512 } else { 1 };
        for chunk in before.chunks(piece) {
            c.send(chunk);
        }
        match c.ending(QUIET) {
            Ending::Open(got) if got.is_empty() => {}
            other => panic!("{kind}, {what}: answered before the deciding byte: {other:?}"),
        }
        let sent = Instant::now();
        c.send(deciding);
        let ending = c.ending(PROMPT);
        let took = sent.elapsed();
        let (Ending::Eof(wire) | Ending::Reset(wire)) = &ending else {
            panic!("{kind}, {what}: still open {took:?} after the deciding byte: {ending:?}");
        };
        let responses = parse_all(wire, false);
        assert_eq!(
            responses.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![status],
            "{kind}, {what}: {:?}",
            String::from_utf8_lossy(wire)
        );
        assert_eq!(
            responses[0].header("Connection"),
            Some("close"),
            "{kind}, {what}"
        );
        eprintln!("{kind}: {what}: {status} {took:?} after the deciding byte");
    }
    // The worker is still there to serve a request.
    assert_eq!(
        server.fetch("/").status,
        200,
        "{kind}: served after the refusals"
    );
}

#[test]
fn sync_refuses_at_the_deciding_byte() {
    let server = Server::app("hello:app", &["-k", "sync", "--header-timeout", "60"], 1);
    refuses_each_case_at_its_deciding_byte(&server, "sync");
}

#[test]
fn gthread_refuses_at_the_deciding_byte() {
    let args = ["-k", "gthread", "--threads", "2", "--header-timeout", "60"];
    let server = Server::app("hello:app", &args, 1);
    refuses_each_case_at_its_deciding_byte(&server, "gthread");
}

#[test]
fn asgi_refuses_at_the_deciding_byte() {
    let server = crate::asgi::asgi("asgi_app:app", &["--header-timeout", "60"], 1);
    refuses_each_case_at_its_deciding_byte(&server, "asgi");
}
