//! Persistent connections under `-k gthread` (RFC 9112 §9.3): keep-alive with raw sockets and
//! with `requests.Session`, HTTP/1.0 keep-alive, `Connection: close`, `--keep-alive 0` and
//! the idle bound, pipelining with bodies; and bad input on a kept-alive connection: nothing
//! behind a malformed request runs, an unread body is drained or the connection closes, a
//! half-closed client gets its answers, an app that fails mid-response ends the connection.
//!
//! `/peer` answers `REMOTE_PORT pid`: two requests with the same answer came on one connection.

use crate::support::*;
use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// `hello:app`, one worker, `-k gthread --threads 2`, plus `extra`.
fn gthread(extra: &[&str]) -> Server {
    let mut args = vec!["-k", "gthread", "--threads", "2"];
    args.extend_from_slice(extra);
    Server::hello(&args, 1)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// The connection's remaining bytes and its end must be: no further response, a FIN.
fn expect_eof_only(client: &mut Client, what: &str) {
    match client.ending(Duration::from_secs(10)) {
        Ending::Eof(rest) => assert_eq!(
            count_status_lines(&rest),
            0,
            "{what}: a response after the last one: {:?}",
            show(&rest)
        ),
        other => panic!("{what}: want EOF after the response, got {other:?}"),
    }
}

#[test]
fn session_of_200_requests_uses_one_connection() {
    checks::session_of_200_requests_uses_one_connection(&gthread(&[]));
}

#[test]
fn raw_keep_alive_for_http11_and_http10() {
    checks::raw_keep_alive_for_http11_and_http10(&gthread(&[]));
}

#[test]
fn connection_close_is_honoured_and_nothing_after_it_runs() {
    checks::connection_close_is_honoured_and_nothing_after_it_runs(&gthread(&[]));
}

#[test]
fn keep_alive_zero_closes_after_every_response() {
    checks::keep_alive_zero_closes_after_every_response(&gthread(&["--keep-alive", "0"]));
}

#[test]
fn idle_connection_is_closed_after_keep_alive_seconds() {
    checks::idle_connection_is_closed_after_keep_alive_seconds(&gthread(&["--keep-alive", "1"]));
}

#[test]
fn pipelined_requests_with_bodies_are_answered_in_order() {
    checks::pipelined_requests_with_bodies_are_answered_in_order(&gthread(&[]));
}

#[test]
fn pipelined_responses_keep_request_order_when_the_first_is_slow() {
    checks::pipelined_responses_keep_request_order_when_the_first_is_slow(&gthread(&[
        "--threads",
        "4",
    ]));
}

#[test]
fn nothing_behind_a_malformed_request_runs() {
    checks::nothing_behind_a_malformed_request_runs(&gthread(&[]));
}

/// 1 KiB of body made of requests: if the server lost its place in the stream it would run them.
fn request_shaped_body(name: &str, len: usize) -> Vec<u8> {
    let line = get(&format!("/mark?name={name}"));
    let mut body = line.repeat(len / line.len() + 1).into_bytes();
    body.truncate(len);
    body
}

#[test]
fn unread_body_is_drained_and_the_next_request_starts_at_the_right_byte() {
    checks::unread_body_is_drained_and_the_next_request_starts_at_the_right_byte(&gthread(&[]));
}

#[test]
fn unread_body_beyond_the_drain_bound_closes_the_connection() {
    checks::unread_body_beyond_the_drain_bound_closes_the_connection(&gthread(&[]));
}

#[test]
fn half_closed_client_gets_every_response() {
    checks::half_closed_client_gets_every_response(&gthread(&[]));
}

#[test]
fn app_error_after_the_first_chunk_truncates_and_closes() {
    checks::app_error_after_the_first_chunk_truncates_and_closes(&gthread(&[]));
}

#[test]
fn expect_100_continue_on_a_kept_alive_connection() {
    checks::expect_100_continue_on_a_kept_alive_connection(&gthread(&[]));
}

#[test]
fn close_in_a_connection_token_list_is_honoured() {
    checks::close_in_a_connection_token_list_is_honoured(&gthread(&[]));
}

#[test]
fn head_begun_on_an_idle_connection_gets_the_header_timeout_not_the_keep_alive() {
    checks::head_begun_on_an_idle_connection_gets_the_header_timeout_not_the_keep_alive(&gthread(
        &["--keep-alive", "1"],
    ));
}

#[test]
fn app_body_longer_or_shorter_than_its_length_never_corrupts_the_connection() {
    checks::app_body_longer_or_shorter_than_its_length_never_corrupts_the_connection(&gthread(&[]));
}

/// The checks behind the tests above, each on a server it is given: the same checks run
/// under the greenlet kinds (tests/green_keepalive.rs).
pub(crate) mod checks;
