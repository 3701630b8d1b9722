//! `-k asgi` where tests/differential/asgi_diff.py found it differing from uvicorn 0.54 and
//! Gunicorn 27 `-k asgi` and the spec sided with them (ASGI HTTP and WebSocket specs 2.x,
//! RFC 9110/9112, RFC 6455), against tests/apps/asgi_probe.py. Each test failed before its
//! fix. What differs on purpose is listed in the commit that added this file.

use crate::asgi::asgi;
use crate::asgi_ws::{close_code, frame, handshake, read_frame, upgrade};
use crate::support::*;
use nix::sys::signal::Signal;
use std::io::Write;
use std::time::Duration;

fn probe() -> Server {
    asgi("asgi_probe:app", &[], 1)
}

/// What the probes that look past their response saw (`/last`).
fn last(server: &Server) -> serde_json::Value {
    let mut c = Client::connect(server.port());
    c.send(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.response().json()
}

/// The whole answer to `raw` on a fresh connection, read to the server's close.
fn answer(server: &Server, raw: &[u8]) -> String {
    let mut c = Client::connect(server.port());
    c.send(raw);
    match c.ending(Duration::from_secs(10)) {
        Ending::Eof(bytes) | Ending::Reset(bytes) | Ending::Open(bytes) => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// An app that returns before its response is whole has failed: a 500 when nothing went out
/// (uvicorn and Gunicorn 27 answer so; gunicorn-rs closed the connection without a word).
#[test]
fn an_app_that_returns_without_responding_gets_a_500() {
    let server = probe();
    for path in ["/noresponse", "/no_body_message"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let got = answer(&server, raw.as_bytes());
        assert!(got.starts_with("HTTP/1.1 500 "), "{path}: {got:?}");
        assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got:?}");
    }
}

/// ASGI HTTP spec, `http.disconnect`: "Sent to the application if receive is called after a
/// response has been sent". gunicorn-rs gave the request's (empty) body again instead.
/// And a body sent after the response is whole is the app's error (`RuntimeError`, as
/// uvicorn raises), not bytes silently dropped.
#[test]
fn receive_after_the_response_says_http_disconnect() {
    let server = probe();
    for path in ["/after_response", "/body_after_end"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut c = Client::connect(server.port());
        c.send(raw.as_bytes());
        assert_eq!(c.response().status, 200);
    }
    // /after_response waits up to a second for its `receive`.
    let seen = poll(Duration::from_secs(10), "the probes' report", || {
        let seen = last(&server);
        seen.get("after_response").is_some().then_some(seen)
    });
    assert_eq!(seen["after_response"], "http.disconnect", "{seen}");
    assert_eq!(seen["body_after_end"], "RuntimeError", "{seen}");
}

/// A `Content-Length` the server cannot frame by, a status that is not three digits (RFC 9112
/// §4, §6.3) or a 1xx as the final status (RFC 9110 §15.2) is refused at `send` (a 500) —
/// gunicorn-rs sent the app's `content-length: abc` beside its own `content-length: 5`,
/// `HTTP/1.1 99 `, and a bodiless `101` on a connection it then kept open.
#[test]
fn an_unframeable_length_or_status_from_the_app_is_refused() {
    let server = probe();
    for path in ["/cl/bad", "/bad_status", "/status/101", "/status/100"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let got = answer(&server, raw.as_bytes());
        assert!(got.starts_with("HTTP/1.1 500 "), "{path}: {got:?}");
        assert_eq!(
            got.to_ascii_lowercase().matches("content-length").count(),
            1,
            "{got:?}"
        );
    }
}

/// RFC 9110 §8.6: a Content-Length in a 304, or in an answer to HEAD, MUST equal what a 200
/// to GET would carry — which the server does not know when the app sent no body. gunicorn-rs
/// made up `Content-Length: 0` for both.
#[test]
fn no_length_is_made_up_for_a_304_or_a_bodiless_head() {
    let server = probe();
    let mut c = Client::connect(server.port());
    c.send(b"GET /not_modified HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.next_response(true);
    assert_eq!((r.status, r.header("content-length")), (304, None), "{r:?}");
    c.send(b"HEAD /empty HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.next_response(true);
    assert_eq!((r.status, r.header("content-length")), (200, None), "{r:?}");
    // A HEAD answered with the GET's body: that length is known, and kept.
    c.send(b"HEAD /nocl_whole HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.next_response(true);
    assert_eq!(r.header("content-length"), Some("5"), "{r:?}");
}

/// An app's `connection: close` ends the connection after the response (RFC 9112 §9.6; as
/// uvicorn). gunicorn-rs dropped the field as hop-by-hop and kept the connection open.
#[test]
fn an_app_that_says_connection_close_gets_the_close() {
    let server = probe();
    let got = answer(
        &server,
        b"GET /connection_close HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(got.starts_with("HTTP/1.1 200 "), "{got:?}");
    assert!(got.contains("\r\nConnection: close\r\n"), "{got:?}");
    assert!(got.ends_with("bye"), "{got:?}");
}

/// A WebSocket app that raises before `websocket.accept` gets one answer, a 500: gunicorn-rs
/// sent the 500 and then a 403 after it on the same connection.
#[test]
fn a_websocket_app_that_raises_before_accept_gets_one_500() {
    let server = probe();
    let got = answer(&server, upgrade("/ws/raise").as_bytes());
    assert!(got.starts_with("HTTP/1.1 500 "), "{got:?}");
    assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "two answers: {got:?}");
}

/// After `websocket.accept` the connection carries frames: an app that raises gets a Close
/// 1011 (RFC 6455 §7.4.1, "an unexpected condition"), not an HTTP 500 page among the frames.
#[test]
fn a_websocket_app_that_raises_after_accept_is_closed_with_1011() {
    let server = probe();
    let mut s = handshake(&server, "/ws/raise_after");
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!(opcode, 0x8, "a Close frame, got {opcode:#x}: {payload:?}");
    assert_eq!(
        payload.get(..2),
        Some(&1011u16.to_be_bytes()[..]),
        "{payload:?}"
    );
    s.write_all(&frame(0x8, &payload[..2], true, true)).unwrap();
}

/// The WebSocket Denial Response extension (ASGI WebSocket spec 2.4, as uvicorn has it): the
/// app answers the handshake with an HTTP response of its own, and the scope says so.
#[test]
fn a_websocket_handshake_can_be_denied_with_an_http_response() {
    let server = probe();
    let got = answer(&server, upgrade("/ws/deny_response").as_bytes());
    assert!(got.starts_with("HTTP/1.1 418 "), "{got:?}");
    assert!(got.contains("\r\nConnection: close\r\n"), "{got:?}");
    assert!(got.ends_with("\r\n\r\nteapot"), "{got:?}");
    assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got:?}");

    let mut s = handshake(&server, "/ws/scope");
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!(opcode, 0x1);
    let scope: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        scope["extensions"]["websocket.http.response"],
        serde_json::json!({})
    );
}

/// A client that resets its connection while a streamed response is being written is let
/// go: the connection is closed once the app stops. gunicorn-rs's connection task died on
/// the `OSError` of the bytes it could no longer write, the socket stayed open and counted
/// in flight, and a graceful stop waited its whole `--graceful-timeout` for it.
#[test]
fn a_client_that_resets_mid_response_does_not_hold_the_graceful_stop() {
    let mut server = asgi("asgi_probe:app", &["--graceful-timeout", "60"], 1);
    let c = Client::connect(server.port());
    let mut stream = c.stream;
    stream
        .write_all(b"GET /slow_stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1];
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(stream.peek(&mut first).unwrap(), 1, "the response began");
    // Closed with its bytes unread: the kernel answers the next segment with a reset.
    drop(stream);
    // The app streams for a second more at most, then the stop may end.
    server.signal(Signal::SIGTERM);
    server.wait_exit(Duration::from_secs(15));
}

/// RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
/// control frame", and a code outside the registered ranges fails the client's side. An app
/// that asks for one gets a `ValueError` (as under uvicorn), and the client a Close 1011;
/// gunicorn-rs sent the app's 1006 as it was.
#[test]
fn a_reserved_close_code_from_the_app_is_not_sent() {
    let server = probe();
    for command in ["close 1006 reserved", "close 999 low"] {
        let mut s = handshake(&server, "/ws/echo");
        s.write_all(&frame(0x1, command.as_bytes(), true, true))
            .unwrap();
        let (opcode, payload) = read_frame(&mut s);
        assert_eq!(opcode, 0x8, "{command}: a Close frame, got {payload:?}");
        assert_eq!(
            payload.get(..2),
            Some(&1011u16.to_be_bytes()[..]),
            "{command}"
        );
    }
}

/// A client that leaves while the app listens for it (`receive` after the body: its EOF is
/// `http.disconnect`) gets nothing more: the app's `send` then raises `OSError`, which is
/// the client's leaving, not the app's failure. gunicorn-rs wrote a 500 page to it (uvicorn
/// and Gunicorn 27 write nothing).
#[test]
fn a_client_told_gone_is_sent_no_error_page() {
    let server = probe();
    let mut c = Client::connect(server.port());
    c.send(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.ending(Duration::from_secs(10)), Ending::Eof(Vec::new()));
}

/// Under `-k tornado`, a `@stream_request_body` handler that answers in `prepare` (a 401
/// before the upload is read) leaves a client that is still there: the bridge reads the
/// body on (as tornado's own server does), the connection carries the next request, and
/// `on_connection_close` does not run. (`receive` saying `http.disconnect` once the response
/// is whole is for ASGI apps only; tornado's bridge reads through it.)
#[test]
fn a_tornado_handler_that_answers_before_its_body_keeps_its_client() {
    let server = crate::tornado::tornado("tornado_early:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"PUT /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    c.send(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().status, 401);
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "closed=0"));
}

/// What `send` returns is an awaitable like any other (gunicorn-rs returns one already done,
/// the message sent when `send` is called; uvicorn a coroutine): wrapped in a future,
/// gathered, given to `asyncio.create_task` (which takes coroutines only) or a timeout, the
/// messages still go out whole and in order.
#[test]
fn what_send_returns_can_be_wrapped_in_a_task_or_gathered() {
    let server = probe();
    let r = server.fetch("/send_wrapped");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.body), "0,1,2,3,end", "{r:?}");
}

/// The same for a WebSocket session (gunicorn-rs's `send` and `receive` there are not
/// `async def` coroutines either): `send`'s messages wrapped, gathered, made a task go out in
/// order; an unknown type is a `RuntimeError`; a `receive` cancelled by its timeout while it
/// waits loses nothing, and one made a task gets a message that came with the one before;
/// after the app's close, `send` raises `OSError`.
#[test]
fn what_websocket_send_and_receive_return_can_be_wrapped_in_a_task_or_gathered() {
    let server = probe();
    let mut s = handshake(&server, "/ws/wrapped");
    let text = |t: &str| (0x1, t.as_bytes().to_vec());
    for want in [
        text("0"),
        text("1"),
        text("2"),
        (0x2, b"3".to_vec()),
        text("4"),
    ] {
        assert_eq!(read_frame(&mut s), want);
    }
    assert_eq!(read_frame(&mut s), text("RuntimeError"));
    assert_eq!(read_frame(&mut s), text("timed out"));
    let mut both = frame(0x1, b"a", true, true);
    both.extend(frame(0x1, b"b", true, true));
    s.write_all(&both).unwrap();
    assert_eq!(read_frame(&mut s), text("got a"));
    assert_eq!(read_frame(&mut s), text("got b"));
    let close = read_frame(&mut s);
    assert_eq!(close_code(&close), 4000);
    assert_eq!(close.1.get(2..), Some(&b"done"[..]));
    let after = poll(WAIT, "the send after the close", || {
        last(&server)["ws_send_after_close"]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(after, "OSError");
}

/// ASGI's `headers` is `Iterable[[byte string, byte string]]`: a header given as a list of
/// two (and a value as a `bytearray`) is sent as a tuple of two `bytes` is, as uvicorn sends it.
#[test]
fn headers_given_as_lists_are_sent() {
    let server = probe();
    let r = server.fetch("/list-headers");
    assert_eq!((r.status, r.text().as_str()), (200, "listed"), "{r:?}");
    assert_eq!(r.header("x-list"), Some("yes"), "{r:?}");
}
