//! The asgi worker (`-k asgi`; issue 9), HTTP side, against tests/apps/asgi_app.py (raw ASGI
//! 3.0): the `http` scope has the fields the spec (asgiref `specs/www.rst`, 2.5) lists with
//! their types; request bodies reach the app in `more_body` pieces and responses leave as they
//! are sent (a 5 MB echo, the first part answered before the rest is sent, server-sent events
//! arriving one by one); `--root-path`. An app that raises, `http.disconnect` and `send()`
//! after the client left: tests/asgi_faults.rs; early hints and trailers: tests/asgi_ext.rs; lifespan, limits and worker names: tests/asgi_worker.rs; connections:
//! tests/asgi_conn.rs; WebSocket: tests/asgi_ws.rs; frameworks: tests/asgi_apps.rs.
//!
//! Every expectation here was first checked by hand against uvicorn 0.54 (and Gunicorn 27
//! `-k asgi` where uvicorn lacks the feature), except where a comment says they differ.
//! `ASGI_REFERENCE_GUNICORN=1` runs the tests that go through `asgi()` against the test venv's
//! Gunicorn 27 `-k asgi` instead of this binary, to tell a wrong expectation from a wrong
//! server: there, the tests of what Gunicorn does not do (listed in issue 9 and in
//! shared/reference/workers.md §1.6) and of gunicorn-rs's own conventions (`Connection:
//! keep-alive` on every persistent response, options Gunicorn lacks) fail, and the rest pass.

use crate::support::*;
use std::io::{Read, Write};
use std::time::Duration;

/// `app` from tests/apps under `-k asgi` with `extra`, in the test virtualenv.
pub(crate) fn asgi(app: &str, extra: &[&str], workers: usize) -> Server {
    asgi_with(app, extra, workers, Opts::default())
}

pub(crate) fn asgi_with(app: &str, extra: &[&str], workers: usize, base: Opts) -> Server {
    let mut args = vec!["-k", "asgi"];
    args.extend_from_slice(extra);
    let mut base = base.with_venv();
    if std::env::var_os("ASGI_REFERENCE_GUNICORN").is_some() {
        let gunicorn = venv().join("bin").join("gunicorn");
        base = base.program(&[gunicorn.to_str().unwrap(), "--no-control-socket"]);
    }
    Server::app_with(app, &args, workers, base)
}

pub(crate) fn only_worker(server: &Server) -> u32 {
    *server.worker_pids().iter().next().expect("one worker")
}

fn scope_of(server: &Server, raw: &str) -> (serde_json::Value, u16) {
    let mut c = Client::connect(server.port());
    c.send(raw.as_bytes());
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    (r.json(), c.local_port())
}

