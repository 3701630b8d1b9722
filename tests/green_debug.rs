//! What a greenlet worker shows of itself (issue 8), under both kinds: `dump` gives the stack
//! of every greenlet serving a request, each with its request; the 32 scoreboard entries show
//! the longest-running requests however many are in flight; a hub blocked by one greenlet is
//! dumped as that greenlet's stack; `--request-timeout` answers 504, interrupts only the late
//! greenlet and logs its stack alone.
//!
//! Apps: tests/apps/green_app.py (Flask, /sleep and /abandoned), stuck_app.py (/gil).

use crate::control::{ctl_json, socket_of};
use crate::green::{green, per_kind};
use crate::support::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

per_kind!(
    dump_shows_every_greenlet_serving_a_request_with_its_request,
    the_entries_show_the_longest_running_requests,
    a_hub_blocked_by_a_greenlet_is_dumped_as_that_greenlet,
    request_timeout_interrupts_only_the_late_greenlet,
    requests_timing_out_together_are_all_answered_on_time,
);

mod gthread {
    #[test]
    fn requests_timing_out_together_are_all_answered_on_time() {
        super::requests_timing_out_together_are_all_answered_on_time("gthread")
    }
}

/// `n` connections, each with `GET path` sent and its response not read.
fn send_all(port: u16, path: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
            s.write_all(req.as_bytes()).expect("send");
            s
        })
        .collect()
}

/// The one worker's row of `show workers`, once `in_flight` reached `n`.
fn wait_in_flight(socket: &std::path::Path, n: u64) -> serde_json::Value {
    poll(WAIT, &format!("{n} requests in flight"), || {
        let workers = ctl_json(socket, &["show", "workers"]);
        let row = workers["workers"].get(0)?.clone();
        (row["in_flight"].as_u64() == Some(n)).then_some(row)
    })
}

/// The entries (lanes) of a dump that show a request for `path`.
fn shown(dump: &serde_json::Value, path: &str) -> Vec<serde_json::Value> {
    let threads = dump["threads"].as_array().cloned().unwrap_or_default();
    threads
        .into_iter()
        .filter(|t| t["request"]["path"].as_str() == Some(path))
        .collect()
}

fn dump_of(socket: &std::path::Path, pid: u32) -> serde_json::Value {
    ctl_json(socket, &["dump", &pid.to_string()])["dumps"][0].clone()
}

fn dump_shows_every_greenlet_serving_a_request_with_its_request(kind: &str) {
    let server = green(kind, "green_app:app", &["--graceful-timeout", "1"], 1);
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().expect("a worker");
    // More than the 32 entries: the 8 beyond are named in the dump by a note of their own.
    let _clients = send_all(server.port(), "/sleep?s=30", 40);
    wait_in_flight(&socket, 40);
    let dump = dump_of(&socket, pid);
    let stack = dump["stack"].as_str().unwrap_or_default();
    assert!(dump["error"].is_null(), "{dump}");
    // The hub answered: the master did not give up on it after HUB_WAIT (its own words, not
    // a wall-clock figure a loaded machine can stretch).
    assert!(
        !stack.starts_with("The hub did not answer"),
        "the hub answered: {stack}"
    );
    assert!(!stack.contains("did not answer"), "{stack}");
    assert!(
        !stack.contains("end of greenlet stacks"),
        "marker stripped: {stack}"
    );
    assert_eq!(stack.matches("Greenlet 0x").count(), 40, "{stack}");
    // Every greenlet's stack goes down into the app's view function.
    let sections: Vec<&str> = stack.split("Greenlet 0x").skip(1).collect();
    for section in &sections {
        assert!(
            section.contains("green_app.py") && section.contains(" in sleep"),
            "{section}"
        );
    }
    assert_eq!(stack.matches("» GET /sleep?s=30").count(), 8, "{stack}");
    assert_eq!(shown(&dump, "/sleep?s=30").len(), 32, "{dump}");
    assert_eq!(dump["in_flight"].as_u64(), Some(40), "{dump}");
    // Each shown entry names its greenlet, so the UI puts the request above its stack.
    for entry in shown(&dump, "/sleep?s=30") {
        let ident = entry["ident"].as_str().expect("an identity");
        let want = format!("Greenlet 0x{}", ident.trim_start_matches("0x"));
        assert!(stack.contains(&want), "{want} not in the dump");
    }
}

