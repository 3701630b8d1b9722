//! The asgi worker (`-k asgi`; issue 9), HTTP side, when the app or the client fails, against
//! tests/apps/asgi_app.py: an app that raises before or after `http.response.start`, a
//! response field that could split the response, `http.disconnect` when the client leaves,
//! `--asgi-disconnect-grace-period`, and `send()` after it raising an `OSError` (spec 2.4)
//! that is not logged as an error. The scope and streamed bodies: tests/asgi.rs (whose
//! docstring says how the expectations were checked, and `ASGI_REFERENCE_GUNICORN=1`).

use crate::asgi::{asgi, only_worker};
use crate::support::*;
use std::time::{Duration, Instant};

/// An exception before `http.response.start`: a 500 (nothing was sent, so the server still
/// can), the traceback in the error log, and the same worker serves on.
#[test]
fn an_app_that_raises_before_starting_is_a_500_with_a_traceback() {
    let server = asgi("asgi_app:app", &[], 1);
    let pid = only_worker(&server);
    let r = server.fetch("/raise");
    assert_eq!(r.status, 500, "{r:?}");
    server.wait_for("RuntimeError: boom before http.response.start", WAIT);
    assert!(
        server.log().contains("Traceback (most recent call last):"),
        "{}",
        server.log()
    );
    assert_eq!(server.fetch("/pid").text(), pid.to_string());
}

/// A response field that could split the response (CR or LF in its value, a name that is not
/// a token): `send()` raises `ValueError` for it as uvicorn does, nothing of it reaches the
/// wire, and the client gets a 500 instead; a proper field goes out as given.
#[test]
fn a_header_that_could_split_the_response_is_refused() {
    let server = asgi("asgi_app:app", &[], 1);
    for target in [
        "/bad-header?name=x-a&value=1%0D%0ASet-Cookie:%20evil=1",
        "/bad-header?name=x-a&value=1%0Aevil",
        "/bad-header?name=x%20a&value=1",
        "/bad-header?name=x%3Aa&value=1",
    ] {
        let mark = server.mark();
        let r = server.fetch(target);
        assert_eq!(r.status, 500, "{target}: {r:?}");
        assert!(r.header("Set-Cookie").is_none(), "{target}: {r:?}");
        server.wait_for_from(mark, "ValueError: Invalid HTTP header", WAIT);
        assert_eq!(
            server.marker("bad-header").as_deref(),
            Some("ValueError"),
            "{target}"
        );
    }
    let r = server.fetch("/bad-header?name=x-fine&value=a%20b");
    assert_eq!((r.status, r.header("x-fine")), (200, Some("a b")), "{r:?}");
}

/// An exception after the response began: the status line is out, so the only honest signal
/// left is a response visibly cut short — a missing last chunk, or fewer bytes than the
/// Content-Length — and a closed connection; nothing pipelined behind it runs.
#[test]
fn an_app_that_raises_after_starting_cuts_the_response_and_closes() {
    let server = asgi("asgi_app:app", &[], 1);
    let pid = only_worker(&server);
    for (query, chunked) in [("chunked=1", true), ("chunked=0", false)] {
        let mut c = Client::connect(server.port());
        c.send(format!("GET /raise-after-start?{query} HTTP/1.1\r\nHost: x\r\n\r\nGET /pid HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let wire = match c.try_response(false) {
            Err(Ending::Eof(b) | Ending::Reset(b)) => b,
            other => panic!("{query}: {other:?}"),
        };
        assert_eq!(
            count_status_lines(&wire),
            1,
            "{query}: {:?}",
            String::from_utf8_lossy(&wire)
        );
        let (r, _) = parse_response(&wire, false).unwrap();
        assert_eq!(
            (r.status, r.chunked, r.complete),
            (200, chunked, false),
            "{query}"
        );
        assert_eq!(r.body, b"12345678");
    }
    server.wait_for("RuntimeError: boom after http.response.start", WAIT);
    assert_eq!(server.fetch("/pid").text(), pid.to_string());
}

/// Spec: `http.disconnect` is what `receive()` returns once the connection is closed. The app
/// has read its body and waits on `receive()` with no response sent; the client goes; the app
/// gets `http.disconnect` promptly (not at some timeout).
#[test]
fn the_app_receives_http_disconnect_when_the_client_leaves() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /disconnect?id=a HTTP/1.1\r\nHost: x\r\n\r\n");
    server.wait_marker("disconnect-wait-a");
    let left = Instant::now();
    drop(c);
    let message = server.wait_marker("disconnect-a");
    eprintln!(
        "http.disconnect reached the app {:?} after the client left",
        left.elapsed()
    );
    assert_eq!(message, "http.disconnect");
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
}

/// `--asgi-disconnect-grace-period` (Gunicorn 25.0.2): an app that goes on after its client
/// left — ignoring the OSError its `send` raises — has its task cancelled once the grace is
/// over; the cancellation is not logged as an error.
#[test]
fn an_app_that_ignores_the_disconnect_is_cancelled_after_the_grace_period() {
    let server = asgi("asgi_app:app", &["--asgi-disconnect-grace-period", "1"], 1);
    let from = server.mark();
    let mut c = Client::connect(server.port());
    c.send(b"GET /ignore-disconnect?id=g HTTP/1.1\r\nHost: x\r\n\r\n");
    server.wait_marker("ignoring-g");
    let left = Instant::now();
    drop(c);
    server.wait_marker("cancelled-g");
    let took = left.elapsed();
    eprintln!("the app's task was cancelled {took:?} after the client left (grace 1 s)");
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let errors: Vec<String> = server.stderr.snapshot()[from..]
        .iter()
        .filter(|l| l.contains("[ERROR]") || l.contains("Traceback"))
        .cloned()
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Spec 2.4: "If send() is called on a closed connection the server should raise a
/// server-specific subclass of OSError" and "should not log it as an error". (uvicorn 0.54
/// and Gunicorn 27 ignore an HTTP/1 send after the close silently; issue 9 asks for the
/// spec's OSError.) The app catches it, so nothing at all should be logged as an error.
#[test]
fn send_after_the_client_left_raises_an_oserror_not_logged_as_an_error() {
    let server = asgi("asgi_app:app", &[], 1);
    let from = server.mark();
    let mut c = Client::connect(server.port());
    c.send(b"GET /send-after-disconnect?id=b HTTP/1.1\r\nHost: x\r\n\r\n");
    server.wait_marker("disconnect-wait-b");
    drop(c);
    let outcome: serde_json::Value = serde_json::from_str(&server.wait_marker("sad-b")).unwrap();
    assert_eq!(outcome["message"], "http.disconnect", "{outcome}");
    assert_eq!(
        outcome["oserror"], true,
        "send() after the close: {outcome}"
    );
    assert_eq!(server.fetch("/").status, 200);
    let errors: Vec<String> = server.stderr.snapshot()[from..]
        .iter()
        .filter(|l| l.contains("[ERROR]") || l.contains("Traceback"))
        .cloned()
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{}", server.log());
}
