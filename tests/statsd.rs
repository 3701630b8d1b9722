//! `--statsd-host` (issue 11): Gunicorn's statsd metrics, read by a real datagram receiver in
//! the test (UDP on 127.0.0.1 port 0, or a Unix datagram socket) that parses the statsd and
//! dogstatsd line format strictly: per-request metrics from the sync, gthread and asgi kinds,
//! the workers gauge through TTIN/TTOU, log-level counters, the backlog, prefix and tags — and a
//! receiver that is gone or never reads costs the requests nothing.

use crate::support::{self, run, Opts, Server, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One statsd line: `NAME:VALUE|TYPE[|@RATE][|#TAGS]`.
#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: String,
    value: f64,
    kind: String,
    rate: Option<f64>,
    tags: Vec<String>,
}

/// Parses one datagram strictly: one line, a dotted name of `[A-Za-z0-9_-]` parts, a number, a
/// known type, a rate only on counters, tags as `#k:v,...`; anything else fails the test.
fn parse(datagram: &[u8]) -> Metric {
    let text = std::str::from_utf8(datagram).unwrap_or_else(|_| panic!("not UTF-8: {datagram:?}"));
    assert!(!text.contains('\n'), "one metric per datagram: {text:?}");
    let (name, rest) = text
        .split_once(':')
        .unwrap_or_else(|| panic!("no ':' in {text:?}"));
    let name_ok = name.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    assert!(name_ok, "bad metric name in {text:?}");
    let mut fields = rest.split('|');
    let value: f64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad value in {text:?}"));
    let kind = fields.next().unwrap_or_default().to_string();
    assert!(
        ["c", "ms", "g", "h"].contains(&kind.as_str()),
        "bad type in {text:?}"
    );
    let mut metric = Metric {
        name: name.into(),
        value,
        kind,
        rate: None,
        tags: Vec::new(),
    };
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            assert!(metric.rate.is_none() && metric.tags.is_empty(), "{text:?}");
            assert_eq!(metric.kind, "c", "a sample rate on a non-counter: {text:?}");
            metric.rate = Some(
                rate.parse()
                    .unwrap_or_else(|_| panic!("bad rate: {text:?}")),
            );
        } else if let Some(tags) = field.strip_prefix('#') {
            assert!(metric.tags.is_empty(), "{text:?}");
            metric.tags = tags.split(',').map(String::from).collect();
            assert!(metric.tags.iter().all(|t| !t.is_empty()), "{text:?}");
        } else {
            panic!("unknown field {field:?} in {text:?}");
        }
    }
    metric
}

/// A statsd receiver: a thread reads every datagram as it arrives (a Unix datagram queue holds
/// only `net.unix.max_dgram_qlen` of them) and parses it.
struct Receiver {
    got: Arc<(Mutex<Vec<Metric>>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

trait Datagrams: Send + 'static {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}
impl Datagrams for UdpSocket {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recv(buf)
    }
}
impl Datagrams for UnixDatagram {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recv(buf)
    }
}

impl Receiver {
    /// UDP on 127.0.0.1, a port the kernel picks; returns `HOST:PORT` for `--statsd-host`.
    fn udp() -> (Receiver, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the statsd receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let address = socket.local_addr().unwrap().to_string();
        (Receiver::spawn(socket), address)
    }

    fn unix(path: &Path) -> Receiver {
        let socket = UnixDatagram::bind(path).expect("bind the unix statsd receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Receiver::spawn(socket)
    }

    fn spawn(socket: impl Datagrams) -> Receiver {
        let got = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (Arc::clone(&got), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = socket.receive(&mut buf) {
                    let metric = parse(&buf[..n]);
                    sink.0.lock().unwrap().push(metric);
                    sink.1.notify_all();
                }
            }
        });
        Receiver {
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn all(&self) -> Vec<Metric> {
        self.got.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until `done` holds over everything received so far.
    fn wait(&self, what: &str, done: impl Fn(&[Metric]) -> bool) -> Vec<Metric> {
        let deadline = Instant::now() + WAIT;
        let mut got = self.got.0.lock().unwrap();
        while !done(&got) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "no {what} within {WAIT:?}; received:\n{got:#?}"
            );
            got = self.got.1.wait_timeout(got, deadline - now).unwrap().0;
        }
        got.clone()
    }

