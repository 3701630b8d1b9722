//! Connections under the greenlet kinds, with the checks gthread passes (the HTTP layer is the
//! same Rust code for every kind): keep-alive and pipelining with raw sockets and
//! `requests.Session`, `Connection: close`, `--keep-alive 0`, the idle close, and bad input on
//! a kept-alive connection (tests/keepalive.rs); Gunicorn's request corpus with keep-alive
//! (tests/corpus_server.rs); graceful stops — TERM with requests in flight and idle
//! connections, HUP under a session loop, requests crossing the close, `--max-requests`
//! (tests/graceful_keepalive.rs). Every test under `-k gevent` and `-k eventlet`.

use crate::graceful_keepalive::checks as graceful;
use crate::green::{green, per_kind};
use crate::keepalive::checks as ka;
use crate::support::*;
use nix::sys::signal::Signal;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

per_kind!(
    keep_alive_pipelining_and_bad_input,
    request_corpus_with_keep_alive,
    term_finishes_requests_in_flight_and_ends_idle_connections_with_eof,
    hup_under_a_session_loop_fails_no_request,
    requests_crossing_the_close_meet_a_response_or_eof,
    max_requests_recycles_the_worker,
);

pub(crate) type Check = fn(&Server);

/// `(name, check)` pairs from the names of tests/keepalive.rs's checks.
macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        [$((stringify!($name), ka::$name as Check)),*]
    };
}

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

/// Runs every check on `server`, each one even when an earlier one failed: the failures.
pub(crate) fn run_checks(kind: &str, server: &Server, checks: &[(&str, Check)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, check) in checks {
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check(server)));
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        eprintln!("{kind}: {name}: {verdict} ({:?})", t.elapsed());
        if let Err(e) = outcome {
            failures.push(format!("{name}: {}", panic_text(e)));
        }
    }
    failures
}

