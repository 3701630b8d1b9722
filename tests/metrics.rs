//! `--metrics-bind` (issue 11): /metrics checked by the real promtool, its totals keeping what
//! recycled workers served, and scraped by a real Prometheus server. Answering while every
//! worker is stuck, /healthz and /readyz, slow and bad clients of the listener, and
//! `--shutdown-delay`'s TERM under load that drops nothing: tests/metrics_health.rs.

use crate::support::{
    output_within, parse_one, poll, read_all, Opts, Response, Server, COMMAND_WAIT, IO_TIMEOUT,
    WAIT,
};
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server of `app` with the metrics listener on a port the kernel picks, once /readyz says
/// ready (until a worker has loaded the app it says `booting`).
pub(crate) fn start(app: &str, extra: &[&str], workers: usize) -> (Server, u16) {
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
pub(crate) fn metrics_port(server: &Server) -> u16 {
    let line = server.wait_for("Metrics listening at: http://", WAIT);
    let port = line.rsplit(':').next().unwrap_or_default().trim();
    port.parse()
        .unwrap_or_else(|_| panic!("no port in {line:?}"))
}

/// One request on a new connection to the metrics listener, read to the server's close.
pub(crate) fn ask(port: u16, request: &str) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).expect("send");
    parse_one(&read_all(&mut stream), request.starts_with("HEAD "))
}

pub(crate) fn get(port: u16, path: &str) -> Response {
    ask(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

/// The value of the sample `series` (name and labels as written) in a scrape.
pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Each `(series, value)` is in the scrape with that value.
pub(crate) fn assert_values(text: &str, expected: &[(&str, f64)]) {
    for (series, want) in expected {
        assert_eq!(value(text, series), Some(*want), "{series} in:\n{text}");
    }
}

/// Polls /metrics until `series` has a value that `ok` accepts; returns the scrape.
pub(crate) fn wait_metric(port: u16, series: &str, ok: impl Fn(f64) -> bool) -> String {
    let what = format!("{series} in /metrics");
    poll(WAIT, &what, || {
        let text = get(port, "/metrics").text();
        value(&text, series).filter(|v| ok(*v)).map(|_| text)
    })
}

/// `promtool check metrics` on `text`: the exposition parses and passes its lint.
pub(crate) fn promtool_check(text: &str) {
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
