//! Stuck workers explained (issue 3): the WORKER TIMEOUT block (request, Python stacks from
//! faulthandler, last output), the access-log line of a killed request, `--request-timeout`
//! (504 on time, stack logged, the app interrupted, the worker kept), every death explained,
//! and worker output through the master's pipes. App: tests/apps/stuck_app.py.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

fn stuck(extra: &[&str]) -> Server {
    let mut args = vec!["--access-logfile", "-"];
    args.extend_from_slice(extra);
    Server::app("stuck_app:app", &args, 1)
}

fn only_worker(server: &Server) -> u32 {
    *server.worker_pids().iter().next().expect("one worker")
}

/// `GET path` on its own thread: the response (None if the connection failed) and when.
fn in_flight(port: u16, path: &str) -> std::thread::JoinHandle<(Option<Response>, Instant)> {
    let path = path.to_string();
    std::thread::spawn(move || (try_get(port, &path), Instant::now()))
}

/// The WORKER TIMEOUT block of `pid`: its lines up to the next log record.
pub(crate) fn timeout_block(server: &Server, pid: u32) -> String {
    let head = format!("WORKER TIMEOUT (pid:{pid})");
    server.wait_for(&head, WAIT);
    // The death line follows the block: by then every line of the block is in.
    server.wait_for(&format!("Worker (pid:{pid}) "), WAIT);
    let lines = server.stderr.snapshot();
    let start = lines.iter().position(|l| l.contains(&head)).expect("block");
    let mut block = vec![lines[start].clone()];
    block.extend(
        lines[start + 1..]
            .iter()
            .take_while(|l| !l.starts_with('['))
            .cloned(),
    );
    block.join("\n")
}

/// A request served by a worker other than `old`, once one is up.
pub(crate) fn served_by_another(server: &Server, old: u32) -> u32 {
    poll(WAIT, "a replacement worker to serve", || {
        let resp = server.try_get("/")?;
        let pid: u32 = resp.text().trim().strip_prefix("ok ")?.parse().ok()?;
        (resp.status == 200 && pid != old).then_some(pid)
    })
}

