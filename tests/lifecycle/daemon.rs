//! `--daemon` (Gunicorn's `util.daemonize`: setsid, umask, stdio), WINCH only when daemonized,
//! and a pidfile that names a live process.

use super::*;
use nix::sys::signal::Signal;

/// (session id, umask) of `pid` from /proc.
pub(crate) fn session_and_umask(pid: u32) -> (u32, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .unwrap();
    (fields[3].parse().unwrap(), umask.trim().to_string())
}

pub(crate) fn fd_target(pid: u32, fd: u32) -> String {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
    link.to_string_lossy().into_owned()
}

#[test]
fn daemon_detaches_writes_the_pidfile_and_winch_stops_workers() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("d.pid");
    let (apps, pid_arg) = (apps(), pidfile.to_string_lossy().into_owned());
    // -R keeps stderr (a pipe, not a terminal), so the harness still reads the log.
    let args = [
        "-D",
        "-R",
        "-p",
        &pid_arg,
        "-b",
        "127.0.0.1:0",
        "-w",
        "2",
        "--chdir",
        &apps,
    ];
    let mut args = args.to_vec();
    args.push("hello:app");
    let mut launcher = Server::start_with(Opts::new(&args));
    poll(WAIT, "the launcher to exit", || {
        (!launcher.is_running()).then_some(())
    });
    let daemon = poll(WAIT, "the pidfile", || read_pidfile(&pidfile));
    let _stray = Stray(daemon);
    assert_eq!(pid_in(&launcher.wait_for("Listening at: ", WAIT)), daemon);
    let (session, _) = session_and_umask(daemon);
    assert_ne!(
        session,
        session_and_umask(std::process::id()).0,
        "setsid(2)"
    );
    // The daemon's umask is 0o22; only while it binds its control socket is it briefly
    // tighter (0o177, so the socket is never looser than 0600): wait out that moment.
    poll(WAIT, "the daemon's umask 0022", || {
        (session_and_umask(daemon).1 == "0022").then_some(())
    });
    assert_eq!(fd_target(daemon, 0), "/dev/null");
    assert!(fd_target(daemon, 2).starts_with("pipe:"), "-R keeps stderr");
    poll(WAIT, "2 workers", || {
        (children(daemon).len() == 2).then_some(())
    });
    assert_eq!(launcher.get("/").status, 200);

    signal(daemon, Signal::SIGWINCH);
    launcher.wait_for("graceful stop of workers", WAIT);
    poll(WAIT, "no workers", || {
        children(daemon).is_empty().then_some(())
    });
    assert!(is_alive(daemon), "the master stays up, holding the sockets");
    signal(daemon, Signal::SIGTTIN);
    poll(WAIT, "1 worker", || {
        (children(daemon).len() == 1).then_some(())
    });
    assert_eq!(launcher.get("/").status, 200);
    signal(daemon, Signal::SIGTERM);
    wait_gone(daemon);
    assert!(!pidfile.exists(), "the pidfile is removed on exit");
}

#[test]
fn daemon_without_stdio_inheritance_logs_to_its_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let (pidfile, log) = (dir.path().join("d.pid"), dir.path().join("error.log"));
    let (apps, p, l) = (
        apps(),
        pidfile.to_string_lossy().into_owned(),
        log.to_string_lossy().into_owned(),
    );
    let args = [
        "-D",
        "-p",
        &p,
        "--error-logfile",
        &l,
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "hello:app",
    ];
    let (status, stdout, stderr) = run(Opts::new(&args));
    assert_eq!(status.code(), Some(0));
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    let daemon = poll(WAIT, "the pidfile", || read_pidfile(&pidfile));
    let _stray = Stray(daemon);
    poll(WAIT, "Listening at in the log file", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("Booting worker"))
    });
    for fd in 0..3 {
        assert_eq!(fd_target(daemon, fd), "/dev/null");
    }
    signal(daemon, Signal::SIGTERM);
    wait_gone(daemon);
}

#[test]
fn winch_is_ignored_unless_daemonized() {
    let server = Server::hello(&["--log-level", "debug"], 1);
    let workers = server.worker_pids();
    server.signal(Signal::SIGWINCH);
    server.wait_for("SIGWINCH ignored. Not daemonized", WAIT);
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.worker_pids(), workers);
}

#[test]
fn a_pidfile_naming_a_live_process_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("app.pid");
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
    let p = pidfile.to_string_lossy().into_owned();
    let apps = apps();
    let (status, _, stderr) = run(Opts::new(&[
        "-p",
        &p,
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "hello:app",
    ]));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("Already running on PID {}", std::process::id())),
        "{stderr}"
    );
}