/// The spec's `http` scope keys, each with its type: `headers` as byte pairs in the order
/// received with duplicates kept, `query_string` not decoded, `path` decoded with
/// `raw_path` the bytes received, `client`/`server` as [host, port], `state` a copy of what
/// the lifespan stored.
#[test]
fn the_http_scope_has_the_fields_the_spec_lists() {
    let server = asgi("asgi_app:app", &[], 1);
    let raw = "GET /scope?a=%20b&c HTTP/1.1\r\nHost: example\r\nX-Dup: 1\r\nX-Case: MiXeD\r\nX-Dup: 2\r\n\r\n";
    let (s, local) = scope_of(&server, raw);
    assert_eq!(s["type"], "http");
    assert_eq!(s["asgi"]["version"], "3.0", "{s}");
    assert_eq!(
        (&s["http_version"], &s["method"], &s["scheme"]),
        (&"1.1".into(), &"GET".into(), &"http".into()),
        "{s}"
    );
    assert_eq!(
        (&s["path"], &s["raw_path"]),
        (&"/scope".into(), &"/scope".into())
    );
    assert_eq!(s["query_string"], "a=%20b&c", "not url-decoded: {s}");
    assert_eq!(s["root_path"], "", "{s}");
    // Names "should be lowercased, but it is not required": compared without case.
    let headers: Vec<(String, String)> = s["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_ascii_lowercase(),
                h[1].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("host", "example"),
        ("x-dup", "1"),
        ("x-case", "MiXeD"),
        ("x-dup", "2"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(headers, want, "order and duplicates as received");
    assert_eq!(s["header_types"], serde_json::json!(["bytes,bytes"]));
    assert_eq!(s["client"], serde_json::json!(["127.0.0.1", local]));
    assert_eq!(s["server"], serde_json::json!(["127.0.0.1", server.port()]));
    let pid = only_worker(&server);
    assert_eq!(s["state_token"], format!("from-lifespan-{pid}"), "{s}");

    // Percent escapes and UTF-8 decoded in `path`, kept in `raw_path`; HTTP/1.0 said so.
    let (s, _) = scope_of(&server, "GET /caf%C3%A9%20x/scope HTTP/1.0\r\n\r\n");
    assert_eq!(
        (&s["path"], &s["raw_path"]),
        (&"/café x/scope".into(), &"/caf%C3%A9%20x/scope".into())
    );
    assert_eq!(s["http_version"], "1.0");
    // A POST's body does not change the scope; the method is as sent.
    let (s, _) = scope_of(
        &server,
        "POST /scope HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(s["method"], "POST");
}

/// Lifespan spec: each request gets a copy of the state, so what one request writes into
/// `scope["state"]` is not seen by the next.
#[test]
fn each_request_gets_its_own_copy_of_the_lifespan_state() {
    let server = asgi("asgi_app:app", &[], 1);
    assert_eq!(server.fetch("/state-write").status, 200);
    let s = server.fetch("/scope").json();
    assert_eq!(s["state_leak"], serde_json::Value::Null, "{s}");
    assert!(
        s["state_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("from-lifespan-")),
        "{s}"
    );
}

/// The requests of one kept-alive connection run in one task, each in a context of its own:
/// a ContextVar one request sets is not seen by the next — one after another, or pipelined
/// in one write (the second then starts inside the first's turn) — as under a task per
/// request (uvicorn's, and this worker's before).
#[test]
fn contextvars_start_afresh_for_each_request_on_a_connection() {
    on_each_event_loop(contextvars_start_afresh_under);
}

/// `check` under uvloop's loop (what `auto` picks when it is installed, as here) and under
/// asyncio's own: a connection's task waits on the loop's futures.
fn on_each_event_loop(check: fn(&[&str])) {
    for event_loop in ["uvloop", "asyncio"] {
        check(&["--asgi-loop", event_loop]);
    }
}

fn contextvars_start_afresh_under(extra: &[&str]) {
    let server = asgi("asgi_app:app", extra, 1);
    let mut c = Client::connect(server.port());
    for i in 0..3 {
        let r = c.get(&format!("/contextvar?n={i}"));
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "unset"),
            "{extra:?} request {i}"
        );
    }
    c.send(b"GET /contextvar?p=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /contextvar?p=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    for i in 1..=2 {
        let r = c.response();
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "unset"),
            "{extra:?} pipelined {i}"
        );
    }
}

/// An app that cancels the task it runs in (`asyncio.current_task().cancel()`, as a timeout
/// helper does) and still answers: the cancellation ends that task, not the connection; the
/// next request on it gets a task again. No error is logged for it.
#[test]
fn a_request_that_cancels_its_own_task_leaves_the_connection_serving() {
    on_each_event_loop(cancelling_its_own_task_under);
}

fn cancelling_its_own_task_under(extra: &[&str]) {
    let server = asgi("asgi_app:app", extra, 1);
    let mut c = Client::connect(server.port());
    for round in 0..3 {
        let r = c.get("/cancel-own-task");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "task"),
            "{extra:?} round {round}"
        );
        let r = c.get("/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "Hello, ASGI!\n"),
            "{extra:?} round {round}"
        );
    }
    c.send(b"GET /cancel-own-task HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.response().text(), "task");
    assert_eq!(c.response().text(), "Hello, ASGI!\n");
    let log = server.log();
    assert!(
        !log.contains("Traceback") && !log.contains("[ERROR]"),
        "{extra:?}: {log}"
    );
}

/// A task factory the app sets (in lifespan startup, as aiotask-context and tracing
/// libraries do) makes the connections' tasks: one per connection, serving its requests in
/// turn; without one, the worker's own tasks.
#[test]
fn the_apps_task_factory_makes_each_connections_task() {
    on_each_event_loop(task_factory_under);
}

fn task_factory_under(extra: &[&str]) {
    let opts = Opts::default().env("TASK_FACTORY", "1");
    let server = asgi_with("asgi_app:app", extra, 1, opts);
    let mut names = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect(server.port());
        let first = c.get("/task-name").text();
        assert_eq!(
            c.get("/task-name").text(),
            first,
            "{extra:?}: one task per connection"
        );
        names.push(first);
    }
    assert!(
        names.iter().all(|n| n.starts_with("factory task ")) && names[0] != names[1],
        "{extra:?}: {names:?}"
    );
    let plain = asgi("asgi_app:app", extra, 1);
    assert_eq!(plain.fetch("/task-name").text(), "gunicorn-rs connection");
}

