//! The master's process model: signals (TERM, INT, TTIN, TTOU, HUP), respawning killed workers,
//! the heartbeat timeout, app-load failure and process titles. Worker counts come from /proc
//! (live children of the master), not from what the server says about itself.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Starts `GET path` on its own thread; returns the response (None if the connection failed).
fn in_flight(port: u16, path: &str) -> std::thread::JoinHandle<(Option<Response>, Instant)> {
    let path = path.to_string();
    std::thread::spawn(move || {
        let resp = try_get(port, &path);
        (resp, Instant::now())
    })
}

#[test]
fn term_is_graceful_and_closes_the_listener_at_once() {
    let mut server = Server::hello(&["--graceful-timeout", "10"], 1);
    let port = server.port();
    let request = in_flight(port, "/sleep?s=2");
    let worker = poll(WAIT, "the /sleep request to reach the app", || {
        server.markers("sleeping-").pop()
    });
    assert!(worker.starts_with("sleeping-"));
    let mark = server.mark();
    server.signal(Signal::SIGTERM);
    server.wait_for_from(mark, "Handling signal: term", WAIT);
    // The listener shuts on TERM: a new client is refused, not left waiting in the backlog.
    let refused_at = poll(
        WAIT,
        "a refused connect after TERM",
        || match TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Some(Instant::now()),
            _ => None,
        },
    );
    let (resp, finished_at) = request.join().unwrap();
    let resp = resp.expect("the in-flight request completes during a graceful stop");
    assert_eq!((resp.status, resp.text().as_str()), (200, "slept 2.0"));
    assert!(
        refused_at < finished_at,
        "connects were refused while the in-flight request was still running"
    );
    let status = server.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", server.log());
    server.wait_for_from(mark, "Worker exiting (pid: ", WAIT);
    server.wait_for_from(mark, "Shutting down: Master", WAIT);
}

#[test]
fn int_is_a_quick_stop() {
    let mut server = Server::hello(&["--graceful-timeout", "15"], 1);
    let request = in_flight(server.port(), "/sleep?s=10");
    poll(WAIT, "the /sleep request to reach the app", || {
        server.markers("sleeping-").pop()
    });
    let workers = server.worker_pids();
    let sent = Instant::now();
    server.signal(Signal::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "INT does not wait for the 10 s request"
    );
    assert!(
        status.code().is_some(),
        "the master exits by itself, status {status:?}"
    );
    server.wait_for("Handling signal: int", WAIT);
    let (resp, _) = request.join().unwrap();
    assert!(
        resp.is_none_or(|r| r.status != 200),
        "the in-flight request was cut short"
    );
    for pid in workers {
        poll(
            Duration::from_secs(5),
            &format!("worker {pid} to be gone"),
            || (!is_alive(pid)).then_some(()),
        );
    }
}

#[test]
fn ttin_and_ttou_change_the_worker_count() {
    let server = Server::hello(&[], 2);
    let before = server.worker_pids();
    server.signal(Signal::SIGTTIN);
    let three = server.wait_live_workers(3);
    assert!(
        before.is_subset(&three),
        "TTIN adds a worker and keeps the others"
    );
    server.wait_count("Booting worker with pid: ", 3, WAIT);
    server.signal(Signal::SIGTTOU);
    let two = server.wait_live_workers(2);
    assert!(
        two.is_subset(&three),
        "TTOU removes one worker, spawns none"
    );
    server.wait_for("Handling signal: ttou", WAIT);
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn hup_replaces_every_worker_without_failing_a_request() {
    let server = Server::hello(&[], 2);
    let old = server.worker_pids();
    let load = Load::start(server.port(), "/pid", 2);
    load.wait_successes(5);
    server.signal(Signal::SIGHUP);
    server.wait_for("Handling signal: hup", WAIT);
    let new = poll(WAIT, "two workers, none of them old", || {
        let now = server.worker_pids();
        (now.len() == 2 && now.is_disjoint(&old)).then_some(now)
    });
    server.wait_count("Booting worker with pid: ", 4, WAIT);
    // Let the load see the new generation before stopping it.
    let port = server.port();
    poll(WAIT, "a response from a new worker", || {
        try_get(port, "/pid")
            .filter(|r| new.contains(&r.text().parse().unwrap_or(0)))
            .map(|_| ())
    });
    let (ok, failed, pids) = load.finish();
    assert!(ok > 0);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during HUP: {:?}",
        failed.len(),
        ok + failed.len(),
        failed
    );
    let served: BTreeSet<u32> = pids.iter().filter_map(|p| p.parse().ok()).collect();
    assert!(
        !served.is_disjoint(&old),
        "the load hit the old workers too: {served:?}"
    );
}

