//! `--metrics-bind` and `--shutdown-delay` (issue 11): /metrics checked by the real promtool and
//! scraped by a real Prometheus server, answering while every worker is stuck; /healthz and
//! /readyz; slow and bad clients of the listener; a TERM under load that drops nothing.

use crate::support::{
    self, output_within, parse_one, poll, read_all, Opts, Response, Server, COMMAND_WAIT,
    IO_TIMEOUT, WAIT,
};
use nix::sys::signal::Signal;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server of `app` with the metrics listener on a port the kernel picks, once /readyz says
/// ready (until a worker has loaded the app it says `booting`).
fn start(app: &str, extra: &[&str], workers: usize) -> (Server, u16) {
    let mut args = vec!["--metrics-bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Server::app_with(app, &args, workers, Opts::default());
    let port = metrics_port(&server);
    let ready = poll(WAIT, "/readyz to say ready", || {
        let r = get(port, "/readyz");
        (r.status == 200 || r.text() != "booting: no worker serves yet\n").then_some(r)
    });
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    (server, port)
}

/// The port of the `Metrics listening at: http://HOST:PORT` line.
fn metrics_port(server: &Server) -> u16 {
    let line = server.wait_for("Metrics listening at: http://", WAIT);
    let port = line.rsplit(':').next().unwrap_or_default().trim();
    port.parse()
        .unwrap_or_else(|_| panic!("no port in {line:?}"))
}

/// One request on a new connection to the metrics listener, read to the server's close.
fn ask(port: u16, request: &str) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).expect("send");
    parse_one(&read_all(&mut stream), request.starts_with("HEAD "))
}