fn the_entries_show_the_longest_running_requests(kind: &str) {
    let server = green(kind, "green_app:app", &["--graceful-timeout", "1"], 1);
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().expect("a worker");
    let short = send_all(server.port(), "/sleep?s=1.5", 32);
    wait_in_flight(&socket, 32);
    let _long = send_all(server.port(), "/sleep?s=30", 8);
    wait_in_flight(&socket, 40);
    let dump = dump_of(&socket, pid);
    assert_eq!(
        shown(&dump, "/sleep?s=30").len(),
        0,
        "all entries taken: {dump}"
    );
    for mut s in short {
        let answer = read_all(&mut s);
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    }
    // The short ones are done; the long ones took their entries, each with its own start.
    let dump = poll(WAIT, "the long requests shown", || {
        let dump = dump_of(&socket, pid);
        (shown(&dump, "/sleep?s=30").len() == 8).then_some(dump)
    });
    for entry in shown(&dump, "/sleep?s=30") {
        let elapsed = entry["request"]["elapsed"].as_f64().unwrap_or(0.0);
        assert!(elapsed >= 1.0, "kept its start time: {entry}");
        assert_eq!(entry["state"], "app", "{entry}");
    }
}

fn a_hub_blocked_by_a_greenlet_is_dumped_as_that_greenlet(kind: &str) {
    let args = ["--timeout", "30", "--graceful-timeout", "1"];
    let server = green(kind, "stuck_app:app", &args, 1);
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().expect("a worker");
    let _client = send_all(server.port(), "/gil", 1);
    server.wait_marker(&format!("gil-{pid}"));
    let asked = Instant::now();
    let dump = dump_of(&socket, pid);
    let took = asked.elapsed();
    let stack = dump["stack"].as_str().unwrap_or_default();
    assert!(stack.starts_with("The hub did not answer"), "{stack}");
    assert!(stack.contains("in hold_the_gil"), "{stack}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "waited for the hub about a second: {took:?}"
    );
    // The dump did not disturb the worker: still the same one, still stuck.
    assert!(server.worker_pids().contains(&pid));
    let _ = kill_worker(pid);
}

fn kill_worker(pid: u32) -> nix::Result<()> {
    use nix::sys::signal::{kill, Signal};
    kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL)
}

fn request_timeout_interrupts_only_the_late_greenlet(kind: &str) {
    let args = ["--request-timeout", "1", "--graceful-timeout", "1"];
    let server = green(kind, "green_app:app", &args, 1);
    let pid = *server.worker_pids().iter().next().expect("a worker");
    let started = Instant::now();
    let mut late = send_all(server.port(), "/abandoned?id=late&s=30", 1);
    let beside = server.get("/sleep?s=0.2");
    assert_eq!(beside.status, 200, "the other greenlets go on");
    let answer = read_all(&mut late[0]);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(took < Duration::from_secs(5), "answered on time: {took:?}");
    // The interrupt reached the app: its `finally` ran long before its 30 s sleep ended.
    server.wait_marker("abandoned-end-late");
    assert!(started.elapsed() < Duration::from_secs(10));
    let line = server.wait_for("Request timeout (pid:", WAIT);
    assert!(line.contains("GET /abandoned?id=late&s=30"), "{line}");
    server.wait_for("Python stack of its greenlet:", WAIT);
    let log = server.log();
    let block: String = log
        .lines()
        .skip_while(|l| !l.contains("Request timeout (pid:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(block.contains("in abandoned"), "its own stack: {block}");
    assert_eq!(block.matches("Greenlet 0x").count(), 1, "{block}");
    // Same worker, still serving.
    assert_eq!(server.get("/pid").text().trim(), pid.to_string());
}

/// A hundred requests past `--request-timeout` at once all get their 504 about on time: they
/// are answered first, and their stacks taken in one dump, not one dump each.
fn requests_timing_out_together_are_all_answered_on_time(kind: &str) {
    let n = 100;
    let args = [
        "--request-timeout",
        "1",
        "--graceful-timeout",
        "1",
        "--threads",
        "100",
    ];
    let server = green(kind, "green_app:app", &args, 1);
    let started = Instant::now();
    let mut late = send_all(server.port(), "/abandoned?id=together&s=30", n);
    let mut last = Duration::ZERO;
    for stream in &mut late {
        let answer = read_all(stream);
        last = started.elapsed();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 504"), "{kind}: {text}");
    }
    eprintln!("{kind}: the last of {n} 504s after {last:?}");
    assert!(
        last < Duration::from_millis(2500),
        "{kind}: the last of {n} 504s came {last:?} after the requests (--request-timeout 1)"
    );
    poll(WAIT, "every timeout logged", || {
        (server.log().matches("Request timeout (pid:").count() == n).then_some(())
    });
}