    /// Waits until the counter `name` sums to at least `n`.
    fn wait_count(&self, name: &str, n: f64) -> Vec<Metric> {
        self.wait(&format!("{name} >= {n}"), |m| sum(m, name) >= n)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sum(metrics: &[Metric], name: &str) -> f64 {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .sum()
}

fn values(metrics: &[Metric], name: &str) -> Vec<f64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .collect()
}

/// Requests: 3 × 200, 2 × 404, one 200 that sleeps 300 ms. Each succeeds.
fn some_requests(server: &Server) {
    for path in ["/", "/", "/nope", "/", "/missing", "/sleep?s=0.3"] {
        let want = if path.starts_with("/n") || path.starts_with("/m") {
            404
        } else {
            200
        };
        assert_eq!(server.fetch(path).status, want, "{path}");
    }
}

/// What `some_requests` must have produced: Gunicorn's names, types and values.
fn check_request_metrics(rx: &Receiver, prefix: &str) {
    let name = |n: &str| format!("{prefix}gunicorn.{n}");
    let got = rx.wait_count(&name("requests"), 6.0);
    // The counters settle as their datagrams arrive, the total first.
    let got = if sum(&got, &name("request.status.200")) < 4.0 {
        rx.wait_count(&name("request.status.200"), 4.0)
    } else {
        got
    };
    assert_eq!(sum(&got, &name("requests")), 6.0, "{got:#?}");
    assert_eq!(sum(&got, &name("request.status.200")), 4.0, "{got:#?}");
    assert_eq!(sum(&got, &name("request.status.404")), 2.0, "{got:#?}");
    for m in got.iter().filter(|m| m.name.contains(".request")) {
        if m.name.ends_with(".duration") {
            assert_eq!((m.kind.as_str(), m.rate), ("ms", None), "{m:?}");
        } else {
            assert_eq!(
                (m.kind.as_str(), m.rate, m.value),
                ("c", Some(1.0), 1.0),
                "{m:?}"
            );
        }
    }
    let durations = values(&got, &name("request.duration"));
    assert_eq!(durations.len(), 6, "one duration per request: {got:#?}");
    let slow: Vec<f64> = durations.iter().copied().filter(|&d| d >= 300.0).collect();
    assert_eq!(
        slow.len(),
        1,
        "only /sleep?s=0.3 took 300 ms: {durations:?}"
    );
    assert!(slow[0] < 3000.0, "a 300 ms request measured {} ms", slow[0]);
    assert!(
        durations.iter().all(|&d| d > 0.0),
        "durations in ms: {durations:?}"
    );
}

#[test]
fn sync_sends_request_metrics_with_prefix_and_tags() {
    let (rx, address) = Receiver::udp();
    let server = Server::hello(
        &[
            "--statsd-host",
            &address,
            "--statsd-prefix",
            "web..",
            "--dogstatsd-tags",
            "env:test,team:web",
        ],
        2,
    );
    some_requests(&server);
    check_request_metrics(&rx, "web.");
    let gauge = rx.wait("workers gauge", |m| {
        !values(m, "web.gunicorn.workers").is_empty()
    });
    assert_eq!(values(&gauge, "web.gunicorn.workers"), vec![2.0]);
    for m in rx.all() {
        assert!(m.name.starts_with("web.gunicorn."), "{m:?}");
        assert_eq!(m.tags, vec!["env:test", "team:web"], "{m:?}");
    }
}

#[test]
fn gthread_sends_request_metrics() {
    let (rx, address) = Receiver::udp();
    let server = Server::hello(&["--threads", "4", "--statsd-host", &address], 1);
    some_requests(&server);
    check_request_metrics(&rx, "");
    assert!(rx.all().iter().all(|m| m.tags.is_empty()));
}

#[test]
fn asgi_sends_request_metrics() {
    let (rx, address) = Receiver::udp();
    let server = Server::app(
        "asgi_hello:app",
        &["-k", "asgi", "--statsd-host", &address],
        1,
    );
    some_requests(&server);
    check_request_metrics(&rx, "");
}

#[test]
fn workers_gauge_follows_ttin_and_ttou() {
    let (rx, address) = Receiver::udp();
    let server = Server::hello(&["--statsd-host", &address], 2);
    let gauge = |m: &[Metric]| values(m, "gunicorn.workers");
    rx.wait("gauge 2", |m| gauge(m) == [2.0]);
    server.signal(Signal::SIGTTIN);
    rx.wait("gauge 3", |m| gauge(m) == [2.0, 3.0]);
    server.wait_live_workers(3);
    server.signal(Signal::SIGTTOU);
    let got = rx.wait("gauge 2 again", |m| gauge(m) == [2.0, 3.0, 2.0]);
    assert!(got
        .iter()
        .filter(|m| m.name == "gunicorn.workers")
        .all(|m| m.kind == "g"));
}

#[test]
fn log_lines_are_counted_by_level() {
    let (rx, address) = Receiver::udp();
    let server = Server::hello(&["--statsd-host", &address], 1);
    // An app exception: Gunicorn's `log.exception("Error handling request ...")`.
    assert_eq!(server.fetch("/fault/raise").status, 500);
    // A malformed request: WARNING `Invalid request from ip=...`.
    let raw = server.http(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
    assert!(
        raw.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    // A worker killed: the master's ERROR `Worker (pid:N) was sent SIGKILL!`.
    let pid = *server.worker_pids().iter().next().expect("a worker");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    server.wait_for("was sent SIGKILL", WAIT);
    let got = rx.wait("log counters", |m| {
        ["exception", "warning", "error"]
            .iter()
            .all(|l| sum(m, &format!("gunicorn.log.{l}")) >= 1.0)
    });
    for level in ["exception", "warning", "error"] {
        let name = format!("gunicorn.log.{level}");
        let lines: Vec<&Metric> = got.iter().filter(|m| m.name == name).collect();
        assert_eq!(lines.len(), 1, "{name}: {got:#?}");
        assert_eq!((lines[0].kind.as_str(), lines[0].rate), ("c", Some(1.0)));
    }
    assert_eq!(sum(&got, "gunicorn.request.status.500"), 1.0, "{got:#?}");
    assert_eq!(sum(&got, "gunicorn.log.critical"), 0.0, "{got:#?}");
}

#[test]
fn backlog_metric_counts_waiting_connections() {
    let (rx, address) = Receiver::udp();
    let args = ["--statsd-host", &address, "--enable-backlog-metric"];
    let server = Server::hello(&args, 1);
    let first = rx.wait("a backlog sample", |m| {
        !values(m, "gunicorn.backlog").is_empty()
    });
    let sample = first.iter().find(|m| m.name == "gunicorn.backlog").unwrap();
    assert_eq!((sample.kind.as_str(), sample.value), ("h", 0.0));
    // The one sync worker sleeps in the app; three connections wait in the accept queue.
    let port = server.port();
    let busy = std::thread::spawn(move || support::try_get(port, "/sleep?s=4"));
    server.wait_marker_prefix("sleeping-");
    let waiting: Vec<_> = (0..3).map(|_| server.connect()).collect();
    let got = rx.wait("a backlog of 3", |m| {
        values(m, "gunicorn.backlog").contains(&3.0)
    });
    assert!(values(&got, "gunicorn.backlog").iter().all(|&v| v <= 3.0));
    drop(waiting);
    assert_eq!(busy.join().unwrap().map(|r| r.status), Some(200));
}

#[test]
fn unix_socket_receiver_gone_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statsd.sock");
    let rx = Receiver::unix(&path);
    let host = format!("unix://{}", path.display());
    let server = Server::hello(&["--statsd-host", &host], 1);
    some_requests(&server);
    check_request_metrics(&rx, "");
    // The receiver goes away and its socket file with it: requests do not notice.
    drop(rx);
    std::fs::remove_file(&path).unwrap();
    for _ in 0..50 {
        assert_eq!(server.fetch("/").status, 200);
    }
    // A new receiver at the same path gets the next requests' metrics.
    let rx = Receiver::unix(&path);
    assert_eq!(server.fetch("/").status, 200);
    rx.wait_count("gunicorn.requests", 1.0);
}

/// A Unix receiver that never reads: its queue (`net.unix.max_dgram_qlen`, 10 here) fills
/// after a few requests, and a blocking send would then hang the worker.
#[test]
fn receiver_that_never_reads_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deaf.sock");
    let _deaf = UnixDatagram::bind(&path).unwrap();
    let host = format!("unix:{}", path.display());
    let server = Server::hello(&["--threads", "2", "--statsd-host", &host], 1);
    let workers = server.worker_pids();
    let start = Instant::now();
    for _ in 0..200 {
        assert_eq!(server.fetch("/").status, 200);
    }
    assert!(start.elapsed() < WAIT, "200 took {:?}", start.elapsed());
    assert_eq!(server.worker_pids(), workers);
}

#[test]
fn udp_receiver_gone_costs_nothing() {
    let (rx, address) = Receiver::udp();
    let server = Server::hello(&["--statsd-host", &address], 1);
    assert_eq!(server.fetch("/").status, 200);
    rx.wait_count("gunicorn.requests", 1.0);
    let workers = server.worker_pids();
    drop(rx); // the port is closed: each send now earns an ICMP port unreachable
    for _ in 0..200 {
        assert_eq!(server.fetch("/").status, 200);
    }
    // Nothing failed behind the responses either: the same worker, no error logged.
    assert_eq!(server.worker_pids(), workers);
    let log = server.log();
    assert!(!log.contains("ERROR") && !log.contains("WARNING"), "{log}");
}

#[test]
fn bad_statsd_values_are_one_config_error() {
    let apps = support::apps();
    for (flag, value, setting) in [
        ("--statsd-host", "localhost:notaport", "statsd_host"),
        ("--statsd-host", "fd://3", "statsd_host"),
        ("--statsd-prefix", "web|x", "statsd_prefix"),
        ("--dogstatsd-tags", "a:b|c", "dogstatsd_tags"),
    ] {
        let mut args = vec!["-b", "127.0.0.1:0", "--chdir", &apps];
        if flag != "--statsd-host" {
            args.extend(["--statsd-host", "127.0.0.1:8125"]);
        }
        args.extend([flag, value, "hello:app"]);
        let (status, _, stderr) = run(Opts::new(&args));
        assert_eq!(status.code(), Some(1), "{flag} {value}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line for {flag} {value}:\n{stderr}");
        assert!(lines[0].starts_with("Error: Invalid value for"), "{stderr}");
        assert!(
            lines[0].contains(setting) && lines[0].contains(value),
            "{stderr}"
        );
    }
}
