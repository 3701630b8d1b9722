//! `--metrics-bind`'s health side and `--shutdown-delay` (issue 11): /metrics and /healthz
//! answering while every worker is stuck; /healthz and /readyz, and the slow and bad clients
//! the listener refuses; /readyz before a worker booted; a TERM under load that drops nothing;
//! HUP and the listener and the delay. The exposition and Prometheus: tests/metrics.rs.

use crate::metrics::{
    ask, assert_values, get, metrics_port, promtool_check, start, value, wait_metric,
};
use crate::support::{self, poll, read_all, Opts, Server, IO_TIMEOUT, WAIT};
use nix::sys::signal::Signal;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn metrics_and_health_answer_while_every_worker_is_stuck() {
    let (server, port) = start(
        "stuck_app:app",
        &["--timeout", "120", "--graceful-timeout", "1"],
        2,
    );
    // Each sync worker takes one request into a long C call; keep the sockets open.
    let stuck: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = server.connect();
            s.write_all(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s
        })
        .collect();
    poll(WAIT, "both workers in the app", || {
        (server.markers("c-").len() == 2).then_some(())
    });
    let asked = Instant::now();
    let text = wait_metric(port, "gunicorn_rs_workers_busy", |v| v == 2.0);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "/metrics took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        value(&text, "gunicorn_rs_requests_in_flight"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "gunicorn_rs_workers{state=\"app\"}"),
        Some(2.0),
        "{text}"
    );
    promtool_check(&text);
    let health = get(port, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    assert_eq!(get(port, "/readyz").status, 200);
    drop(stuck);
}

#[test]
fn health_endpoints_and_what_the_listener_refuses() {
    let (server, port) = start("hello:app", &[], 1);
    let ready = get(port, "/readyz");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    let live = get(port, "/healthz?verbose=1");
    assert_eq!((live.status, live.text().as_str()), (200, "ok\n"));
    let head = ask(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = ask(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        (post.status, post.header("Allow")),
        (405, Some("GET, HEAD"))
    );
    assert_eq!(get(port, "/").status, 404);
    assert_eq!(ask(port, "GET /metrics\r\n\r\n").status, 400);
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(ask(port, &huge).status, 431);
    // A client that never finishes its head holds nothing: others are answered meanwhile,
    // and it is closed at its deadline.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    slow.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(get(port, "/readyz").status, 200);
    let started = Instant::now();
    assert!(
        read_all(&mut slow).is_empty(),
        "the slow client got an answer"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(server);
}

#[test]
fn readyz_waits_for_a_booted_worker_and_a_bad_address_is_refused() {
    let apps = support::apps();
    let mut refused = Server::spawn(Opts::new(&[
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--metrics-bind",
        "unix:/tmp/x.sock",
        "hello:app",
    ]));
    assert_eq!(refused.wait_exit(WAIT).code(), Some(1));
    assert!(refused.log().contains("metrics_bind"), "{}", refused.log());
    // A port another socket holds: exit 1 before any worker boots.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    let mut clash = Server::spawn(Opts::new(&[
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--metrics-bind",
        &busy,
        "hello:app",
    ]));
    assert_eq!(clash.wait_exit(WAIT).code(), Some(1));
    assert!(clash.log().contains("metrics listener"), "{}", clash.log());
}

/// New connections, one request each, until `stop_at`: how many were answered 200, and what
/// the others got (`None`: refused, reset or cut).
fn keep_requesting(port: u16, stop_at: Instant) -> (usize, Vec<Option<u16>>) {
    let (mut ok, mut failed) = (0, Vec::new());
    while Instant::now() < stop_at {
        match support::try_get(port, "/") {
            Some(r) if r.status == 200 => ok += 1,
            other => failed.push(other.map(|r| r.status)),
        }
    }
    (ok, failed)
}

/// Kubernetes' rolling update, replayed: TERM while a client keeps opening connections. With
/// `--shutdown-delay` every request is answered, /readyz says 503 `draining` at once, and the
/// server exits 0 after the delay.
#[test]
fn shutdown_delay_keeps_serving_while_readiness_fails() {
    let delay = Duration::from_secs(5);
    let (mut server, port) = start("hello:app", &["--shutdown-delay", "5"], 2);
    let app_port = server.port();
    let term_at = Instant::now();
    // The client stops a little before the delay can be over (the server's delay starts when it
    // handles the signal, after this instant), so every request it sends must be answered.
    let stop_at = term_at + delay - Duration::from_millis(500);
    let client = std::thread::spawn(move || keep_requesting(app_port, stop_at));
    server.signal(Signal::SIGTERM);
    let draining = poll(WAIT, "/readyz to fail", || {
        let r = get(port, "/readyz");
        (r.status == 503).then_some(r)
    });
    assert!(
        term_at.elapsed() < delay,
        "readiness failed only after the delay"
    );
    assert_eq!(draining.text(), "draining\n");
    assert_eq!(get(port, "/healthz").status, 200);
    let text = get(port, "/metrics").text();
    assert_values(
        &text,
        &[("gunicorn_rs_draining", 1.0), ("gunicorn_rs_ready", 0.0)],
    );
    let (ok, failed) = client.join().expect("client thread");
    assert!(
        failed.is_empty(),
        "{} requests failed during the delay: {failed:?}",
        failed.len()
    );
    assert!(ok >= 5, "only {ok} requests during the delay");
    let status = server.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        term_at.elapsed() >= delay,
        "exited before the delay was over"
    );
    let log = server.log();
    assert!(
        log.contains("Shutdown delay over: stopping gracefully"),
        "{log}"
    );
}

/// HUP with a config file that moves `metrics_bind`: the listener stays where it is (said in a
/// warning), and a changed `shutdown_delay` is the one the next TERM uses.
#[test]
fn hup_keeps_the_metrics_listener_and_rereads_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("gunicorn.conf.py");
    std::fs::write(&conf, "metrics_bind = '127.0.0.1:0'\n").unwrap();
    let apps = support::apps();
    let args = [
        "-b",
        "127.0.0.1:0",
        "-c",
        conf.to_str().unwrap(),
        "--chdir",
        &apps,
        "hello:app",
    ];
    let mut server = Server::start_with(Opts::new(&args));
    server.wait_workers(1);
    let port = metrics_port(&server);
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let moved = format!("127.0.0.1:{}", elsewhere.local_addr().unwrap().port());
    drop(elsewhere);
    std::fs::write(
        &conf,
        format!("metrics_bind = '{moved}'\nshutdown_delay = 1\n"),
    )
    .unwrap();
    let mark = server.mark();
    server.signal(Signal::SIGHUP);
    server.wait_for_from(
        mark,
        "--metrics-bind changed: it takes effect at the next start",
        WAIT,
    );
    assert_eq!(get(port, "/healthz").status, 200);
    server.wait_for_from(mark, "Booting worker with pid: ", WAIT);
    server.signal(Signal::SIGTERM);
    server.wait_for_from(
        mark,
        "Shutdown delay: not ready, still serving for 1s",
        WAIT,
    );
    assert_eq!(server.wait_exit(WAIT).code(), Some(0));
}
