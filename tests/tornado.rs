//! The tornado worker (`-k tornado`; issue 9). A `tornado.web.Application` served natively
//! (tests/apps/tornado_app.py: what tornado's `HTTPServerRequest` holds, form and streamed
//! request bodies, server-sent events through `RequestHandler.flush`, a handler that raises,
//! `on_connection_close`, a WebSocketHandler), a plain WSGI app through tornado's
//! `WSGIContainer` as Gunicorn runs one (tests/apps/hello.py), and the checks every kind
//! passes (the HTTP layer is the same Rust code): keep-alive, pipelining and bad input
//! (tests/keepalive.rs) on tests/apps/tornado_hello.py, Gunicorn's request corpus, graceful
//! stops, `--max-requests` counting requests, slowloris, `--worker-connections`, the
//! WORKER TIMEOUT block and `dump`. The checks every kind passes are in
//! tests/tornado/every_kind.rs (`tornado::every_kind::…`).

use crate::support::*;
use std::time::Duration;

mod every_kind;

/// `app` from tests/apps under `-k tornado` with `extra`, in the test virtualenv.
pub(crate) fn tornado(app: &str, extra: &[&str], workers: usize) -> Server {
    let mut args = vec!["-k", "tornado"];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, workers, Opts::default().with_venv())
}

fn only_worker(server: &Server) -> u32 {
    *server.worker_pids().iter().next().expect("one worker")
}

