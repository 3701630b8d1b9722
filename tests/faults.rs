//! Faults the server survives under load (reliability.md §4): repeated HUPs and a leaking app
//! recycled by `--max-requests`. The single-signal cases live in signals.rs and errors.rs.

use crate::support::*;
use nix::sys::signal::Signal;
use std::collections::BTreeSet;

#[test]
fn three_hups_under_load_fail_no_request_and_replace_every_pid() {
    let server = Server::hello(&[], 2);
    let first = server.worker_pids();
    let load = Load::start(server.port(), "/pid", 3);
    let mut seen = first.clone();
    let mut booted = 2;
    for _ in 0..3 {
        load.wait_successes(20);
        let before = server.worker_pids();
        server.signal(Signal::SIGHUP);
        booted += 2;
        server.wait_count("Booting worker with pid: ", booted, WAIT);
        let after = poll(WAIT, "two workers of the new generation only", || {
            let now = server.worker_pids();
            (now.len() == 2 && now.is_disjoint(&before)).then_some(now)
        });
        seen.extend(after);
    }
    load.wait_successes(20);
    let (ok, failed, _) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across 3 HUPs: {:?}",
        failed.len(),
        ok + failed.len(),
        failed
    );
    let last = server.worker_pids();
    assert!(
        last.is_disjoint(&first),
        "every pid replaced: {first:?} → {last:?}"
    );
    assert_eq!(seen.len(), 8, "four generations of two workers: {seen:?}");
}

#[test]
fn a_leaking_app_under_max_requests_stays_bounded_and_fails_nothing() {
    let server = Server::app(
        "leaky:app",
        &["--max-requests", "20", "--max-requests-jitter", "5"],
        2,
    );
    let load = Load::start(server.port(), "/", 2);
    load.wait_successes(200);
    let (ok, failed, pids) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while recycling: {:?}",
        failed.len(),
        ok + failed.len(),
        failed
    );
    let workers: BTreeSet<&String> = pids.iter().collect();
    assert!(
        workers.len() >= 6,
        "200 requests at most 25 per worker need several generations: {workers:?}"
    );
    let recycled = server
        .log()
        .matches("Autorestarting worker after current request.")
        .count();
    assert!(recycled >= 4, "recycles logged: {recycled}");
    // Each worker leaked at most 25 MiB before it was replaced.
    for _ in 0..4 {
        let rss = server.get("/rss").text();
        let kib: u64 = rss
            .split_whitespace()
            .nth(1)
            .and_then(|k| k.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(kib < 80 * 1024, "worker RSS stays bounded: {rss}");
    }
}

#[test]
fn usr1_reopens_log_files_after_a_logrotate_style_rename() {
    let dir = tempfile::tempdir().unwrap();
    let error_log = dir.path().join("error.log");
    let access_log = dir.path().join("access.log");
    let (e, a) = (error_log.to_str().unwrap(), access_log.to_str().unwrap());
    let apps = apps();
    let args = [
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--error-logfile",
        e,
        "--access-logfile",
        a,
        "hello:app",
    ];
    let server = Server::spawn(Opts::new(&args));
    let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap_or_default();
    let listening = poll(WAIT, "Listening at in the error log file", || {
        read(&error_log)
            .lines()
            .find(|l| l.contains("Listening at: "))
            .map(String::from)
    });
    let port: u16 = listening
        .rsplit_once(':')
        .and_then(|(_, p)| p.split(' ').next()?.parse().ok())
        .expect("port");
    let get = |path: &str| try_get(port, path).map(|r| r.status);
    assert_eq!(get("/?before"), Some(200));
    poll(WAIT, "the first access line", || {
        read(&access_log).contains("?before").then_some(())
    });
    // logrotate: rename, then signal; the server must write to new files at the same paths.
    std::fs::rename(&error_log, dir.path().join("error.log.1")).unwrap();
    std::fs::rename(&access_log, dir.path().join("access.log.1")).unwrap();
    server.signal(Signal::SIGUSR1);
    // The worker reopens too: its access line lands in the new file.
    poll(WAIT, "an access line in the new file", || {
        assert_eq!(get("/?after"), Some(200));
        read(&access_log).contains("?after").then_some(())
    });
    // The master's next lines, and a new worker's, go to the new error log.
    server.signal(Signal::SIGTTIN);
    poll(
        WAIT,
        "the master's and a new worker's lines in the new error log",
        || {
            let text = read(&error_log);
            (text.contains("Handling signal: ttin") && text.contains("Booting worker"))
                .then_some(())
        },
    );
    assert!(read(&dir.path().join("access.log.1")).contains("?before"));
    assert!(read(&dir.path().join("error.log.1")).contains("Handling signal: usr1"));
}
