//! Connections under `-k asgi`, with the checks the WSGI kinds pass (the HTTP layer is the same
//! Rust code for every kind): keep-alive and pipelining, `Connection: close`, `--keep-alive 0`
//! and the idle close, bad input on a kept-alive connection (tests/keepalive.rs); Gunicorn's
//! request corpus on kept-alive connections (tests/corpus_server.rs); graceful stops — TERM
//! with a request in flight, HUP under a session loop, requests crossing the close,
//! `--max-requests` (tests/graceful_keepalive.rs); 40 slowloris clients beside normal
//! requests (tests/slowloris.rs).
//!
//! Apps: tests/apps/asgi_hello.py (hello.py's routes in ASGI, so the checks run unchanged) and
//! asgi_corpus_app.py, both checked under uvicorn 0.54.

use crate::asgi::asgi;
use crate::corpus_server::{keep_alive_check, run_corpus_on, Fixture};
use crate::graceful_keepalive::checks as graceful;
use crate::green_keepalive::keep_alive_suite;
use crate::support::*;

/// tests/keepalive.rs's checks on `asgi_hello` with Gunicorn's default settings, then with
/// `--keep-alive 0`, then `--keep-alive 1`. Left out: the `Expect: 100-continue` check, whose
/// second half wants a 100 for a request the app never reads — under ASGI the server learns
/// that the app wants the body only when it calls `receive()` (RFC 9110 §10.1.1 lets a server
/// answer with a final status instead); the half that applies is the next test.
#[test]
fn keep_alive_pipelining_and_bad_input() {
    let leave_out = ["expect_100_continue_on_a_kept_alive_connection"];
    let failures = keep_alive_suite("asgi", &leave_out, |extra| asgi("asgi_hello:app", extra, 1));
    assert!(
        failures.is_empty(),
        "{} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `Expect: 100-continue` to an app that reads the body: the 100 comes (the app's first
/// `receive()` asks for the body), then the echo, and the connection goes on — twice.
#[test]
fn expect_100_continue_for_an_app_that_reads_the_body() {
    let server = asgi("asgi_hello:app", &[], 1);
    let mut c = Client::connect(server.port());
    let port = c.local_port().to_string();
    for round in 0..2 {
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
        );
        let interim = c.next_response(false);
        assert_eq!(interim.status, 100, "round {round}: {interim:?}");
        c.send(b"0123456789");
        let r = c.response();
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "0123456789"),
            "round {round}"
        );
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
    assert!(c.get("/peer").text().starts_with(&port));
}

/// `Expect: 100-continue` to an app that answers without reading the body: no 100, and the
/// final answer says `Connection: close` and ends the connection at once (RFC 9110 §10.1.1:
/// the client may never send a body it was not asked for; waiting to drain it would hold the
/// connection for nothing).
#[test]
fn expect_100_continue_answered_without_the_body_closes() {
    let server = asgi("asgi_hello:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Connection"), Some("close"));
    match c.ending(std::time::Duration::from_secs(3)) {
        Ending::Eof(rest) => assert!(rest.is_empty(), "{rest:?}"),
        other => panic!("the connection did not end: {other:?}"),
    }
}

/// What an ASGI scope can say of a request target, for the fixtures whose target is not a
/// plain origin-form path: every spelling a correct server may hand the app. `raw_path` is
/// "the original HTTP path component" and `path` "the request target excluding any query
/// string", so for an absolute-form target either the path component or the whole target
/// before `?` is right; a fragment (not part of a request target, RFC 9112 §3.2) may be kept in
/// `query_string` or dropped; an authority-form (CONNECT) target has no path at all, so the
/// target itself or `/` stand in.
fn asgi_spellings(uri: &str) -> Vec<String> {
    let mut out = vec![uri.to_string()];
    if let Some((before, _)) = uri.split_once('#') {
        out.push(before.to_string());
    }
    if let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    {
        let origin = rest.find('/').map_or("/", |i| &rest[i..]);
        out.push(origin.to_string());
    }
    if !uri.starts_with('/') && !uri.contains("://") && uri != "*" {
        out.push("/".to_string());
    }
    out
}