/// tests/keepalive.rs's checks on `hello:app` under `kind`.
fn keep_alive_pipelining_and_bad_input(kind: &str) {
    let failures = keep_alive_suite(kind, &[], |extra| green(kind, "hello:app", extra, 1));
    assert!(
        failures.is_empty(),
        "{kind}: {} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// tests/keepalive.rs's checks on servers `start` makes (one worker of a hello app given
/// extra arguments): those that need Gunicorn's default settings on one server, then
/// `--keep-alive 0`, then `--keep-alive 1`; all but those named in `leave_out` (a kind says
/// why where it calls this). The failures, each named.
pub(crate) fn keep_alive_suite(
    kind: &str,
    leave_out: &[&str],
    start: impl Fn(&[&str]) -> Server,
) -> Vec<String> {
    let mut failures = Vec::new();
    let server = start(&[]);
    let defaults = checks![
        session_of_200_requests_uses_one_connection,
        raw_keep_alive_for_http11_and_http10,
        connection_close_is_honoured_and_nothing_after_it_runs,
        pipelined_requests_with_bodies_are_answered_in_order,
        pipelined_responses_keep_request_order_when_the_first_is_slow,
        nothing_behind_a_malformed_request_runs,
        unread_body_is_drained_and_the_next_request_starts_at_the_right_byte,
        unread_body_beyond_the_drain_bound_closes_the_connection,
        half_closed_client_gets_every_response,
        app_error_after_the_first_chunk_truncates_and_closes,
        close_in_a_connection_token_list_is_honoured,
        app_body_longer_or_shorter_than_its_length_never_corrupts_the_connection,
        expect_100_continue_on_a_kept_alive_connection,
    ];
    let kept: Vec<(&str, Check)> = defaults
        .into_iter()
        .filter(|(name, _)| !leave_out.contains(name))
        .collect();
    failures.extend(run_checks(kind, &server, &kept));
    assert_eq!(server.booted_pids().len(), 1, "{kind}: {}", server.log());
    drop(server);
    let server = start(&["--keep-alive", "0"]);
    failures.extend(run_checks(
        kind,
        &server,
        &checks![keep_alive_zero_closes_after_every_response],
    ));
    drop(server);
    let server = start(&["--keep-alive", "1"]);
    failures.extend(run_checks(
        kind,
        &server,
        &checks![
            idle_connection_is_closed_after_keep_alive_seconds,
            head_begun_on_an_idle_connection_gets_the_header_timeout_not_the_keep_alive,
        ],
    ));
    failures
}

/// Every fixture of Gunicorn's corpus on its own kept-alive connection (tests/corpus_server.rs).
fn request_corpus_with_keep_alive(kind: &str) {
    let server = green(kind, "corpus_app:app", &[], 1);
    crate::corpus_server::run_corpus_on(&server, kind, crate::corpus_server::keep_alive_check);
}

/// TERM with 5 requests in flight, each on a connection kept alive from an earlier request,
/// and 5 idle kept-alive connections: the idle ones get an orderly EOF at once — before any
/// request in flight has ended — the 5 in flight are answered with `Connection: close` and
/// then EOF, and the master exits 0 long before `--graceful-timeout`.
fn term_finishes_requests_in_flight_and_ends_idle_connections_with_eof(kind: &str) {
    let mut server = green(
        kind,
        "hello:app",
        &["--graceful-timeout", "10", "--keep-alive", "30"],
        1,
    );
    let port = server.port();
    let mut idle: Vec<Client> = (0..5).map(|_| Client::connect(port)).collect();
    let mut busy: Vec<Client> = (0..5).map(|_| Client::connect(port)).collect();
    for c in idle.iter_mut().chain(busy.iter_mut()) {
        assert_eq!(c.get("/pid").header("Connection"), Some("keep-alive"));
    }
    for (i, c) in busy.iter_mut().enumerate() {
        c.send(format!("GET /lane?s=3&id={i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    poll(WAIT, "5 requests in the app", || {
        (server.markers("lane-start-").len() == 5).then_some(())
    });
    let sent = Instant::now();
    server.signal(Signal::SIGTERM);

    for (i, c) in idle.iter_mut().enumerate() {
        let ending = c.ending(Duration::from_secs(10));
        assert_eq!(
            ending,
            Ending::Eof(Vec::new()),
            "{kind}: idle connection {i}"
        );
    }
    let idle_closed = sent.elapsed();
    assert_eq!(
        server.markers("lane-end-"),
        Vec::<String>::new(),
        "{kind}: the idle connections were closed only after a request in flight ended \
         ({idle_closed:?} after TERM)"
    );
    for (i, c) in busy.iter_mut().enumerate() {
        let r = c.response();
        assert_eq!(
            (r.status, r.text()),
            (200, format!("lane {i} done")),
            "{kind}"
        );
        assert_eq!(r.header("Connection"), Some("close"), "{kind}: {r:?}");
        assert_eq!(
            c.ending(Duration::from_secs(10)),
            Ending::Eof(Vec::new()),
            "{kind}"
        );
    }
    let answered = sent.elapsed();
    let status = server.wait_exit(WAIT);
    let exited = sent.elapsed();
    eprintln!(
        "{kind} TERM: idle connections closed after {idle_closed:?}, 5 in flight answered \
         after {answered:?}, master exited after {exited:?}"
    );
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        exited < Duration::from_secs(8),
        "{kind}: the master exited {exited:?} after TERM (in flight: 3 s, graceful timeout 10 s)"
    );
    assert!(
        !server.log().contains("graceful timeout"),
        "{}",
        server.log()
    );
}

/// Two HUPs under a `requests.Session` loop: no request fails (tests/graceful_keepalive.rs).
fn hup_under_a_session_loop_fails_no_request(kind: &str) {
    graceful::hup_under_a_session_loop_fails_no_request(&green(kind, "hello:app", &[], 2));
}

/// 8 clients looping on kept-alive connections through 3 HUPs and a TERM: each ends with a
/// response saying close or an EOF before a response, never a reset or a cut response.
fn requests_crossing_the_close_meet_a_response_or_eof(kind: &str) {
    let args = ["--keep-alive", "30", "--graceful-timeout", "10"];
    graceful::requests_crossing_the_close_meet_a_response_or_eof_never_a_reset(&mut green(
        kind,
        "hello:app",
        &args,
        2,
    ));
}

/// `--max-requests 5`: the fifth response says close, nothing pipelined behind it runs, and a
/// new worker serves on.
fn max_requests_recycles_the_worker(kind: &str) {
    graceful::max_requests_ends_the_last_response_with_close(&green(
        kind,
        "hello:app",
        &["--max-requests", "5"],
        1,
    ));
}
