//! Many connections on one gthread worker: 10,000 open connections (half kept alive after a
//! request, half connected and silent) cost a worker no thread and leave it prompt for a new
//! client; the worker raises its own open-file soft limit for `--worker-connections`, and says
//! so clearly when the hard limit is too low.

use crate::support::*;
use std::time::{Duration, Instant};

/// The soft "Max open files" of a process, from /proc/PID/limits.
pub(crate) fn nofile_soft(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn ten_thousand_connections_on_one_worker() {
    let own = raise_own_nofile_limit();
    assert!(
        own >= 10_200,
        "this test needs 10,000 client sockets; hard limit {own}"
    );
    // The server starts with a soft limit of 1024: the worker must raise its own.
    let launcher = Opts::default().program(&["prlimit", "--nofile=1024:20000", bin()]);
    let args = [
        "-k",
        "gthread",
        "--threads",
        "2",
        "--worker-connections",
        "10050",
        "--keep-alive",
        "120",
        "--header-timeout",
        "120",
    ];
    let server = Server::app_with("hello:app", &args, 1, launcher);
    let port = server.port();
    let worker = *server.worker_pids().first().unwrap();
    assert_eq!(
        nofile_soft(server.pid()),
        Some(1024),
        "the launcher's limit"
    );
    // The worker raises it once its app is loaded, after the boot line.
    poll(WAIT, "the worker to raise its open-file soft limit", || {
        (nofile_soft(worker).unwrap_or(0) >= 10_050).then_some(())
    });
    let base = idle_worker_sockets(&server)[&worker];

    let t = Instant::now();
    // 5,000 real kept-alive connections: every request is sent, then every response read.
    let mut kept: Vec<Client> = (0..5000).map(|_| Client::connect(port)).collect();
    for c in &mut kept {
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for c in &mut kept {
        let r = c.response();
        assert_eq!(r.header("Connection"), Some("keep-alive"), "{r:?}");
    }
    // 5,000 more that connect and say nothing.
    let quiet: Vec<Client> = (0..5000).map(|_| Client::connect(port)).collect();
    poll(WAIT, "the worker to hold 10,000 client sockets", || {
        (socket_count(worker) >= base + 10_000).then_some(())
    });
    let opened = t.elapsed();

    let t = Instant::now();
    let r = server.fetch("/pid");
    let took = t.elapsed();
    assert_eq!(r.text(), worker.to_string());
    let rss = proc_status_kb(worker, "VmRSS").unwrap_or(0);
    eprintln!(
        "10,000 connections opened in {opened:?}; a new request took {took:?}; worker RSS \
         {rss} KiB"
    );
    assert!(took < Duration::from_secs(2), "a new request took {took:?}");
    // The oldest kept-alive connection and the newest silent one still work.
    assert_eq!(kept[0].get("/").status, 200);
    let mut last = quiet.into_iter().last().unwrap();
    assert_eq!(last.get("/").status, 200);
}

#[test]
fn too_low_an_open_file_limit_is_a_clear_warning() {
    let launcher = Opts::default().program(&["prlimit", "--nofile=256:256", bin()]);
    let server = Server::app_with(
        "hello:app",
        &[
            "-k",
            "gthread",
            "--threads",
            "2",
            "--worker-connections",
            "1000",
        ],
        1,
        launcher,
    );
    let line = server.wait_for("open-file limit", WAIT);
    assert!(line.contains("[WARNING]"), "{line}");
    assert!(line.contains("256"), "names the hard limit: {line}");
    assert!(
        line.contains("--worker-connections 1000"),
        "names the setting: {line}"
    );
    assert_eq!(server.fetch("/").status, 200, "and serves anyway");
}
