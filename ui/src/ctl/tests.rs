//! `ctl` against a tiny fake server thread speaking the framing.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread;

use serde_json::json;

use super::*;
use crate::protocol::{decode_request, Push};

/// Serves one connection: answers each request with `answer(command line)`, pushing a snapshot
/// first when asked to subscribe. Returns the socket path and the lines it received.
fn fake_server(
    name: &str,
    answer: fn(&str) -> Reply,
) -> (PathBuf, thread::JoinHandle<Vec<String>>) {
    let dir = std::env::temp_dir().join(format!("gunicorn-rs-ctl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        while let Ok(payload) = read_frame(&mut stream) {
            let req = decode_request(&payload).unwrap();
            let line = req.words().join(" ");
            if line.starts_with("subscribe") {
                write_frame(&mut stream, &Push::Snapshot(Box::default())).unwrap();
            }
            let mut reply = answer(&line);
            reply.id = req.id;
            write_frame(&mut stream, &reply).unwrap();
            seen.push(line);
            if seen.last().is_some_and(|l| l.starts_with("subscribe")) {
                break;
            }
        }
        seen
    });
    (path, handle)
}

fn answer(line: &str) -> Reply {
    match line {
        "show workers" => Reply::ok(
            0,
            &json!({"workers": [{"pid": 11, "age": 1, "booted": true, "aborted": false,
            "last_heartbeat": 0.2, "slot": 0, "state": "app", "request": {"method": "GET", "path": "/slow",
            "client": "127.0.0.1", "elapsed": 29.0}, "timeout_in": 1.0, "requests": 7}], "count": 1}),
        ),
        "worker add 2" => Reply::ok(0, &json!({"added": 2, "previous": 1, "total": 3})),
        "reload" => Reply::ok(0, &json!({})),
        "subscribe" => Reply::ok(
            0,
            &json!({"snapshot_ms": 250, "events": true, "logs": true}),
        ),
        other => Reply::error(0, format!("Unknown command: {other}")),
    }
}

#[test]
fn one_shot_text_json_and_errors() {
    let (path, server) = fake_server("oneshot", answer);
    let mut client = Client::connect(&path).unwrap();
    let mut out = Vec::new();
    execute(&mut client, "show workers", false, &mut out).unwrap();
    execute(&mut client, "worker add 2", true, &mut out).unwrap();
    execute(&mut client, "reload", false, &mut out).unwrap();
    assert_eq!(
        execute(&mut client, "frobnicate", false, &mut out),
        Err("Unknown command: frobnicate".into())
    );
    execute(&mut client, "subscribe", false, &mut out).unwrap_err(); // the server hangs up after the push
    drop(client);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("0    11       app       GET /slow"), "{text}");
    assert!(text.contains("29.0s") && text.contains("T-1.0s"), "{text}");
    assert!(text.contains("\"added\": 2"), "{text}");
    assert!(text.contains("OK\n"), "{text}");
    assert!(text.contains("{\"push\":\"snapshot\""), "{text}");
    assert_eq!(
        server.join().unwrap(),
        [
            "show workers",
            "worker add 2",
            "reload",
            "frobnicate",
            "subscribe"
        ]
    );
}

#[test]
fn run_command_exit_status() {
    let (path, server) = fake_server("status", answer);
    assert_eq!(
        run_command(&path, "worker add 2", false, &mut Vec::new()),
        0
    );
    server.join().unwrap();
    assert_eq!(
        run_command(
            &path.with_file_name("missing.sock"),
            "reload",
            false,
            &mut Vec::new()
        ),
        1
    );
}

#[test]
fn interactive_prompt_runs_lines_until_quit() {
    let (path, server) = fake_server("interactive", answer);
    let mut input = &b"show workers\n\nworker add 2\nquit\nreload\n"[..];
    let mut out = Vec::new();
    assert_eq!(run_interactive(&path, false, &mut input, &mut out), 0);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("Connected to "), "{text}");
    assert_eq!(text.matches("gunicorn-rs> ").count(), 4, "{text}");
    assert_eq!(server.join().unwrap(), ["show workers", "worker add 2"]);
}

#[test]
fn gunicornc_options_and_plain_arguments() {
    let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let run = |socket: Option<&str>, command: Option<&str>, json| {
        Ok(Parsed::Run(Args {
            socket: socket.map(PathBuf::from),
            command: command.map(String::from),
            json,
        }))
    };
    assert_eq!(
        a(&["-s", "/tmp/x.sock", "-c", "show stats", "-j"]),
        run(Some("/tmp/x.sock"), Some("show stats"), true)
    );
    assert_eq!(
        a(&["/run/a.sock", "worker", "add", "2"]),
        run(Some("/run/a.sock"), Some("worker add 2"), false)
    );
    assert_eq!(
        a(&["show", "workers"]),
        run(None, Some("show workers"), false)
    );
    assert_eq!(a(&[]), run(None, None, false));
    assert_eq!(a(&["--help"]), Ok(Parsed::Help));
    assert!(a(&["-s"]).is_err());
    assert!(a(&["--frob"]).is_err());
    assert!(a(&["-c", "reload", "reopen"]).is_err());
}

