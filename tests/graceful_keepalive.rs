//! Graceful stops with kept-alive clients under `-k gthread`: HUP under a `requests.Session`
//! loop fails nothing, TERM lets a request in flight on a kept-alive connection finish (and
//! closes idle ones at once), a request that crosses the server's close meets a response or
//! an EOF — never a reset — and `--max-requests` ends its last response with `close`.

use crate::support::*;
use nix::sys::signal::Signal;
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn gthread(workers: usize, extra: &[&str]) -> Server {
    let mut args = vec!["-k", "gthread", "--threads", "2"];
    args.extend_from_slice(extra);
    Server::hello(&args, workers)
}

/// Waits until the master's live workers are `n` pids none of which is in `old`.
fn wait_replaced(server: &Server, old: &BTreeSet<u32>, n: usize) -> BTreeSet<u32> {
    poll(WAIT, "every worker replaced", || {
        let now = server.worker_pids();
        (now.len() == n && now.is_disjoint(old)).then_some(now)
    })
}

#[test]
fn hup_under_a_session_loop_fails_no_request() {
    checks::hup_under_a_session_loop_fails_no_request(&gthread(2, &[]));
}

#[test]
fn term_lets_a_request_in_flight_on_a_kept_alive_connection_finish() {
    checks::term_lets_a_request_in_flight_on_a_kept_alive_connection_finish(&mut gthread(
        1,
        &["--graceful-timeout", "10", "--keep-alive", "30"],
    ));
}

/// What one looping client saw when the server went away under it.
#[derive(Debug, Default)]
struct Outcome {
    requests: usize,
    /// The last response said `Connection: close`, then EOF.
    closed_after_response: bool,
    /// EOF with no byte of a response to the request just sent.
    eof_before_response: bool,
    /// Resets, cut responses, bad statuses.
    failures: Vec<String>,
}

/// A client that sends requests back to back on one kept-alive connection until the server
/// ends it, recording how it ended.
fn loop_until_closed(port: u16, go: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> Outcome {
    let mut c = Client::connect(port);
    let mut out = Outcome::default();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if c.stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            out.failures.push("write failed (reset)".into());
            break;
        }
        match c.try_response(false) {
            Ok(r) if r.status == 200 => {
                out.requests += 1;
                if out.requests == 3 {
                    go.fetch_add(1, Ordering::Relaxed);
                }
                if r.header("Connection") == Some("close") {
                    match c.ending(Duration::from_secs(10)) {
                        Ending::Eof(rest) if rest.is_empty() => {}
                        other => out.failures.push(format!("after close: {other:?}")),
                    }
                    out.closed_after_response = true;
                    break;
                }
            }
            Ok(r) => {
                out.failures.push(format!("status {}", r.status));
                break;
            }
            Err(Ending::Eof(bytes)) if bytes.is_empty() => {
                out.eof_before_response = true;
                break;
            }
            Err(other) => {
                out.failures.push(format!("{other:?}"));
                break;
            }
        }
    }
    out
}

/// `clients` looping clients, then `signal`: every client must end with a response or an EOF.
fn crossing_requests_meet_no_reset(
    server: &Server,
    signal: Signal,
    clients: usize,
) -> Vec<Outcome> {
    let port = server.port();
    let go = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (go, stop) = (go.clone(), stop.clone());
            std::thread::spawn(move || loop_until_closed(port, go, stop))
        })
        .collect();
    poll(WAIT, "every client looping", || {
        (go.load(Ordering::Relaxed) >= clients).then_some(())
    });
    server.signal(signal);
    let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    for (i, o) in outcomes.iter().enumerate() {
        assert!(o.failures.is_empty(), "{signal:?}, client {i}: {o:?}");
        assert!(
            o.closed_after_response || o.eof_before_response,
            "{signal:?}, client {i} was never closed: {o:?}"
        );
    }
    outcomes
}

#[test]
fn requests_crossing_the_close_meet_a_response_or_eof_never_a_reset() {
    checks::requests_crossing_the_close_meet_a_response_or_eof_never_a_reset(&mut gthread(
        2,
        &["--keep-alive", "30", "--graceful-timeout", "10"],
    ));
}

#[test]
fn max_requests_ends_the_last_response_with_close() {
    checks::max_requests_ends_the_last_response_with_close(&gthread(1, &["--max-requests", "5"]));
}

/// The checks behind the tests above, each on a server it is given: the same checks run
/// under the greenlet kinds (tests/green_keepalive.rs).
pub(crate) mod checks {
    use super::*;

    pub(crate) fn hup_under_a_session_loop_fails_no_request(server: &Server) {
        let url = format!("http://127.0.0.1:{}/pid", server.port());
        let stop = server.dir.path().join("stop-loop");
        let client = PyClient::spawn("session_client.py", &["loop", &url, stop.to_str().unwrap()]);
        client.wait_line("flowing", WAIT);
        let mut old = server.worker_pids();
        for round in 0..2 {
            let mark = server.mark();
            server.signal(Signal::SIGHUP);
            server.wait_for_from(mark, "Handling signal: hup", WAIT);
            let new = wait_replaced(server, &old, 2);
            // The loop reaches a new worker (its kept-alive connection to an old one was closed).
            let seen = client.stdout.wait_until(WAIT, |lines| {
                lines
                    .iter()
                    .find(|l| new.iter().any(|p| l.as_str() == format!("new body {p}")))
                    .cloned()
            });
            assert!(
                seen.is_some(),
                "round {round}: the session never reached a new worker; stdout:\n{}",
                client.stdout.text()
            );
            old = new;
        }
        std::fs::write(&stop, "").unwrap();
        let summary = client.finish(WAIT);
        eprintln!(
            "HUP ×2 under a session loop: {} ok, retried after a clean close: {}",
            summary["ok"], summary["retried"]
        );
        assert_eq!(summary["failures"], serde_json::json!([]), "{summary}");
        assert!(
            summary["bodies"].as_array().unwrap().len() >= 3,
            "{summary}"
        );
    }