/// The fixture with its n-th request's target replaced by `uri`.
fn with_uri(f: &Fixture, n: usize, uri: &str) -> Fixture {
    let mut f = f.clone();
    f.expected["requests"][n]["uri"] = uri.into();
    f
}

/// tests/corpus_server.rs's kept-alive check, accepting for each target any ASGI spelling
/// (`asgi_spellings`); the bytes on the wire, the statuses and the bodies are checked as for
/// every other kind.
fn asgi_corpus_check(server: &Server, f: &Fixture, valid: bool) -> Result<(), String> {
    let requests = f.expected["requests"].as_array().map_or(0, |r| r.len());
    let odd = (0..requests).find(|&n| {
        let uri = f.expected["requests"][n]["uri"].as_str().unwrap_or("/");
        !uri.starts_with('/') || uri.contains('#')
    });
    let Some(n) = odd.filter(|_| valid) else {
        return keep_alive_check(server, f, valid);
    };
    let uri = f.expected["requests"][n]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let mut errors = Vec::new();
    for spelling in asgi_spellings(&uri) {
        match keep_alive_check(server, &with_uri(f, n, &spelling), valid) {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(format!("as {spelling:?}: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// Every fixture of Gunicorn's corpus with default settings, on its own kept-alive
/// connection: invalid ones get Gunicorn 27's status and a close, valid ones a 200 per
/// request with the method, target and body length the app received.
#[test]
fn request_corpus_with_keep_alive() {
    let server = asgi("asgi_corpus_app:app", &[], 1);
    run_corpus_on(&server, "asgi", asgi_corpus_check);
}

/// TERM with a request in flight on a kept-alive connection and an idle one: the idle one
/// gets an EOF at once, the request its answer with `Connection: close`, and the master exits
/// 0 well before `--graceful-timeout`.
#[test]
fn term_lets_a_request_in_flight_finish() {
    let mut server = asgi(
        "asgi_hello:app",
        &["--graceful-timeout", "10", "--keep-alive", "30"],
        1,
    );
    graceful::term_lets_a_request_in_flight_on_a_kept_alive_connection_finish(&mut server);
}

/// TERM with a connection that has sent nothing and one whose request is just behind its
/// connect: the request is answered, the silent one ends with an EOF within the stop's grace
/// for silent connections (not `--header-timeout`), as under every other kind. Before, the
/// stop closed both at once, whether or not a request had come.
#[test]
fn term_answers_a_request_behind_its_connect_and_closes_a_silent_one() {
    crate::green::term_closes_a_connection_that_sent_nothing_at_once_with("asgi", "asgi_hello:app");
}

/// Two HUPs under a `requests.Session` loop: no request fails.
#[test]
fn hup_under_a_session_loop_fails_no_request() {
    graceful::hup_under_a_session_loop_fails_no_request(&asgi("asgi_hello:app", &[], 2));
}

/// 8 clients looping on kept-alive connections through 3 HUPs and a TERM: each ends with a
/// response saying close or an EOF before a response, never a reset or a cut response.
#[test]
fn requests_crossing_the_close_meet_a_response_or_eof() {
    let args = ["--keep-alive", "30", "--graceful-timeout", "10"];
    graceful::requests_crossing_the_close_meet_a_response_or_eof_never_a_reset(&mut asgi(
        "asgi_hello:app",
        &args,
        2,
    ));
}

/// `--max-requests 5`: the fifth response says close, nothing pipelined behind it runs, and a
/// new worker serves on.
#[test]
fn max_requests_recycles_the_worker() {
    graceful::max_requests_ends_the_last_response_with_close(&asgi(
        "asgi_hello:app",
        &["--max-requests", "5"],
        1,
    ));
}

/// 40 clients trickling their heads hold nothing of the loop: normal requests on the one
/// worker are answered at once.
#[test]
fn slowloris_does_not_stall_an_asgi_worker() {
    let server = asgi("asgi_hello:app", &[], 1);
    crate::slowloris::normal_requests_beside_40_slowloris(&server, "asgi -w 1");
}