/// A gthread worker of four threads, two busy, as the master sends it.
fn gthread_workers() -> serde_json::Value {
    json!({"workers": [
        {"pid": 11, "slot": 0, "state": "app", "requests": 7,
         "request": {"method": "GET", "path": "/slow", "client": "127.0.0.1:1", "elapsed": 29.0,
                     "thread": 2},
         "timeout_in": 1.0, "threads_busy": 2, "threads_total": 4, "connections": 5,
         "keepalive": 3},
        {"pid": 12, "slot": 1, "state": "idle", "threads_busy": 0, "threads_total": 4}
    ], "count": 2})
}

#[test]
fn show_workers_has_busy_threads_and_keep_alive_for_threaded_workers() {
    let show = Command::Show(crate::protocol::ShowTarget::Workers);
    let text = format::text(Some(&show), &gthread_workers());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("SLOT PID      STATE      BUSY REQUEST"),
        "{text}"
    );
    assert!(lines[0].contains("REQS K-ALIVE LAST EXIT"), "{text}");
    assert!(
        lines[2].starts_with("0    11       app         2/4 GET /slow"),
        "{text}"
    );
    assert!(lines[2].contains("      7       3 -"), "{text}");
    assert!(
        lines[3].starts_with("1    12       idle        0/4"),
        "{text}"
    );
    let sync = answer("show workers").result.unwrap_or_default();
    let sync = format::text(Some(&show), &sync);
    assert!(
        !sync.contains("BUSY") && !sync.contains("K-ALIVE"),
        "{sync}"
    );
}

#[test]
fn dump_of_a_threaded_worker_lists_its_threads_and_names_each_stack() {
    let dump = json!({"dumps": [{
        "pid": 11,
        "request": {"method": "GET", "path": "/slow", "client": "", "elapsed": 29.0},
        "threads": [
            {"thread": 0, "state": "idle", "ident": "0x00007f0000000001"},
            {"thread": 1, "state": "app", "ident": "0x00007f0000000002",
             "request": {"method": "GET", "path": "/slow", "client": "", "elapsed": 29.0},
             "deadline_in": -1.0}
        ],
        "stack": "Thread 0x00007f0000000001 (most recent call first):\n  <no Python frame>\n\nThread 0x00007f0000000002 (most recent call first):\n  File \"app.py\", line 9 in slow\n"
    }]});
    let text = format::text(
        Some(&Command::Dump(crate::protocol::DumpTarget::Pid(11))),
        &dump,
    );
    assert_eq!(
        text,
        "== worker 11 — GET /slow (29.0s)\nthreads: 1/2 busy\n  thread 0 · idle\n  thread 1 · \
         app · GET /slow · 29.0s · deadline overdue\n\nThread 0x00007f0000000002 (most recent \
         call first):\n  » thread 1 · app · GET /slow · 29.0s · deadline overdue\n  File \
         \"app.py\", line 9 in slow\n\nThread 0x00007f0000000001 (most recent call first):\n  » \
         thread 0 · idle\n  <no Python frame>\n"
    );
}

#[test]
fn stats_say_how_many_requests_are_in_flight_over_the_threads() {
    let stats = json!({"pid": 1, "name": "shop", "busy": 1, "idle": 1, "in_flight": 3,
                       "threads_total": 8, "connections": 12, "keepalive": 9});
    let text = format::text(
        Some(&Command::Show(crate::protocol::ShowTarget::Stats)),
        &stats,
    );
    assert!(text.contains("In flight:        3 of 8 threads"), "{text}");
    assert!(
        text.contains("Connections:      12 open, 9 keep-alive"),
        "{text}"
    );
    let older = json!({"pid": 1, "name": "shop", "busy": 1});
    let text = format::text(
        Some(&Command::Show(crate::protocol::ShowTarget::Stats)),
        &older,
    );
    assert!(!text.contains("In flight"), "{text}");
}