#[test]
fn killed_worker_is_respawned_and_only_its_request_may_fail() {
    let server = Server::hello(&[], 2);
    let load = Load::start(server.port(), "/", 4);
    let kills = 3;
    let mut killed = BTreeSet::new();
    for _ in 0..kills {
        load.wait_successes(5);
        let current = server.wait_live_workers(2);
        let victim = *current.iter().next().unwrap();
        kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();
        killed.insert(victim);
        // Respawned: two live workers again, the victim not among them.
        poll(WAIT, "the killed worker to be replaced", || {
            let now = server.worker_pids();
            (now.len() == 2 && !now.contains(&victim)).then_some(())
        });
    }
    let (ok, failed, _) = load.finish();
    assert!(ok > 0, "no request succeeded");
    assert!(
        failed.len() <= kills,
        "{} failures for {kills} kills: {failed:?}",
        failed.len()
    );
    let now = server.wait_live_workers(2);
    assert!(now.is_disjoint(&killed));
    server.wait_for("was sent SIGKILL", WAIT);
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn stuck_worker_is_killed_after_timeout_and_replaced() {
    let server = Server::hello(&["--timeout", "2"], 1);
    let stuck = *server.worker_pids().iter().next().unwrap();
    let request = in_flight(server.port(), "/sleep?s=30");
    poll(WAIT, "the /sleep request to reach the app", || {
        server.markers("sleeping-").pop()
    });
    let started = Instant::now();
    server.wait_for(&format!("WORKER TIMEOUT (pid:{stuck})"), WAIT);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timeout 2 s, noticed after {:?}",
        started.elapsed()
    );
    let replacement = poll(WAIT, "a replacement worker", || {
        let now = server.worker_pids();
        (now.len() == 1 && !now.contains(&stuck)).then_some(now)
    });
    poll(WAIT, "the stuck worker to be gone", || {
        (!is_alive(stuck)).then_some(())
    });
    let (resp, _) = request.join().unwrap();
    assert!(
        resp.is_none_or(|r| r.text() != "slept 30.0"),
        "the stuck request did not complete"
    );
    let resp = server.get("/pid");
    assert_eq!(resp.status, 200);
    assert!(
        replacement.contains(&resp.text().parse().unwrap()),
        "served by the new worker"
    );
}

#[test]
fn app_that_fails_to_import_stops_the_server_with_code_4() {
    let apps = apps();
    let port = free_port().to_string();
    let bind = format!("127.0.0.1:{port}");
    let mut server = Server::spawn(Opts::new(&[
        "-b",
        &bind,
        "-w",
        "2",
        "--chdir",
        &apps,
        "boot_fail:app",
    ]));
    let started = Instant::now();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(4),
        "Gunicorn's APP_LOAD_ERROR; log:\n{}",
        server.log()
    );
    let log = server.log();
    assert!(log.contains("Reason: App failed to load."), "{log}");
    assert!(log.contains("exited with code 4."), "{log}");
    assert!(
        log.contains("RuntimeError: boot_fail: this app fails at import on purpose"),
        "{log}"
    );
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    let boots = log.matches("Booting worker with pid:").count();
    assert!(
        boots <= 4,
        "the master must not respawn forever: {boots} boots"
    );
    // The master has exited: its children list is empty whatever happened, so look at each
    // worker it booted (a recycled pid is not a gunicorn-rs process).
    let lingering: Vec<u32> = server
        .booted_pids()
        .into_iter()
        .filter(|&p| is_alive(p) && cmdline(p).is_some_and(|c| c.contains("gunicorn-rs")))
        .collect();
    assert!(
        lingering.is_empty(),
        "workers outlived the master: {lingering:?}"
    );
}

#[test]
fn process_titles_name_master_and_workers() {
    let server = Server::hello(&[], 2);
    let master = cmdline(server.master_pid()).unwrap();
    assert!(
        master.starts_with("gunicorn-rs: master [hello:app]"),
        "master title {master:?}"
    );
    for pid in server.worker_pids() {
        let title = cmdline(pid).unwrap();
        assert!(
            title.starts_with("gunicorn-rs: worker [hello:app]"),
            "worker {pid} title {title:?}"
        );
    }
    drop(server);
    let named = Server::hello(&["--name", "shop"], 1);
    let master = cmdline(named.master_pid()).unwrap();
    assert!(
        master.starts_with("gunicorn-rs: master [shop]"),
        "{master:?}"
    );
    let worker = *named.worker_pids().iter().next().unwrap();
    assert!(cmdline(worker)
        .unwrap()
        .starts_with("gunicorn-rs: worker [shop]"));
}
