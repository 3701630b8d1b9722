//! The checks every kind passes, under `-k tornado` (the HTTP layer is the same Rust code):
//! keep-alive, pipelining and bad input, bodies up to tornado's max_body_size, Gunicorn's
//! request corpus, graceful stops, `--max-requests`, `--worker-connections`, slowloris.

use super::*;
use crate::corpus_server::{keep_alive_check, run_corpus_on, Fixture};
use crate::graceful_keepalive::checks as graceful;
use crate::green_keepalive::keep_alive_suite;

/// tests/keepalive.rs's checks on `tornado_hello` with Gunicorn's default settings, then with
/// `--keep-alive 0`, then `--keep-alive 1` (Gunicorn's tornado worker ignores it). Left out:
/// the check that a body the app never reads past 64 KiB closes the connection — tornado reads
/// every body for its handler before it runs (up to its 100 MiB `max_body_size`), so no body
/// is left unread; the next test checks what happens instead.
#[test]
fn keep_alive_pipelining_and_bad_input() {
    let leave_out = ["unread_body_beyond_the_drain_bound_closes_the_connection"];
    let failures = keep_alive_suite("tornado", &leave_out, |extra| {
        tornado("tornado_hello:app", extra, 1)
    });
    assert!(
        failures.is_empty(),
        "{} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A 1 MiB body to a handler that never looks at it is read whole for it (as tornado's own
/// server does), and the request pipelined behind it is answered on the same connection; a
/// body declared past tornado's 100 MiB `max_body_size` is a 400 and a close, unread.
#[test]
fn every_body_is_read_for_tornado_up_to_its_max_body_size() {
    let server = tornado("tornado_hello:app", &[], 1);
    let mut c = Client::connect(server.port());
    let body = vec![b'x'; 1 << 20];
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    raw.extend_from_slice(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(&raw);
    assert_eq!(c.response().text(), "Hello, World!\n");
    let r = c.response();
    assert_eq!(
        (r.status, r.header("Connection")),
        (200, Some("keep-alive"))
    );
    let mut c = Client::connect(server.port());
    c.send(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 104857601\r\n\r\nabc");
    let r = c.response();
    assert_eq!(
        (r.status, r.header("Connection")),
        (400, Some("close")),
        "{r:?}"
    );
}

/// tornado refuses an HTTP/1.1 request without a Host field, or with a malformed one (its
/// `HTTPServerRequest`; RFC 9112 §3.2: a server MUST answer 400), where Gunicorn's parser lets
/// them through to the app: such a request gets a 400 and a close, as under tornado's own
/// server, after the fixture's requests before it were answered. Every other fixture as for
/// the other kinds.
pub(crate) fn tornado_corpus_check(
    server: &Server,
    f: &Fixture,
    valid: bool,
) -> Result<(), String> {
    let requests = f.expected["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let refused = requests.iter().position(|request| {
        let host: Vec<&str> = request["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h[0] == "HOST")
            .map(|h| h[1].as_str().unwrap_or_default())
            .collect();
        request["version"] == serde_json::json!([1, 1])
            && (host.is_empty() || host.iter().any(|h| !plain_host(h)))
    });
    let Some(n) = refused.filter(|_| valid) else {
        return keep_alive_check(server, f, valid);
    };
    let mut c = Client::connect(server.port());
    c.send(&f.bytes);
    for i in 0..n {
        let r = c.response();
        if r.status != 200 {
            return Err(format!("request {i}: {r:?}"));
        }
    }
    let r = c.response();
    match (r.status, r.header("Connection")) {
        (400, Some("close")) => Ok(()),
        other => Err(format!(
            "request {n} (no valid Host): want a 400 and close, got {other:?}"
        )),
    }
}

/// What tornado's Host grammar takes: a reg-name, IPv4 or bracketed IPv6, and a port.
pub(crate) fn plain_host(h: &str) -> bool {
    !h.is_empty()
        && !h.contains(',')
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+;=:[]%".contains(&b))
}

/// Every fixture of Gunicorn's corpus with default settings, on its own kept-alive
/// connection, through tornado's delegate.
#[test]
fn request_corpus_with_keep_alive() {
    let server = tornado("tornado_corpus_app:app", &[], 1);
    run_corpus_on(&server, "tornado", tornado_corpus_check);
}

/// TERM with a request in flight on a kept-alive connection and an idle one: the idle one
/// gets an EOF at once, the request its answer with `Connection: close`, and the master
/// exits 0 well before `--graceful-timeout` (Gunicorn's tornado worker ignores it).
#[test]
fn term_lets_a_request_in_flight_finish() {
    let mut server = tornado(
        "tornado_hello:app",
        &["--graceful-timeout", "10", "--keep-alive", "30"],
        1,
    );
    graceful::term_lets_a_request_in_flight_on_a_kept_alive_connection_finish(&mut server);
}

/// Two HUPs under a `requests.Session` loop: no request fails.
#[test]
fn hup_under_a_session_loop_fails_no_request() {
    graceful::hup_under_a_session_loop_fails_no_request(&tornado("tornado_hello:app", &[], 2));
}

/// 8 clients looping on kept-alive connections through 3 HUPs and a TERM: each ends with a
/// response saying close or an EOF before a response, never a reset or a cut response.
#[test]
fn requests_crossing_the_close_meet_a_response_or_eof() {
    let args = ["--keep-alive", "30", "--graceful-timeout", "10"];
    graceful::requests_crossing_the_close_meet_a_response_or_eof_never_a_reset(&mut tornado(
        "tornado_hello:app",
        &args,
        2,
    ));
}

/// `--max-requests 5` counts requests, not connections (Gunicorn's tornado worker counts
/// connections): the fifth response on one kept-alive connection says close, nothing
/// pipelined behind it runs, and a new worker serves on.
#[test]
fn max_requests_counts_requests() {
    graceful::max_requests_ends_the_last_response_with_close(&tornado(
        "tornado_hello:app",
        &["--max-requests", "5"],
        1,
    ));
}

/// `--worker-connections 10` and 20 clients of a request that waits in the handler: 10 are
/// in the app and hold 10 sockets, the other 10 wait in the listen backlog (not refused);
/// once released, all 20 are answered.
#[test]
fn worker_connections_caps_the_connections_a_worker_takes() {
    let server = tornado("tornado_app:app", &["--worker-connections", "10"], 1);
    crate::green::ten_of_twenty_in_the_app(&server, "tornado");
}

/// 40 clients trickling their heads hold nothing of the loop.
#[test]
fn slowloris_does_not_stall_a_tornado_worker() {
    let server = tornado("tornado_hello:app", &[], 1);
    crate::slowloris::normal_requests_beside_40_slowloris(&server, "tornado -w 1");
}