    pub(crate) fn term_lets_a_request_in_flight_on_a_kept_alive_connection_finish(
        server: &mut Server,
    ) {
        let mut busy = Client::connect(server.port());
        assert_eq!(busy.get("/pid").header("Connection"), Some("keep-alive"));
        let mut idle = Client::connect(server.port());
        assert_eq!(idle.get("/").header("Connection"), Some("keep-alive"));
        busy.send(b"GET /sleep?s=2 HTTP/1.1\r\nHost: x\r\n\r\n");
        server.wait_marker_prefix("sleeping-");
        let sent = Instant::now();
        server.signal(Signal::SIGTERM);

        // The idle connection is closed at once, cleanly.
        assert_eq!(
            idle.ending(Duration::from_secs(10)),
            Ending::Eof(Vec::new())
        );
        let idle_closed = sent.elapsed();
        let r = busy.response();
        let finished = sent.elapsed();
        assert_eq!((r.status, r.text().as_str()), (200, "slept 2.0"));
        // The worker is stopping: the connection ends with this response, and the worker with it,
        // long before the 10 s graceful timeout.
        let end = busy.ending(Duration::from_secs(10));
        let closed = sent.elapsed();
        let status = server.wait_exit(WAIT);
        let exited = sent.elapsed();
        eprintln!(
            "TERM: idle connection closed after {idle_closed:?}, in-flight answered after \
             {finished:?} (Connection: {:?}), its connection ended after {closed:?} ({end:?}), \
             master exited after {exited:?}",
            r.header("Connection")
        );
        assert!(
            idle_closed < finished,
            "the idle connection stayed open until the in-flight request ended"
        );
        assert_eq!(r.header("Connection"), Some("close"), "{r:?}");
        assert_eq!(end, Ending::Eof(Vec::new()));
        assert!(
            closed - finished < Duration::from_secs(2),
            "the connection stayed open {:?} after its last response",
            closed - finished
        );
        assert_eq!(status.code(), Some(0), "{}", server.log());
        assert!(
            exited < Duration::from_secs(7),
            "the master exited {exited:?} after TERM (in flight: 2 s, graceful timeout 10 s)"
        );
    }

    pub(crate) fn requests_crossing_the_close_meet_a_response_or_eof_never_a_reset(
        server: &mut Server,
    ) {
        let mut tally = (0, 0);
        for round in 0..3 {
            let old = server.worker_pids();
            let outcomes = crossing_requests_meet_no_reset(server, Signal::SIGHUP, 8);
            wait_replaced(server, &old, 2);
            let eofs = outcomes.iter().filter(|o| o.eof_before_response).count();
            eprintln!("HUP round {round}: {eofs} of 8 clients met an EOF instead of a response");
            tally.0 += eofs;
            tally.1 += outcomes.len() - eofs;
        }
        let outcomes = crossing_requests_meet_no_reset(server, Signal::SIGTERM, 8);
        tally.0 += outcomes.iter().filter(|o| o.eof_before_response).count();
        tally.1 += outcomes.iter().filter(|o| o.closed_after_response).count();
        eprintln!(
            "in all: {} EOFs between requests, {} `Connection: close` answers",
            tally.0, tally.1
        );
        assert_eq!(server.wait_exit(WAIT).code(), Some(0), "{}", server.log());
    }

    pub(crate) fn max_requests_ends_the_last_response_with_close(server: &Server) {
        let first = *server.worker_pids().first().unwrap();
        let mut c = Client::connect(server.port());
        for i in 1..=5 {
            let r = c.get("/pid");
            assert_eq!(r.text(), first.to_string(), "request {i}");
            let want = if i == 5 { "close" } else { "keep-alive" };
            assert_eq!(r.header("Connection"), Some(want), "request {i}");
        }
        assert_eq!(c.ending(Duration::from_secs(10)), Ending::Eof(Vec::new()));
        let next = poll(WAIT, "a new worker", || {
            let now = server.worker_pids();
            (now.len() == 1 && !now.contains(&first)).then_some(now)
        });
        let r = server.fetch("/pid");
        assert_eq!(r.status, 200);
        assert!(next.contains(&r.text().parse().unwrap()), "{r:?}");
        server.wait_for("Autorestarting worker after current request.", WAIT);

        // Pipelined past the limit on the new worker (one request served above): its fifth
        // answer says close and nothing after it runs.
        let mut c = Client::connect(server.port());
        let four = "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n".repeat(4);
        c.send(format!("{four}GET /mark?name=past-max HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        for i in 2..=5 {
            let r = c.response();
            let want = if i == 5 { "close" } else { "keep-alive" };
            assert_eq!(
                r.header("Connection"),
                Some(want),
                "the new worker's request {i}"
            );
        }
        match c.ending(Duration::from_secs(10)) {
            Ending::Eof(rest) | Ending::Reset(rest) => assert!(rest.is_empty(), "{rest:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(server.fetch("/").status, 200);
        assert_eq!(server.markers("mark-past-max"), Vec::<String>::new());
    }
}