fn get(port: u16, path: &str) -> Response {
    ask(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

/// The value of the sample `series` (name and labels as written) in a scrape.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Each `(series, value)` is in the scrape with that value.
fn assert_values(text: &str, expected: &[(&str, f64)]) {
    for (series, want) in expected {
        assert_eq!(value(text, series), Some(*want), "{series} in:\n{text}");
    }
}

/// Polls /metrics until `series` has a value that `ok` accepts; returns the scrape.
fn wait_metric(port: u16, series: &str, ok: impl Fn(f64) -> bool) -> String {
    let what = format!("{series} in /metrics");
    poll(WAIT, &what, || {
        let text = get(port, "/metrics").text();
        value(&text, series).filter(|v| ok(*v)).map(|_| text)
    })
}

/// `promtool check metrics` on `text`: the exposition parses and passes its lint.
fn promtool_check(text: &str) {
    // promtool ships with Debian's prometheus package (.ci/run installs it).
    let out = output_within(
        Command::new("promtool").args(["check", "metrics"]),
        Some(text.as_bytes()),
        COMMAND_WAIT,
    );
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{said}\n{text}"
    );
    assert!(
        said.trim().is_empty(),
        "promtool's lint complained:\n{said}"
    );
}

/// Each live worker has its series (RSS read from /proc), and their requests add up to the
/// total.
fn assert_per_worker(text: &str, server: &Server) {
    for pid in server.worker_pids() {
        let rss = format!("gunicorn_rs_worker_resident_memory_bytes{{worker=\"0\",pid=\"{pid}\"}}");
        let rss1 = rss.replace("worker=\"0\"", "worker=\"1\"");
        let found = value(text, &rss).or_else(|| value(text, &rss1));
        assert!(
            found.is_some_and(|b| b > 1e6),
            "no RSS for worker {pid}:\n{text}"
        );
    }
    // Per-worker requests add up to the total.
    let per_worker: f64 = text
        .lines()
        .filter(|l| l.starts_with("gunicorn_rs_worker_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let total = value(text, "gunicorn_rs_requests_total");
    assert_eq!(Some(per_worker), total, "{text}");
}

#[test]
fn metrics_pass_promtool_and_count_what_was_served() {
    let (server, port) = start("hello:app", &[], 2);
    for _ in 0..3 {
        assert_eq!(server.get("/").status, 200);
    }
    assert_eq!(server.get("/missing").status, 404);
    assert_eq!(server.get("/fault/raise").status, 500);
    // A worker counts a response once it is written: after the client could read it.
    let text = wait_metric(port, "gunicorn_rs_request_duration_seconds_count", |v| {
        v == 5.0
    });
    let scrape = get(port, "/metrics");
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(scrape.header("Connection"), Some("close"));
    promtool_check(&text);
    assert_values(
        &text,
        &[
            ("gunicorn_rs_responses_total{code=\"2xx\"}", 3.0),
            ("gunicorn_rs_responses_total{code=\"4xx\"}", 1.0),
            ("gunicorn_rs_responses_total{code=\"5xx\"}", 1.0),
            ("gunicorn_rs_exceptions_total", 1.0),
            (
                "gunicorn_rs_request_duration_seconds_bucket{le=\"+Inf\"}",
                5.0,
            ),
            ("gunicorn_rs_workers_desired", 2.0),
            ("gunicorn_rs_ready", 1.0),
        ],
    );
    assert_per_worker(&text, &server);
    // Both workers go back to idle once they are done with their connections.
    wait_metric(port, "gunicorn_rs_workers{state=\"idle\"}", |v| v == 2.0);
    assert!(
        text.contains("gunicorn_rs_listen_backlog{listener=\"http://127.0.0.1:"),
        "{text}"
    );
}

#[test]
fn totals_keep_what_recycled_workers_served() {
    let (server, port) = start("hello:app", &["--max-requests", "2"], 1);
    for _ in 0..5 {
        assert_eq!(server.fetch("/").status, 200);
    }
    let exits = "gunicorn_rs_worker_exits_total{reason=\"max_requests\"}";
    wait_metric(port, exits, |v| v >= 2.0);
    // A worker counts a response once it is written: after the client could read it.
    let text = wait_metric(port, "gunicorn_rs_request_duration_seconds_count", |v| {
        v == 5.0
    });
    assert_eq!(
        value(&text, "gunicorn_rs_requests_total"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "gunicorn_rs_responses_total{code=\"2xx\"}"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "gunicorn_rs_request_duration_seconds_count"),
        Some(5.0),
        "{text}"
    );
    assert!(
        value(&text, "gunicorn_rs_workers_spawned_total").is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(
        value(&text, "gunicorn_rs_worker_restarts_total{worker=\"0\"}").is_some_and(|n| n >= 2.0),
        "{text}"
    );
    promtool_check(&text);
}

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

/// A Prometheus server, stopped by pid when dropped.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET to Prometheus' HTTP API; the raw response as text (JSON inside).
fn prometheus_api(port: u16, query: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    let head =
        format!("GET /api/v1/query?query={query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).ok()?;
    Some(String::from_utf8_lossy(&read_all(&mut s)).into_owned())
}

#[test]
fn a_prometheus_server_scrapes_it() {
    let (server, port) = start("hello:app", &[], 1);
    assert_eq!(server.get("/").status, 200);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gunicorn-rs\n    \
             static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    // A free port for its web API: bound by us, then released for it.
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("prometheus not found ({e}): apt-get install prometheus"));
    let _prometheus = Prometheus(child);
    let bounded = Duration::from_secs(60);
    poll(bounded, "Prometheus to report the target up", || {
        let body = prometheus_api(web, "up")?;
        body.contains("\"job\":\"gunicorn-rs\"").then_some(())?;
        body.contains(",\"1\"]").then_some(())
    });
    let body = poll(bounded, "gunicorn_rs_requests_total in Prometheus", || {
        let body = prometheus_api(web, "gunicorn_rs_requests_total")?;
        body.contains("\"__name__\":\"gunicorn_rs_requests_total\"")
            .then_some(body)
    });
    assert!(body.contains("\"status\":\"success\""), "{body}");
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
