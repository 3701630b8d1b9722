//! The same request under every worker kind gets the same answer, the same access-log line and
//! the same error-log lines: tests/apps/parity_wsgi.py under sync, gthread, gevent, eventlet and
//! tornado, its twin tests/apps/parity_asgi.py under asgi. Each check is one `#[test]` per kind
//! (`kind_parity::asgi::name`, …), found by a black-box sweep comparing the kinds.

use crate::support::*;
use std::net::Shutdown;
use std::time::Duration;

/// Well under the 5 s a server gives an unread body to drain and the 3 s disconnect grace: a
/// request that is over must be seen to be over before either could be what ended it.
const PROMPT: Duration = Duration::from_secs(2);

/// One `#[test]` per kind for each check `fn name(kind: &str)`.
macro_rules! per_kind {
    ($($check:ident),* $(,)?) => {
        mod sync { $( #[test] fn $check() { super::$check("sync") } )* }
        mod gthread { $( #[test] fn $check() { super::$check("gthread") } )* }
        mod gevent { $( #[test] fn $check() { super::$check("gevent") } )* }
        mod eventlet { $( #[test] fn $check() { super::$check("eventlet") } )* }
        mod tornado { $( #[test] fn $check() { super::$check("tornado") } )* }
        mod asgi { $( #[test] fn $check() { super::$check("asgi") } )* }
    };
}

per_kind!(
    a_body_the_client_cut_short_ends_its_request_at_once,
    a_body_cut_inside_its_length_is_a_disconnect_not_a_bad_request,
    a_body_dropped_from_a_no_body_response_is_warned_once_in_gunicorns_words,
    a_client_that_leaves_mid_response_is_not_an_app_error,
    a_latin1_reason_phrase_goes_out_as_the_app_gave_it,
    an_app_error_is_logged_with_the_method_and_the_raw_uri,
    two_content_lengths_that_differ_are_refused,
    environ_atoms_are_looked_up_whatever_their_case,
);

/// One worker of `kind` serving the parity app, its access log on stdout.
fn serve(kind: &str, extra: &[&str]) -> Server {
    let app = match kind {
        "asgi" => "parity_asgi:app",
        _ => "parity_wsgi:app",
    };
    let mut args = vec!["-k", kind, "--access-logfile", "-"];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, 1, Opts::default().with_venv())
}

/// Sends `raw`, then the client's FIN: what it said is all it will ever say.
fn send_then_half_close(server: &Server, raw: &[u8]) -> Client {
    let mut c = Client::connect(server.port());
    c.send(raw);
    c.stream.shutdown(Shutdown::Write).expect("half-close");
    c
}

/// The access-log line of the request whose request line is `request` (`POST /x HTTP/1.1`).
fn access_line(server: &Server, request: &str, timeout: Duration) -> Option<String> {
    server
        .stdout
        .find_from(0, &format!("\"{request}\""), timeout)
}

/// Half a Content-Length body, then the client's FIN, to a route that answers without reading
/// the body: the body can never complete, so the connection cannot carry another request
/// (RFC 9112 §6.3) and ends now, and the request is over — logged, no longer in the app.
/// Under -k asgi the drain of the unread body waited for a read event the client's FIN had
/// already answered, and the disconnect grace then cancelled the connection's task: no
/// access-log line ever, the request shown in the app forever, and a stop that waited the
/// whole graceful timeout for it.
fn a_body_the_client_cut_short_ends_its_request_at_once(kind: &str) {
    let mut server = serve(kind, &[]);
    let raw = b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc";
    let mut c = send_then_half_close(&server, raw);
    let ending = c.ending(PROMPT);
    assert!(
        !matches!(ending, Ending::Open(_)),
        "{kind}: the connection of a body that cannot complete is still open: {ending:?}"
    );
    let logged = access_line(&server, "POST /noread HTTP/1.1", PROMPT);
    assert!(
        logged.is_some(),
        "{kind}: no access-log line for the request:\n{}",
        server.stdout.text()
    );
    assert_eq!(server.fetch("/").status, 200, "{kind}: served after it");
    let stopped = std::time::Instant::now();
    server.stop();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{kind}: the stop waited {:?} for a request that was over",
        stopped.elapsed()
    );
}

/// Half a Content-Length body, then the client's FIN, to a route that reads the body: the
/// client is gone (Gunicorn's NoMoreData: a debug line, no response), not an invalid request.
/// Every kind's read says so; -k asgi and -k tornado logged `Invalid request from ip=…: No
/// more data after: b''` and a 400 in the access log. A body cut inside chunked framing is a
/// framing error under every kind (a 400), as before.
fn a_body_cut_inside_its_length_is_a_disconnect_not_a_bad_request(kind: &str) {
    let mut server = serve(kind, &[]);
    let raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc";
    let mut c = send_then_half_close(&server, raw);
    match c.ending(PROMPT) {
        Ending::Eof(got) | Ending::Reset(got) => assert!(
            got.is_empty(),
            "{kind}: answered a client that left: {:?}",
            String::from_utf8_lossy(&got)
        ),
        open => panic!("{kind}: still open after the client left: {open:?}"),
    }
    let line = access_line(&server, "POST /echo HTTP/1.1", PROMPT)
        .unwrap_or_else(|| panic!("{kind}: no access-log line:\n{}", server.stdout.text()));
    assert!(
        !line.contains("\" 400 "),
        "{kind}: a client that left logged as a bad request: {line}"
    );
    let log = server.stop_and_log();
    assert!(
        !log.contains("Invalid request from"),
        "{kind}: a client that left logged as an invalid request:\n{log}"
    );
}

/// An app's body on a response that has none (HEAD, 204: RFC 9110 §6.4.1) is dropped, the
/// framing kept whole, and Gunicorn 27 says so once a request, naming the method and the
/// status (`WSGI app sent …` from its WSGI workers, `ASGI app sent …` from its asgi worker).
/// The WSGI kinds left out the method; -k asgi said nothing. tornado is left out: its own
/// handlers never write such a body, and a WSGI app under it is tornado's WSGIContainer's.
fn a_body_dropped_from_a_no_body_response_is_warned_once_in_gunicorns_words(kind: &str) {
    if kind == "tornado" {
        return;
    }
    let mut server = serve(kind, &[]);
    let mut c = Client::connect(server.port());
    c.send(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = c.next_response(true);
    assert_eq!(head.status, 200, "{kind}");
    assert_eq!(head.header("Content-Length"), Some("2"), "{kind}");
    assert_eq!(server.fetch("/204").status, 204, "{kind}");
    let app = if kind == "asgi" { "ASGI" } else { "WSGI" };
    for (method, status) in [("HEAD", 200), ("GET", 204)] {
        let want = format!(
            "[WARNING] {app} app sent body bytes on a no-body response \
             (method={method} status={status}); dropping per RFC 9110."
        );
        server.wait_for(&want, WAIT);
    }
    let log = server.stop_and_log();
    assert_eq!(
        log.matches("no-body response").count(),
        2,
        "{kind}: once each:\n{log}"
    );
}

/// A client that asks for a large response and goes at once, with a reset (SO_LINGER 0): the
/// server's write of the response fails, which is the client's doing. Every kind takes it as
/// Gunicorn does (`Ignoring EPIPE` / `Ignoring connection reset`, DEBUG) and serves on;
/// -k tornado logged `Error handling request` with an `OSError` traceback from the bridge's
/// `write_headers`, where a WSGI app's whole response is written.
fn a_client_that_leaves_mid_response_is_not_an_app_error(kind: &str) {
    let mut server = serve(kind, &[]);
    let mut c = Client::connect(server.port());
    c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    let reset = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    nix::sys::socket::setsockopt(&c.stream, nix::sys::socket::sockopt::Linger, &reset)
        .expect("SO_LINGER");
    drop(c);
    access_line(&server, "GET /big HTTP/1.1", WAIT)
        .unwrap_or_else(|| panic!("{kind}: no access-log line:\n{}", server.stdout.text()));
    assert_eq!(server.fetch("/").status, 200, "{kind}: served after it");
    let log = server.stop_and_log();
    for sign in ["Error handling request", "Traceback", "never retrieved"] {
        assert!(
            !log.contains(sign),
            "{kind}: {sign:?} for a client that left:\n{log}"
        );
    }
}

/// A WSGI status is a Latin-1 string (PEP 3333) and a reason phrase may hold obs-text (RFC
/// 9112 §4): `200 Café` goes out with é as the one byte 0xE9, as Gunicorn 27 sends it. The
/// WSGI kinds answered 500 (`Invalid status line`) where tornado's container sent it. No
/// ASGI counterpart: an ASGI app gives only the code.
fn a_latin1_reason_phrase_goes_out_as_the_app_gave_it(kind: &str) {
    if kind == "asgi" {
        return;
    }
    let server = serve(kind, &[]);
    let mut c = Client::connect(server.port());
    c.send(b"GET /cafe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let wire = read_all(&mut c.stream);
    assert!(
        wire.starts_with(b"HTTP/1.1 200 Caf\xe9\r\n"),
        "{kind}: {:?}",
        String::from_utf8_lossy(&wire)
    );
}

/// An app that raises before its response: a 500, and the error log's line as Gunicorn 27
/// writes it, `Error handling request METHOD URI` (the raw target, query included) with the
/// traceback; the worker serves on. -k asgi and -k tornado named the path only.
fn an_app_error_is_logged_with_the_method_and_the_raw_uri(kind: &str) {
    let server = serve(kind, &[]);
    assert_eq!(server.fetch("/raise?x=%41").status, 500, "{kind}");
    server.wait_for("] [ERROR] Error handling request GET /raise?x=%41", WAIT);
    server.wait_for("RuntimeError: raised by the app", WAIT);
    assert_eq!(server.fetch("/").status, 200, "{kind}: served after it");
}

/// An app's two Content-Length fields that differ (2 and 3) are refused with a 500 (RFC 9110
/// §8.6): sent on, the head would carry two lengths, which a client or a proxy in front may
/// each read its own way (RFC 9112 §6.3: an unrecoverable error). -k asgi and -k tornado
/// refused them; the WSGI kinds sent both.
fn two_content_lengths_that_differ_are_refused(kind: &str) {
    let server = serve(kind, &[]);
    let mut c = Client::connect(server.port());
    c.send(b"GET /lengths HTTP/1.1\r\nHost: x\r\n\r\n");
    let wire = match c.ending(PROMPT) {
        Ending::Eof(wire) | Ending::Reset(wire) | Ending::Open(wire) => wire,
    };
    let responses = parse_all(&wire, false);
    assert_eq!(
        responses.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500],
        "{kind}: {:?}",
        String::from_utf8_lossy(&wire)
    );
    assert_eq!(responses[0].header_count("Content-Length"), 1, "{kind}");
    assert_eq!(server.fetch("/").status, 200, "{kind}: served after it");
}

/// `%({key}e)s` finds the environ's key whatever case the format wrote it in, as Gunicorn's
/// atoms (the environ's keys lower-cased) do: `{request_method}e` is `REQUEST_METHOD`; a key
/// the environ lacks is `-`.
fn environ_atoms_are_looked_up_whatever_their_case(kind: &str) {
    let format = "ATOMS %({request_method}e)s %({REQUEST_METHOD}e)s %({Path_Info}e)s %({nope}e)s";
    let server = serve(kind, &["--access-logformat", format]);
    assert_eq!(server.get("/atoms").status, 200, "{kind}");
    let line = server.stdout.find_from(0, "ATOMS ", PROMPT * 5);
    let line = line.unwrap_or_else(|| panic!("{kind}: {}", server.stdout.text()));
    assert!(line.ends_with("ATOMS GET GET /atoms -"), "{kind}: {line}");
}
