//! `--statsd-host` (issue 11): Gunicorn's statsd metrics, read by a real datagram receiver in
//! the test (UDP on 127.0.0.1 port 0, or a Unix datagram socket) that parses the statsd and
//! dogstatsd line format strictly: per-request metrics from the sync, gthread and asgi kinds,
//! the workers gauge through TTIN/TTOU, log-level counters, the backlog, prefix and tags — and a
//! receiver that is gone or never reads costs the requests nothing.

use crate::statsd_rx::{sum, values, Metric, Receiver};
use crate::support::{self, run, Opts, Server, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::net::UnixDatagram;
use std::time::Instant;

/// Requests: 3 × 200, 2 × 404, one 200 that sleeps 300 ms. Each succeeds.
fn some_requests(server: &Server) {
    some_requests_then(server, |_| {});
}

/// `some_requests`, calling `after(n)` once the `n`th is answered.
fn some_requests_then(server: &Server, after: impl Fn(usize)) {
    for (i, path) in ["/", "/", "/nope", "/", "/missing", "/sleep?s=0.3"]
        .into_iter()
        .enumerate()
    {
        let want = if path.starts_with("/n") || path.starts_with("/m") {
            404
        } else {
            200
        };
        assert_eq!(server.fetch(path).status, want, "{path}");
        after(i + 1);
    }
}

/// What `some_requests` must have produced: Gunicorn's names, types and values.
fn check_request_metrics(rx: &Receiver, prefix: &str) {
    let name = |n: &str| format!("{prefix}gunicorn.{n}");
    // A worker sends after its response is out, so the last datagrams may trail the client:
    // wait for every one, then check that there are no more than that.
    let got = rx.wait("the six requests' metrics", |m| {
        sum(m, &name("requests")) >= 6.0
            && sum(m, &name("request.status.200")) >= 4.0
            && sum(m, &name("request.status.404")) >= 2.0
            && values(m, &name("request.duration")).len() >= 6
    });
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

/// The kinds whose apps need the test virtualenv (gevent, eventlet, tornado), each with its
/// version of hello.py's routes.
fn kind_sends_request_metrics(kind: &str, app: &str) {
    let (rx, address) = Receiver::udp();
    let args = ["-k", kind, "--statsd-host", &address];
    let server = Server::app_with(app, &args, 1, Opts::default().with_venv());
    some_requests(&server);
    check_request_metrics(&rx, "");
}

#[test]
fn asgi_sends_request_metrics() {
    kind_sends_request_metrics("asgi", "asgi_hello:app");
}

#[test]
fn tornado_sends_request_metrics() {
    kind_sends_request_metrics("tornado", "tornado_hello:app");
}

#[test]
fn gevent_sends_request_metrics() {
    kind_sends_request_metrics("gevent", "hello:app");
}

#[test]
fn eventlet_sends_request_metrics() {
    kind_sends_request_metrics("eventlet", "hello:app");
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
        sum(m, "gunicorn.request.status.500") >= 1.0
            && ["exception", "warning", "error"]
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
    // Each request's datagrams received before the next is sent: a Unix datagram queue holds
    // 10 (`net.unix.max_dgram_qlen`), the server drops what does not fit rather than wait
    // (`receiver_that_never_reads_costs_nothing`), and on a loaded machine the receiver's
    // thread can be off the CPU for the whole burst of six requests' 18 datagrams.
    some_requests_then(&server, |n| {
        rx.wait_count("gunicorn.requests", n as f64);
    });
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

/// HUP re-reads the config file: the workers it starts send to the new host, with the new
/// prefix; a host that no longer resolves keeps the running statsd.
#[test]
fn hup_moves_statsd_to_the_new_settings() {
    let (old, old_address) = Receiver::udp();
    let (new, new_address) = Receiver::udp();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.py");
    std::fs::write(&conf, format!("statsd_host = {old_address:?}\n")).unwrap();
    let conf_arg = conf.to_string_lossy().into_owned();
    let server = Server::hello(&["-c", &conf_arg], 1);
    assert_eq!(server.fetch("/").status, 200);
    old.wait_count("gunicorn.requests", 1.0);
    let text = format!("statsd_host = {new_address:?}\nstatsd_prefix = 'after'\n");
    std::fs::write(&conf, text).unwrap();
    let mark = server.mark();
    server.signal(Signal::SIGHUP);
    server.wait_for_from(mark, "Booting worker with pid: ", WAIT);
    poll_requests(&server, &new, "after.gunicorn.requests");
    // The old host heard only from the old workers, in the old names.
    assert!(old.all().iter().all(|m| m.name.starts_with("gunicorn.")));
    // A name that does not resolve: logged, and the running statsd stays.
    std::fs::write(&conf, "statsd_host = 'no-such-host.invalid:8125'\n").unwrap();
    let mark = server.mark();
    server.signal(Signal::SIGHUP);
    server.wait_for_from(mark, "statsd settings not reloaded", WAIT);
    server.wait_for_from(mark, "Booting worker with pid: ", WAIT);
    let before = sum(&new.all(), "after.gunicorn.requests");
    poll_requests(&server, &new, "after.gunicorn.requests");
    assert!(sum(&new.all(), "after.gunicorn.requests") > before);
}

/// Requests until `name` arrives at `rx`: right after a HUP an old worker may still answer
/// (its metrics go where they went before), until it has retired.
fn poll_requests(server: &Server, rx: &Receiver, name: &str) {
    let before = sum(&rx.all(), name);
    support::poll(WAIT, name, || {
        assert_eq!(server.fetch("/").status, 200);
        rx.wait_up_to(std::time::Duration::from_millis(200), |m| {
            sum(m, name) > before
        })
    });
}

/// Workers that switch to another user (`-u nobody`) still reach a Unix receiver only root may
/// open: the socket is connected by the master before the fork, as Gunicorn's is.
#[test]
fn unix_receiver_reached_after_the_user_switch() {
    if support::skip_unless_root("statsd::unix_receiver_reached_after_the_user_switch") {
        return;
    }
    let dir = tempfile::tempdir().unwrap(); // 0700, root's
    let path = dir.path().join("statsd.sock");
    let rx = Receiver::unix(&path);
    let host = format!("unix:{}", path.display());
    // --preload and no marker files: as in tests/lifecycle.rs, nobody may not read root's files.
    let opts = Opts::default().env("TEST_MARKER_DIR", "");
    let extra = [
        "-u",
        "nobody",
        "-g",
        "nogroup",
        "--preload",
        "--statsd-host",
        &host,
    ];
    let server = Server::app_with("lifecycle_app:app", &extra, 1, opts);
    assert_eq!(server.fetch("/whoami").text(), "65534 65534 65534");
    rx.wait_count("gunicorn.requests", 1.0);
}

/// A Unix receiver that is not there when the server starts gets the metrics once it is.
#[test]
fn unix_receiver_that_starts_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.sock");
    let host = format!("unix://{}", path.display());
    let server = Server::hello(&["--statsd-host", &host], 1);
    assert_eq!(server.fetch("/").status, 200);
    let rx = Receiver::unix(&path);
    assert_eq!(server.fetch("/nope").status, 404);
    rx.wait_count("gunicorn.request.status.404", 1.0);
}
