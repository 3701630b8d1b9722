//! USR2 binary upgrade: under load with the binary replaced on disk, the pidfile and the
//! Unix socket handed over; and the harness's guard that no new master outlives its test.

use super::*;
use nix::sys::signal::Signal;
use std::collections::BTreeSet;

pub(crate) fn usr2_upgrades_to_the_replaced_binary_without_failing_a_request(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("gunicorn-rs");
    std::fs::copy(bin(), &exe).unwrap();
    let (sock, pidfile) = (dir.path().join("app.sock"), dir.path().join("app.pid"));
    let pidfile2 = dir.path().join("app.pid.2");
    let unix = format!("unix:{}", sock.display());
    let (apps, pid_arg) = (apps(), pidfile.to_string_lossy().into_owned());
    let args = [
        "-b",
        "127.0.0.1:0",
        "-b",
        &unix,
        "-w",
        "2",
        "--chdir",
        &apps,
        "-p",
        &pid_arg,
        "-k",
        kind,
    ];
    let mut args = args.to_vec();
    args.push("hello:app");
    let opts = Opts::new(&args).program(&[&exe.to_string_lossy()]);
    let opts = match kind {
        "gevent" | "eventlet" => opts.with_venv(),
        _ => opts,
    };
    let mut old = Server::start_with(opts);
    let old_workers = old.wait_workers(2);
    let old_pid = old.pid();
    assert_eq!(read_pidfile(&pidfile), Some(old_pid));
    let load = Load::start(old.port(), "/pid", 3);
    load.wait_successes(10);

    // A new release replaces the file at argv[0]; the running master's inode is now deleted.
    let staged = dir.path().join("gunicorn-rs.new");
    std::fs::copy(bin(), &staged).unwrap();
    std::fs::rename(&staged, &exe).unwrap();
    old.signal(Signal::SIGUSR2);
    let new_pid = nth_master(&old, 1);
    let _stray = Stray(new_pid);
    assert!(
        children(old_pid).contains(&new_pid),
        "the new master is the old one's child"
    );
    poll(WAIT, "<pidfile>.2", || {
        (read_pidfile(&pidfile2) == Some(new_pid)).then_some(())
    });
    assert_eq!(read_pidfile(&pidfile), Some(old_pid));
    let running = std::fs::read_link(format!("/proc/{new_pid}/exe")).unwrap();
    assert_eq!(
        running, exe,
        "the new master runs the new file, not /proc/self/exe"
    );
    assert!(cmdline(new_pid).unwrap().contains("master [hello:app.2]"));
    poll(WAIT, "the new master's 2 workers", || {
        (children(new_pid).len() == 2).then_some(())
    });
    load.wait_successes(10);

    let mark = old.mark();
    old.signal(Signal::SIGUSR2);
    old.wait_for_from(mark, "USR2 signal ignored. Child exists.", WAIT);
    signal(new_pid, Signal::SIGUSR2);
    old.wait_for_from(mark, "USR2 signal ignored. Parent exists.", WAIT);

    old.signal(Signal::SIGTERM);
    poll(WAIT, "the old master to exit", || {
        (!old.is_running()).then_some(())
    });
    old.wait_for_from(mark, "Master has been promoted.", WAIT);
    poll(WAIT, "the pidfile renamed", || {
        (read_pidfile(&pidfile) == Some(new_pid)).then_some(())
    });
    assert!(!pidfile2.exists());
    poll(WAIT, "the title without .2", || {
        cmdline(new_pid).filter(|c| c.contains("master [hello:app]"))
    });
    load.wait_successes(10);
    let (ok, failed, bodies) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok + failed.len()
    );
    eprintln!(
        "USR2 + TERM old under load: {ok} requests, {} failed",
        failed.len()
    );
    let served: BTreeSet<u32> = bodies.iter().filter_map(|b| b.parse().ok()).collect();
    let new_workers = children(new_pid);
    assert!(!served.is_disjoint(&old_workers) && !served.is_disjoint(&new_workers));

    // The old master's stop neither unlinked the Unix socket nor shut the listeners down.
    let raw = http_unix(&sock, b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    let body = parse_one(&raw, false).text();
    assert!(new_workers.contains(&body.parse().unwrap()), "{body}");
    signal(new_pid, Signal::SIGTERM);
    wait_gone(new_pid);
    assert!(
        !pidfile.exists() && !sock.exists(),
        "the last master cleans up"
    );
}

/// The harness's guard: a test that fails between a USR2 and its clean-up leaves no master
/// behind. Dropping the old master's `Server` takes the new master (its child, in its process
/// group) and the new master's workers with it.
#[test]
fn dropping_a_server_stops_the_usr2_child_and_its_workers() {
    let server = Server::hello(&[], 1);
    server.signal(Signal::SIGUSR2);
    let new_pid = nth_master(&server, 1);
    let new_workers = poll(WAIT, "the new master's worker", || {
        let pids = children(new_pid);
        (pids.len() == 1).then_some(pids)
    });
    drop(server);
    for pid in new_workers.into_iter().chain([new_pid]) {
        wait_gone(pid);
    }
}