/// `--root-path` is the scope's `root_path` (WSGI's SCRIPT_NAME), and `path` includes it
/// (spec 2.5 derives PATH_INFO by stripping `root_path` from `path`; Starlette builds
/// `request.url` from `path` alone): a target a front stripped of the prefix gets it back, in
/// `raw_path` too, as under uvicorn 0.26+ (Gunicorn 27 leaves `/scope`, and Starlette's
/// redirects then lose the prefix); a target that has it is not given it twice (uvicorn's
/// `/api/api/scope`).
#[test]
fn root_path_is_in_the_scope() {
    let server = asgi("asgi_app:app", &["--root-path", "/api"], 1);
    for target in ["/scope", "/api/scope"] {
        let s = server.fetch(target).json();
        assert_eq!(s["root_path"], "/api", "{s}");
        assert_eq!(
            (&s["path"], &s["raw_path"]),
            (&"/api/scope".into(), &"/api/scope".into()),
            "{target}: {s}"
        );
    }
}

/// A body that is not all bytes of one value: 5 MB of a repeating counter.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A 5 MB upload reaches the app in several `http.request` messages (`more_body`: the server
/// streams rather than buffering the whole body) and is echoed whole; a chunked upload is
/// de-chunked by the server (spec: "the server is responsible for handling this encoding").
#[test]
fn a_5_mb_upload_is_streamed_to_the_app_and_echoed() {
    let server = asgi("asgi_app:app", &[], 1);
    let body = pattern(5_000_000);
    let mut c = Client::connect(server.port());
    let mut writer = c.stream.try_clone().unwrap();
    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let sender = std::thread::spawn(move || writer.write_all(&raw).is_ok());
    let r = c.response();
    assert!(sender.join().unwrap(), "the upload was cut");
    assert_eq!(r.status, 200);
    assert!(
        r.body == body,
        "echoed {} bytes, not the 5 MB sent",
        r.body.len()
    );
    let messages: usize = r.header("x-chunks").unwrap().parse().unwrap();
    eprintln!("5 MB reached the app in {messages} http.request messages");
    assert!(
        messages >= 2,
        "5 MB in one http.request message: the server buffered it all"
    );

    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "abcdefg"));
}

/// Streaming both ways at once: `/echo?stream=1` sends each `http.request` piece back as it
/// comes. The first megabyte's echo is read before the rest of the body is sent, so neither
/// side waited for the whole message.
#[test]
fn a_response_can_flow_while_the_request_body_still_arrives() {
    let server = asgi("asgi_app:app", &[], 1);
    let body = pattern(5_000_000);
    let mut c = Client::connect(server.port());
    c.send(
        format!(
            "POST /echo?stream=1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body[..1_000_000]);
    // The head and at least one echoed byte come back with 4 MB still unsent.
    let head = read_until(&mut c.stream, b"\r\n\r\n");
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    let mut first = [0u8; 64];
    let n = c
        .stream
        .read(&mut first)
        .expect("echoed body bytes before the rest was sent");
    assert!(n > 0);
    let mut writer = c.stream.try_clone().unwrap();
    let rest = body[1_000_000..].to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&rest).is_ok());
    let mut wire = head;
    wire.extend_from_slice(&first[..n]);
    let mut buf = vec![0u8; 65536];
    // The echo is chunked (no length was given): it ends with the last chunk.
    while !wire.ends_with(b"\r\n0\r\n\r\n") {
        let n = c.stream.read(&mut buf).expect("the echo went on");
        assert!(n > 0, "closed before the echo was complete");
        wire.extend_from_slice(&buf[..n]);
    }
    assert!(sender.join().unwrap());
    let (r, _) = parse_response(&wire, false).unwrap();
    assert!(r.complete && r.chunked, "{:?}", r.headers);
    assert!(r.body == body, "echoed {} bytes", r.body.len());
}

/// Server-sent events: 5 events 300 ms apart reach the client as they are sent — the spec:
/// servers "must flush any data passed to them into the send buffer before returning from a
/// send call" — read read by read from a raw socket, the response still open between them.
#[test]
fn server_sent_events_arrive_one_by_one() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /stream?n=5&delay=0.3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let (mut wire, reads) = events_by_read(&mut c, 5);
    let (r, _) = parse_response(&wire, false).unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(
        r.chunked,
        "HTTP/1.1 without a length is chunked: {:?}",
        r.headers
    );
    eprintln!("events completed in reads {reads:?}");
    // Each in a read of its own: the first came before the last was sent, and none waited
    // for the next (300 ms apart, only a test thread stalled that long could see two at once).
    assert!(
        reads.windows(2).all(|p| p[0] < p[1]),
        "events came together: {reads:?}"
    );
    // And the response then ends properly (the last chunk).
    let rest = match c.ending(Duration::from_secs(5)) {
        Ending::Open(b) | Ending::Eof(b) | Ending::Reset(b) => b,
    };
    wire.extend_from_slice(&rest);
    assert!(
        parse_response(&wire, false).unwrap().0.complete,
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
}
