//! The tornado worker (`-k tornado`; issue 9). A `tornado.web.Application` served natively
//! (tests/apps/tornado_app.py: what tornado's `HTTPServerRequest` holds, form and streamed
//! request bodies, server-sent events through `RequestHandler.flush`, a handler that raises,
//! `on_connection_close`, a WebSocketHandler), a plain WSGI app through tornado's
//! `WSGIContainer` as Gunicorn runs one (tests/apps/hello.py), and the checks every kind
//! passes (the HTTP layer is the same Rust code): keep-alive, pipelining and bad input
//! (tests/keepalive.rs) on tests/apps/tornado_hello.py, Gunicorn's request corpus, graceful
//! stops, `--max-requests` counting requests, slowloris, `--worker-connections`, the
//! WORKER TIMEOUT block and `dump`.

use crate::corpus_server::{keep_alive_check, run_corpus_on, Fixture};
use crate::graceful_keepalive::checks as graceful;
use crate::green_keepalive::keep_alive_suite;
use crate::support::*;
use std::time::Duration;

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
/// worker: its answers, a body echoed, and an app that raises is a 500 with the traceback in
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
fn tornado_corpus_check(server: &Server, f: &Fixture, valid: bool) -> Result<(), String> {
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
fn plain_host(h: &str) -> bool {
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
    let worker = only_worker(&server);
    let port = server.port();
    let base = idle_worker_sockets(&server)[&worker];
    let clients: Vec<_> = (0..20)
        .map(|i| std::thread::spawn(move || try_fetch(port, &format!("/hold?id={i}"))))
        .collect();
    poll(WAIT, "10 requests in the app", || {
        (server.markers("hold-").len() >= 10).then_some(())
    });
    crate::green::stays_capped(&server, worker, base, 10, "tornado");
    std::fs::write(server.dir.path().join("release"), "").unwrap();
    for (i, c) in clients.into_iter().enumerate() {
        let r = c
            .join()
            .unwrap()
            .unwrap_or_else(|| panic!("request {i} unanswered"));
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(server.markers("hold-").len(), 20);
}

/// 40 clients trickling their heads hold nothing of the loop.
#[test]
fn slowloris_does_not_stall_a_tornado_worker() {
    let server = tornado("tornado_hello:app", &[], 1);
    crate::slowloris::normal_requests_beside_40_slowloris(&server, "tornado -w 1");
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