#[test]
fn stuck_in_c_past_timeout_is_explained_killed_and_replaced() {
    let mut server = stuck(&["--timeout", "2", "--worker-abort-timeout", "1"]);
    let pid = only_worker(&server);
    let request = in_flight(server.port(), "/c?n=1");
    poll(WAIT, "the request to enter C", || {
        server.marker(&format!("c-{pid}"))
    });
    let block = timeout_block(&server, pid);
    assert!(block.contains("[CRITICAL] WORKER TIMEOUT"), "{block}");
    assert!(
        block.contains("Request: GET /c?n=1 HTTP/1.1 from 127.0.0.1:"),
        "{block}"
    );
    let elapsed: f64 = block
        .split("running for ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("elapsed seconds in:\n{block}"));
    assert!((1.9..10.0).contains(&elapsed), "{elapsed} s\n{block}");
    // faulthandler's dump: the app's own function, inside one long C call.
    assert!(block.contains("in burn_in_c"), "{block}");
    assert!(
        block.contains(&format!("stuck_app: entering C in pid {pid}")),
        "{block}"
    );
    let replacement = served_by_another(&server, pid);
    assert_ne!(replacement, pid);
    let (resp, _) = request.join().expect("client thread");
    assert!(
        resp.is_none(),
        "the killed request got no response: {resp:?}"
    );
    // The master writes the access-log line Gunicorn never writes.
    let line = server
        .stdout
        .find_from(0, "\"GET /c?n=1 HTTP/1.1\"", WAIT)
        .expect("an access-log line for the killed request");
    assert!(line.contains("\" 504 - "), "{line}");
    let log = server.stop_and_log();
    assert!(
        log.contains(&format!("Worker (pid:{pid})")) && log.contains("after WORKER TIMEOUT"),
        "{log}"
    );
    assert!(!log.contains("Perhaps out of memory"), "{log}");
}

#[test]
fn request_timeout_in_python_answers_504_on_time_and_keeps_the_worker() {
    let mut server = stuck(&["--request-timeout", "1", "--timeout", "30"]);
    let pid = only_worker(&server);
    let started = Instant::now();
    let resp = server.get("/python?s=30");
    let took = started.elapsed();
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert!(
        // On time: after the 1 s limit, and long before the 30 s heartbeat would act
        // (generous, so a loaded machine cannot break it).
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "504 after {took:?}"
    );
    let report = server.wait_for(
        &format!("Request timeout (pid:{pid}): GET /python?s=30"),
        WAIT,
    );
    assert!(report.contains("answered 504"), "{report}");
    server.wait_for("in spin_in_python", WAIT);
    // The app was interrupted with an exception it could catch.
    let caught = poll(WAIT, "the app to see the interrupt", || {
        server.marker(&format!("caught-{pid}"))
    });
    assert!(
        caught.starts_with("gunicorn_rs.RequestTimeout: "),
        "{caught}"
    );
    // Freed, not replaced: the same worker answers the next request at once.
    let next = server.get("/");
    assert_eq!((next.status, next.text()), (200, format!("ok {pid}\n")));
    assert_eq!(server.worker_pids().len(), 1);
    let line = server
        .stdout
        .find_from(0, "\"GET /python?s=30 HTTP/1.1\"", WAIT)
        .expect("an access-log line for the 504");
    assert!(line.contains("\" 504 - "), "{line}");
    // The whole log, once the server is stopped: a second boot or a late error shows there.
    let log = server.stop_and_log();
    assert_eq!(log.matches("Booting worker").count(), 1, "{log}");
    assert!(!log.contains("Error handling request"), "{log}");
}

#[test]
fn request_timeout_stuck_in_c_answers_504_then_the_heartbeat_kills() {
    let mut server = stuck(&[
        "--request-timeout",
        "1",
        "--timeout",
        "3",
        "--worker-abort-timeout",
        "1",
    ]);
    let pid = only_worker(&server);
    let started = Instant::now();
    let resp = server.get("/c");
    assert_eq!(resp.status, 504);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let block = timeout_block(&server, pid);
    assert!(
        block.contains("already answered 504 by --request-timeout"),
        "{block}"
    );
    assert!(block.contains("in burn_in_c"), "{block}");
    served_by_another(&server, pid);
    // One access-log line for the request: the watchdog's, not a second one from the master
    // (counted in the whole access log, once the server is stopped).
    server
        .stdout
        .find_from(0, "\"GET /c HTTP/1.1\" 504", WAIT)
        .expect("504 line");
    server.stop();
    let all = server.stdout.ended(WAIT);
    let lines: Vec<&String> = all
        .iter()
        .filter(|l| l.contains("GET /c HTTP/1.1"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[test]
fn request_timeout_after_the_head_was_sent_cuts_the_connection() {
    let server = stuck(&["--request-timeout", "1"]);
    let pid = only_worker(&server);
    let raw = server.http(b"GET /streaming HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        text.contains("first chunk") && !text.contains("never"),
        "{text}"
    );
    let report = server.wait_for(
        &format!("Request timeout (pid:{pid}): GET /streaming"),
        WAIT,
    );
    assert!(report.contains("connection cut"), "{report}");
    assert_eq!(server.get("/").text(), format!("ok {pid}\n"));
}

#[test]
fn a_sigkill_nobody_here_sent_is_perhaps_out_of_memory() {
    let server = stuck(&[]);
    let pid = only_worker(&server);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    server.wait_for(
        &format!("Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?"),
        WAIT,
    );
    served_by_another(&server, pid);
}

#[test]
fn max_requests_recycling_is_explained() {
    let mut server = stuck(&["--max-requests", "2"]);
    let pid = only_worker(&server);
    for _ in 0..2 {
        assert_eq!(server.get("/").status, 200);
    }
    server.wait_for(
        &format!("Worker (pid:{pid}) recycled after 2 requests (max_requests)."),
        WAIT,
    );
    served_by_another(&server, pid);
    let log = server.stop_and_log();
    assert!(!log.contains("Perhaps out of memory"), "{log}");
}

#[test]
fn worker_output_passes_through_whole_lines_without_stalling() {
    let server = stuck(&[]);
    let started = Instant::now();
    let resp = server.get("/burst?lines=20000");
    assert_eq!(
        resp.status, 200,
        "a 4 MB burst of stderr must not stall the worker"
    );
    server.wait_for("burst done", WAIT);
    let burst = server
        .stderr
        .count("burst line ", 20000, WAIT)
        .expect("every line");
    assert!(burst
        .iter()
        .all(|l| l.len() == "burst line 000000 ".len() + 180));
    assert!(started.elapsed() < WAIT);
    // A line written in two parts arrives as one line.
    assert_eq!(server.get("/partial").status, 200);
    server.wait_for("partial-start partial-end", WAIT);
    // stdout goes to the master's stdout (here: beside the access log).
    assert_eq!(server.get("/print?line=printed-by-the-app").status, 200);
    server
        .stdout
        .find_from(0, "printed-by-the-app", WAIT)
        .expect("print() output");
}

/// gthread's `--timeout` is the heartbeat of the worker's loop, which takes the GIL each
/// tick: a request that only sleeps never trips it (tests/gthread.rs), but one that holds the
/// GIL inside C stops every thread of the worker, and the worker is dumped and replaced.
#[test]
fn gthread_holding_the_gil_past_timeout_is_explained_and_killed() {
    let server = stuck(&[
        "-k",
        "gthread",
        "--threads",
        "2",
        "--timeout",
        "2",
        "--worker-abort-timeout",
        "1",
    ]);
    let pid = only_worker(&server);
    let request = in_flight(server.port(), "/gil");
    poll(WAIT, "the request to take the GIL", || {
        server.marker(&format!("gil-{pid}"))
    });
    let block = timeout_block(&server, pid);
    assert!(
        block.contains("Request (thread ") && block.contains("GET /gil HTTP/1.1 from 127.0.0.1:"),
        "{block}"
    );
    assert!(block.contains("in hold_the_gil"), "{block}");
    let replacement = served_by_another(&server, pid);
    assert_ne!(replacement, pid);
    let (resp, _) = request.join().expect("client thread");
    assert!(
        resp.is_none(),
        "the killed request got no response: {resp:?}"
    );
}
