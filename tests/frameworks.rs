//! What a sweep with real frameworks, real clients, TLS and graceful reloads found, each
//! checked through the real binary: a WSGI app under `-k tornado` whose response is larger
//! than the socket takes at once, and the next request on its kept-alive connection; an app
//! that raises once its response is whole (Starlette's 500, a WSGI iterable's `close()`),
//! and the next request on its connection; Django's cookies and a large form body through
//! tornado's `WSGIContainer`; a Starlette WebSocket still open when a graceful stop's time
//! is up.

use crate::asgi_ws::{close_code, frame, handshake, read_frame};
use crate::support::*;
use nix::sys::signal::Signal;
use std::io::Write;

/// `app` from tests/apps under `-k kind` with `extra`, in the test virtualenv.
fn serve(kind: &str, app: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-k", kind];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, 1, Opts::default().with_venv())
}

/// A WSGI app in tornado's `WSGIContainer` answers with one `write_headers` carrying the
/// whole body, then `finish`, neither awaited: both found the socket behind (32 MiB is more
/// than loopback's buffers hold) and each began a wait for it. The connection then waited
/// on a third after the response; only the last one made was ever woken, so the response
/// arrived whole but the connection never read its next request (RFC 9112 §9.3: an HTTP/1.1
/// connection persists). Every request on it is answered now.
#[test]
fn tornado_wsgi_keeps_serving_a_connection_after_a_response_larger_than_the_socket_takes() {
    let server = serve("tornado", "hello:app", &["--keep-alive", "30"]);
    let mut c = Client::connect(server.port());
    // 512 chunks of 64 KiB: 32 MiB, gathered whole by WSGIContainer.
    for round in 0..2 {
        let r = c.get("/stream?n=512&size=65536");
        assert_eq!(r.status, 200, "round {round}: {r:?}");
        assert_eq!(r.body.len(), 512 * 65536, "round {round}");
    }
    let r = c.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
}

/// Sends `first` then `GET /` on one kept-alive connection, both before reading (so the
/// second is already in when the app raises), and returns the two responses.
fn two_on_one_connection(server: &Server, first: &str) -> (Response, Result<Response, Ending>) {
    let mut c = Client::connect(server.port());
    c.send(format!("{first}GET / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let r = c.response();
    (r, c.try_response(false))
}

/// Starlette's ServerErrorMiddleware answers an endpoint's exception with a whole 500 and
/// then re-raises it for the server to log. The connection used to be closed for the raise,
/// though the 500's head had promised it would persist: `requests.Session` (and any
/// pooled client) then lost the next request to an EOF, every time. The 500 stands, the
/// error is logged, and the next request, pipelined or not, is answered (RFC 9112 §9.3); a
/// POST body the endpoint never read is drained first.
#[test]
fn a_starlette_500_leaves_its_connection_serving_the_next_request() {
    let server = serve("asgi", "starlette_errors:app", &[]);
    for first in [
        "GET /boom HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /boom HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    ] {
        let (boom, next) = two_on_one_connection(&server, first);
        assert_eq!(boom.status, 500, "{first}: {boom:?}");
        assert_ne!(boom.header("Connection"), Some("close"), "{boom:?}");
        let next = next.unwrap_or_else(|e| panic!("{first}: no answer after the 500: {e:?}"));
        assert_eq!(
            (next.status, next.text().as_str()),
            (200, "fine"),
            "{first}"
        );
    }
    server.wait_for("boom in the endpoint", WAIT);
}

/// The same under the WSGI kinds that keep connections alive: an iterable whose `close()`
/// raises after its whole body went out (PEP 3333 calls it last) is logged as the app's
/// error, and the connection serves the next request. A response the app cut short (an
/// exception mid-body) still ends the connection: its framing is broken.
#[test]
fn a_wsgi_close_that_raises_after_a_whole_response_keeps_the_connection() {
    for kind in ["gthread", "gevent"] {
        let server = serve(kind, "close_raises:app", &[]);
        let (whole, next) =
            two_on_one_connection(&server, "GET /whole HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (whole.status, whole.text().as_str()),
            (200, "whole"),
            "{kind}"
        );
        let next = next.unwrap_or_else(|e| panic!("{kind}: no answer after close(): {e:?}"));
        assert_eq!((next.status, next.text().as_str()), (200, "fine"), "{kind}");
        server.wait_for("close() failed after the response was whole", WAIT);
    }
}

/// Django writes each `Set-Cookie` value with a leading space (`Morsel.output(header="")`);
/// tornado's `WSGIContainer` (6.5+) refuses such a value, so under `-k tornado` every Django
/// response that set a cookie (a session, a CSRF token) was a 500. The whitespace is OWS
/// around the value (RFC 9110 §5.5), dropped as every other kind drops it: both cookies
/// arrive, as under `-k gthread`.
#[test]
fn django_cookies_arrive_under_tornado_as_under_gthread() {
    for kind in ["tornado", "gthread"] {
        let server = serve(kind, "djproj.wsgi:application", &[]);
        let r = server.fetch("/cookie/");
        assert_eq!(r.status, 200, "{kind}: {r:?}");
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(cookies.len(), 2, "{kind}: {r:?}");
        assert!(cookies[0].starts_with("session=s1;"), "{kind}: {cookies:?}");
        assert!(cookies[1].starts_with("theme=dark;"), "{kind}: {cookies:?}");
    }
}

/// tornado's own server parses a form body into `body_arguments` before the handler runs,
/// and the bridge did the same for WSGI apps, whose body is theirs to read from
/// `wsgi.input`: a form past tornado's 10,000 fields (what `curl --data-binary @file` sends
/// as one, under its default content type) raised out of the parse, a 500 with a
/// traceback. The WSGI app now gets its body under `-k tornado` as under `-k gthread`.
#[test]
fn a_wsgi_app_under_tornado_reads_a_form_body_tornado_would_not_parse() {
    let body = "f=1&".repeat(10_001);
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for kind in ["tornado", "gthread"] {
        let server = serve(kind, "hello:app", &[]);
        let mut c = Client::connect(server.port());
        c.send(request.as_bytes());
        let r = c.response();
        assert_eq!(r.status, 200, "{kind}: {r:?}");
        assert_eq!(r.body, body.as_bytes(), "{kind}");
    }
}

/// A WebSocket session (Starlette's echo) still open when a graceful stop's time is up used
/// to end with its TCP connection dropped, no close frame: the client saw an abnormal
/// closure (1006) and could not tell a server going down from a network failure. The worker
/// now begins the closing handshake with 1001, "going away, such as a server going down"
/// (RFC 6455 §7.4.1), before it lets the connection go.
#[test]
fn a_websocket_still_open_when_the_graceful_stop_ends_is_told_going_away() {
    let server = serve("asgi", "starlette_app:app", &["--graceful-timeout", "2"]);
    let mut ws = handshake(&server, "/ws");
    ws.write_all(&frame(1, b"still here", true, true))
        .expect("send a text message");
    assert_eq!(read_frame(&mut ws), (1, b"still here".to_vec()));
    server.signal(Signal::SIGTERM);
    // The session outlives the graceful stop's wait; its end is the next frame.
    assert_eq!(close_code(&read_frame(&mut ws)), 1001);
}