/// What tornado's `HTTPServerRequest` holds for a request with a query, repeated fields and
/// a body: the request line as sent, arguments parsed by tornado, the peer's address, and
/// each field as received (duplicates kept, in order).
#[test]
fn a_tornado_request_holds_what_the_client_sent() {
    let server = tornado("tornado_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(
        b"POST /request?a=1&b=%20x HTTP/1.1\r\nHost: example:8080\r\nX-Dup: 1\r\nX-Dup: 2\r\n\
          Content-Length: 5\r\n\r\nhello",
    );
    let r = c.response();
    assert_eq!(r.status, 200, "{r:?}");
    let s = r.json();
    assert_eq!(
        (&s["method"], &s["uri"], &s["version"]),
        (
            &"POST".into(),
            &"/request?a=1&b=%20x".into(),
            &"HTTP/1.1".into()
        ),
        "{s}"
    );
    assert_eq!(
        (&s["path"], &s["query"]),
        (&"/request".into(), &"a=1&b=%20x".into())
    );
    assert_eq!(s["arguments"]["b"], serde_json::json!([" x"]), "{s}");
    assert_eq!(
        (&s["host"], &s["remote_ip"], &s["protocol"]),
        (&"example:8080".into(), &"127.0.0.1".into(), &"http".into())
    );
    assert_eq!(s["body_len"], 5);
    let dups: Vec<_> = s["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "X-Dup")
        .map(|h| h[1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dups, ["1", "2"], "{s}");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(
        r.header("Server"),
        Some("gunicorn-rs"),
        "one Server field: {r:?}"
    );
}

/// A form body reaches `get_body_argument`, chunked or with a length; a `@stream_request_body`
/// handler gets a 3 MB upload through `data_received` in pieces, whole.
#[test]
fn request_bodies_reach_tornado_whole_and_streamed() {
    let server = tornado("tornado_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 8\r\n\r\na=%C3%A9",
    );
    let r = c.response();
    assert_eq!(r.json()["a"], "é", "{r:?}");
    c.send(
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Transfer-Encoding: chunked\r\n\r\n3\r\na=b\r\n4\r\n&c=d\r\n0\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(
        (&r.json()["a"], &r.json()["body_len"]),
        (&"b".into(), &7.into())
    );
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let head = format!(
        "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes());
    c.send(&body);
    let r = c.response();
    let got = r.json();
    let want = sha256_hex(&body);
    assert_eq!(got["sha256"], want.as_str(), "{got}");
    assert!(got["chunks"].as_u64().unwrap() > 1, "{got}");
}

fn sha256_hex(data: &[u8]) -> String {
    let out = output_within(
        std::process::Command::new(venv().join("bin").join("python")).args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ]),
        Some(data),
        COMMAND_WAIT,
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `RequestHandler.flush` sends what was written: five events 0.3 s apart arrive one by one,
/// chunked, and the response then ends with its last chunk.
#[test]
fn server_sent_events_arrive_as_each_flush_sends_them() {
    let server = tornado("tornado_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /events?n=5&delay=0.3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let (mut wire, reads) = events_by_read(&mut c, 5);
    eprintln!("events completed in reads {reads:?}");
    // Each in a read of its own: the first came before the last was sent, and none waited
    // for the next (300 ms apart, only a test thread stalled that long could see two at once).
    assert!(reads.windows(2).all(|p| p[0] < p[1]), "{reads:?}");
    let rest = match c.ending(Duration::from_secs(5)) {
        Ending::Open(b) | Ending::Eof(b) | Ending::Reset(b) => b,
    };
    wire.extend_from_slice(&rest);
    let (r, _) = parse_response(&wire, false).unwrap();
    assert!(r.chunked && r.complete, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
}

/// A handler that raises: tornado's 500, its "Uncaught exception" with the traceback in the
/// error log (in the error log's format), and the same worker serves on, on the same
/// connection.
#[test]
fn a_handler_that_raises_is_a_500_with_its_traceback_logged() {
    let server = tornado("tornado_app:app", &[], 1);
    let pid = only_worker(&server);
    let mut c = Client::connect(server.port());
    let r = c.get("/raise");
    assert_eq!(r.status, 500, "{r:?}");
    let line = server.wait_for("Uncaught exception GET /raise", WAIT);
    assert!(line.contains("[ERROR]"), "{line}");
    server.wait_for("RuntimeError: boom in a tornado handler", WAIT);
    let r = c.get("/request");
    assert_eq!((r.status, &r.json()["pid"]), (200, &pid.into()));
}

/// A client that goes while its handler waits: tornado's `on_connection_close` runs (as under
/// tornado's own server), and the worker serves on.
#[test]
fn on_connection_close_runs_when_the_client_goes() {
    let server = tornado("tornado_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /closed HTTP/1.1\r\nHost: x\r\n\r\n");
    server.wait_marker("waiting-for-close");
    drop(c);
    server.wait_marker("closed");
    assert_eq!(server.fetch("/request").status, 200);
}

/// tornado's WebSocketHandler takes the socket after its 101 (`detach`): text, binary,
/// fragmented and 1 MiB messages are echoed, a ping answered, and the close handshake ends
/// the session; the worker then serves HTTP as before.
#[test]
fn a_websocket_handler_echoes_through_the_detached_socket() {
    let server = tornado("tornado_app:app", &[], 1);
    let base = format!("ws://127.0.0.1:{}", server.port());
    let out = PyClient::spawn("ws_client.py", &["echo", &base]).finish(WAIT);
    assert_eq!(out["text"], "héllo ✓", "{out}");
    assert_eq!(out["binary"], serde_json::json!([0, 1, 254, 255]), "{out}");
    assert_eq!(out["fragmented"], "fragmented", "{out}");
    assert_eq!(out["pong"], true, "{out}");
    assert_eq!(out["one_mib_echoed"], true, "{out}");
    assert_eq!(out["close"][0], 1000, "{out}");
    assert_eq!(server.fetch("/request").status, 200);
}

/// A plain WSGI app runs through tornado's `WSGIContainer`, as under Gunicorn's tornado
/// worker (with the environ of every kind: tests/wsgi_probe/environ.rs): its answers, a body
/// echoed, and an app that raises is a 500 with the traceback in
/// the error log (not a request that never ends), after which the worker serves on.
#[test]
fn a_wsgi_app_runs_in_tornados_wsgi_container() {
    let server = tornado("hello:app", &[], 1);
    let mut c = Client::connect(server.port());
    assert_eq!(c.get("/").text(), "Hello, World!\n");
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.response().text(), "abc");
    let env = c.get("/env").json();
    assert_eq!(env["wsgi.url_scheme"], "http", "{env}");
    let r = server.fetch("/fault/raise");
    assert_eq!(r.status, 500, "{r:?}");
    server.wait_for("Error handling request", WAIT);
    assert_eq!(c.get("/").status, 200);
}

/// A handler that blocks the loop stops the heartbeat: after `--timeout 2` the WORKER TIMEOUT
/// block names the request and the blocking function, and a new worker serves.
#[test]
fn a_handler_blocking_the_loop_is_named_in_the_timeout_block() {
    let server = tornado(
        "tornado_app:app",
        &["--timeout", "2", "--worker-abort-timeout", "1"],
        1,
    );
    let pid = only_worker(&server);
    let port = server.port();
    let request = std::thread::spawn(move || try_get(port, "/block?s=10"));
    server.wait_marker(&format!("blocking-{pid}"));
    let block = crate::stuck::timeout_block(&server, pid);
    assert!(block.contains("GET /block?s=10"), "{block}");
    assert!(block.contains("block_the_loop"), "{block}");
    let next = poll(WAIT, "a replacement worker to serve", || {
        let r = try_fetch(port, "/request")?;
        let served = r.json()["pid"].as_u64()? as u32;
        (served != pid).then_some(served)
    });
    assert_ne!(next, pid);
    let _ = request.join();
}

/// `dump PID`: one `Task 0x…` section per request in flight, down into the handler's
/// coroutine (the task tornado runs it in), each matched to its scoreboard entry.
#[test]
fn dump_shows_the_handler_serving_each_request() {
    let server = tornado("tornado_app:app", &["--graceful-timeout", "1"], 1);
    let socket = crate::control::socket_of(&server);
    let pid = only_worker(&server);
    let port = server.port();
    let _clients: Vec<_> = (0..3)
        .map(|i| std::thread::spawn(move || try_fetch(port, &format!("/hold?id={i}"))))
        .collect();
    poll(WAIT, "3 requests in the app", || {
        (server.markers("hold-").len() == 3).then_some(())
    });
    let dumps = crate::control::ctl_json(&socket, &["dump", &pid.to_string()]);
    let dump = &dumps["dumps"][0];
    let stack = dump["stack"].as_str().unwrap_or_default();
    assert_eq!(stack.matches("Task 0x").count(), 3, "{stack}");
    for section in stack.split("Task 0x").skip(1) {
        assert!(
            section.contains("tornado_app.py") && section.contains("wait_for_release"),
            "{section}"
        );
    }
    let threads = dump["threads"].as_array().cloned().unwrap_or_default();
    let shown: Vec<_> = threads
        .iter()
        .filter(|t| t["request"]["path"].is_string())
        .collect();
    assert_eq!(shown.len(), 3, "{dump}");
    for entry in shown {
        let ident = entry["ident"].as_str().expect("an identity");
        let want = format!("Task 0x{}", ident.trim_start_matches("0x"));
        assert!(stack.contains(&want), "{want} not in the dump: {stack}");
    }
    std::fs::write(server.dir.path().join("release"), "").unwrap();
}

/// `-k tornado` in an interpreter without tornado: one error line naming it and the Python,
/// exit code 3, before anything is bound.
#[test]
fn without_tornado_one_line_and_exit_3_before_binding() {
    crate::green::without_a_library_one_line_and_exit_3(
        &["-k", "tornado", "tornado_app:app"],
        "tornado",
    );
}

/// A `tornado.web.Application`'s connections are accepted by the asgi worker's loop, so they
/// spread over the workers as `-k asgi`'s do (tests/asgi_worker.rs), and a burst never waits
/// on the balancing.
#[test]
fn connections_opened_in_a_burst_spread_over_the_workers() {
    crate::asgi_worker::burst_spreads_over_two_workers(&tornado("tornado_app:app", &[], 2));
}

#[test]
fn a_burst_of_connections_is_accepted_without_stalls() {
    crate::asgi_worker::burst_is_accepted_without_stalls(|n| tornado("tornado_app:app", &[], n));
}

/// TERM with a silent connection and a request just behind its connect, as `-k asgi` (the
/// same loop) and every other kind answer them.
#[test]
fn term_answers_a_request_behind_its_connect_and_closes_a_silent_one() {
    crate::green::term_closes_a_connection_that_sent_nothing_at_once_with("tornado", "hello:app");
}