#[test]
fn greenlet_workers_show_every_request_in_flight_not_their_thread_entries() {
    let workers = json!({"workers": [
        {"pid": 21, "slot": 0, "state": "app", "threads_busy": 32, "threads_total": 32,
         "in_flight": 500, "connections": 510, "keepalive": 10},
        {"pid": 22, "slot": 1, "state": "app", "threads_busy": 3, "threads_total": 32,
         "in_flight": 3}
    ], "count": 2});
    let show = Command::Show(crate::protocol::ShowTarget::Workers);
    let text = format::text(Some(&show), &workers);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[2].starts_with("0    21       app         500"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("1    22       app        3/32"),
        "{text}"
    );
    let stats = json!({"pid": 1, "name": "shop", "busy": 1, "idle": 0, "in_flight": 503,
                       "threads_total": 64, "connections": 510, "keepalive": 10});
    let text = format::text(
        Some(&Command::Show(crate::protocol::ShowTarget::Stats)),
        &stats,
    );
    assert!(text.contains("In flight:        503\n"), "{text}");
}

#[test]
fn a_greenlet_worker_shows_its_requests_never_a_thread_count() {
    let workers = json!({"workers": [
        {"pid": 21, "slot": 0, "kind": "gevent", "state": "app", "threads_busy": 32,
         "threads_total": 32, "in_flight": 32},
        {"pid": 22, "slot": 1, "kind": "eventlet", "state": "app", "threads_busy": 3,
         "threads_total": 32, "in_flight": 3}
    ], "count": 2});
    let show = Command::Show(crate::protocol::ShowTarget::Workers);
    let text = format::text(Some(&show), &workers);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[2].starts_with("0    21       app          32"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("1    22       app           3"),
        "{text}"
    );
    let stats = json!({"pid": 1, "name": "shop", "worker_class": "gevent", "busy": 2,
                       "in_flight": 35, "threads_total": 64, "connections": 40});
    let text = format::text(
        Some(&Command::Show(crate::protocol::ShowTarget::Stats)),
        &stats,
    );
    assert!(text.contains("In flight:        35 requests\n"), "{text}");
    assert!(!text.contains("threads"), "{text}");
}

/// A gevent worker's dump with `in_flight` requests, two of them in its entries (the real
/// server has 32 entries, filled up to the requests in flight; three keep the text short), and
/// an idle entry.
fn greenlet_dump(in_flight: u32) -> serde_json::Value {
    let request = |path: &str, elapsed: f64| json!({"method": "GET", "path": path, "client": "10.0.0.7:5123", "elapsed": elapsed});
    json!({"dumps": [{
        "pid": 21, "kind": "gevent", "in_flight": in_flight,
        "request": request("/slow", 29.0),
        "threads": [
            {"thread": 0, "state": "app", "ident": "0x00007f0000000a10",
             "request": request("/fast", 0.5)},
            {"thread": 1, "state": "idle"},
            {"thread": 2, "state": "app", "ident": "0x00007f0000000b20",
             "request": request("/slow", 29.0), "deadline_in": 1.0}
        ],
        "stack": "Current thread 0x00007f0000000001 (most recent call first):\n  File \"hub.py\", line 9 in run\n\nGreenlet 0x00007f0000000a10 (most recent call first):\n  File \"app.py\", line 3 in fast\n\nGreenlet 0x00007f0000000b20 (most recent call first):\n  File \"app.py\", line 9 in slow\n"
    }]})
}

#[test]
fn dump_of_a_greenlet_worker_lists_its_requests_longest_first_without_idle_entries() {
    let dump = Command::Dump(crate::protocol::DumpTarget::Pid(21));
    let text = format::text(Some(&dump), &greenlet_dump(40));
    assert_eq!(
        text,
        "== worker 21 — GET /slow (29.0s)\nrequests in flight: 40 (2 longest shown)\n  greenlet \
         · app · GET /slow from 10.0.0.7:5123 · 29.0s · deadline T-1.0s\n  greenlet · app · GET \
         /fast from 10.0.0.7:5123 · 500ms\n\nGreenlet 0x00007f0000000b20 (most recent call \
         first):\n  » greenlet · app · GET /slow from 10.0.0.7:5123 · 29.0s · deadline T-1.0s\n  \
         File \"app.py\", line 9 in slow\n\nGreenlet 0x00007f0000000a10 (most recent call \
         first):\n  » greenlet · app · GET /fast from 10.0.0.7:5123 · 500ms\n  File \"app.py\", \
         line 3 in fast\n\nCurrent thread 0x00007f0000000001 (most recent call first):\n  File \
         \"hub.py\", line 9 in run\n"
    );
    // Every request has its entry: nothing left out to mention. An older server sends no
    // count: the entries with a request are.
    for in_flight in [2, 0] {
        let text = format::text(Some(&dump), &greenlet_dump(in_flight));
        assert!(text.contains("\nrequests in flight: 2\n"), "{text}");
    }
}
