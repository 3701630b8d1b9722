//! Process management: USR2 binary upgrade (under load, with a replaced binary, a Unix socket,
//! and under systemd), the pidfile, `--daemon`, WINCH, `--user`/`--group`, systemd socket
//! activation and `Type=notify` (driving the example unit in assets/), `--max-worker-memory`.
//! Masters started by a USR2 or a daemonizing launcher are not the test's children: `Stray`
//! kills them if a test fails.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).expect("signal a master");
}

fn wait_gone(pid: u32) {
    poll(WAIT, &format!("process {pid} to exit"), || {
        (!is_alive(pid)).then_some(())
    });
}

/// The pid at the end of a `Listening at: … (PID)` line.
fn pid_in(line: &str) -> u32 {
    let inner = line.rsplit_once('(').and_then(|(_, p)| p.strip_suffix(')'));
    inner
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The n-th `Listening at:` line's master pid (0 is the first master).
fn nth_master(server: &Server, n: usize) -> u32 {
    pid_in(&server.wait_count("Listening at: ", n + 1, WAIT)[n])
}

/// A `NOTIFY_SOCKET` as systemd provides it, read with a bounded wait.
struct NotifySocket {
    socket: UnixDatagram,
    address: String,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        NotifySocket {
            socket,
            address: path.to_string_lossy().into_owned(),
            seen: Vec::new(),
            _dir: dir,
        }
    }

    /// `@name`: the abstract namespace.
    fn bind_abstract() -> NotifySocket {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "gunicorn-rs-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        NotifySocket {
            socket,
            address: format!("@{name}"),
            seen: Vec::new(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Reads datagrams until one contains `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let mut buf = [0u8; 4096];
        loop {
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!(
                    "no sd_notify message with {needle:?} ({e}); got {:?}",
                    self.seen
                ),
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(message.clone());
            if message.contains(needle) {
                return message;
            }
        }
    }
}

/// `python tests/apps/sd_launch.py BIN`: the server started with a listening socket on fd 3,
/// `LISTEN_FDS=1` and `LISTEN_PID` set, as systemd's socket activation does.
fn socket_activated(args: &[&str], notify: &str) -> Server {
    let python = venv().join("bin").join("python");
    let launcher = apps_dir().join("sd_launch.py");
    let opts = Opts::new(args)
        .program(&[
            &python.to_string_lossy(),
            &launcher.to_string_lossy(),
            bin(),
        ])
        .env("NOTIFY_SOCKET", notify);
    Server::start_with(opts)
}

/// USR2 under every worker kind: `lifecycle::usr2::<kind>`.
mod usr2 {
    #[test]
    fn sync() {
        super::usr2_upgrades_to_the_replaced_binary_without_failing_a_request("sync")
    }
    #[test]
    fn gthread() {
        super::usr2_upgrades_to_the_replaced_binary_without_failing_a_request("gthread")
    }
    #[test]
    fn gevent() {
        super::usr2_upgrades_to_the_replaced_binary_without_failing_a_request("gevent")
    }
    #[test]
    fn eventlet() {
        super::usr2_upgrades_to_the_replaced_binary_without_failing_a_request("eventlet")
    }
}

fn usr2_upgrades_to_the_replaced_binary_without_failing_a_request(kind: &str) {
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

#[test]
fn systemd_unit_socket_activation_and_notify() {
    let unit = std::fs::read_to_string(repo().join("assets/gunicorn-rs.service")).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=all",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "KillMode=mixed",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has {line}");
    }
    let socket_unit = std::fs::read_to_string(repo().join("assets/gunicorn-rs.socket")).unwrap();
    assert!(socket_unit.contains("ListenStream="));
    // ExecStart's options as the unit gives them, with this test's binary, app and directory.
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let words: Vec<&str> = exec_start.split_whitespace().collect();
    let apps = apps();
    let mut args: Vec<&str> = words[1..words.len() - 1].to_vec();
    args.extend(["--chdir", &apps, "hello:app"]);

    let mut notify = NotifySocket::bind();
    let mut server = socket_activated(&args, &notify.address);
    let ready = notify.wait_for("READY=1");
    assert!(ready.contains("STATUS=2 of 2 workers booted"), "{ready}");
    assert!(server
        .stderr
        .count("Booting worker with pid: ", 2, WAIT)
        .is_some());
    assert!(server.log().contains("Listening at: http://127.0.0.1:"));
    assert_eq!(
        server.get("/").status,
        200,
        "serves on the socket systemd passed"
    );

    server.signal(Signal::SIGHUP); // ExecReload
    let reloading = notify.wait_for("RELOADING=1");
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="));
    assert!(
        usec.is_some_and(|u| u.parse::<u64>().is_ok()),
        "{reloading}"
    );
    notify.wait_for("READY=1");
    server.signal(Signal::SIGTTIN);
    notify.wait_for("STATUS=3 of 3 workers booted");
    server.signal(Signal::SIGTERM); // KillMode=mixed: TERM to the main process only
    notify.wait_for("STOPPING=1");
    assert_eq!(server.wait_exit(WAIT).code(), Some(0));
    let order: Vec<&str> = notify
        .seen
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| ["READY=1", "RELOADING=1", "STOPPING=1"].contains(l))
        })
        .collect();
    assert_eq!(order, ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
}

#[test]
fn usr2_under_systemd_hands_over_listen_fds_and_mainpid() {
    let mut notify = NotifySocket::bind_abstract();
    let apps = apps();
    let mut old = socket_activated(&["-w", "1", "--chdir", &apps, "hello:app"], &notify.address);
    notify.wait_for("READY=1");
    let port = old.port();
    old.signal(Signal::SIGUSR2);
    let new_pid = nth_master(&old, 1);
    let _stray = Stray(new_pid);
    // The new master adopted fd 3 through LISTEN_FDS/LISTEN_PID: same port, no bind.
    let second = old.wait_count("Listening at: ", 2, WAIT)[1].clone();
    assert!(
        second.contains(&format!("http://127.0.0.1:{port} ")),
        "{second}"
    );
    let ready = notify.wait_for(&format!("MAINPID={new_pid}"));
    assert!(
        ready.contains("READY=1"),
        "the new master takes over once it serves: {ready}"
    );
    old.signal(Signal::SIGTERM);
    poll(WAIT, "the old master to exit", || {
        (!old.is_running()).then_some(())
    });
    old.wait_for("Master has been promoted.", WAIT);
    notify.wait_for(&format!("MAINPID={new_pid}"));
    assert!(
        !notify.seen.iter().any(|m| m.contains("STOPPING=1")),
        "the retiring old master does not stop the service: {:?}",
        notify.seen
    );
    assert_eq!(try_get(port, "/").map(|r| r.status), Some(200));
    signal(new_pid, Signal::SIGTERM);
    notify.wait_for("STOPPING=1");
    wait_gone(new_pid);
}

/// (session id, umask) of `pid` from /proc.
fn session_and_umask(pid: u32) -> (u32, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .unwrap();
    (fields[3].parse().unwrap(), umask.trim().to_string())
}

fn fd_target(pid: u32, fd: u32) -> String {
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

fn status_ids(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")));
    line.unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn user_and_group_switch_the_workers_and_own_the_socket() {
    if skip_unless_root("lifecycle::user_and_group_switch_the_workers_and_own_the_socket") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock: PathBuf = dir.path().join("app.sock");
    let unix = format!("unix:{}", sock.display());
    // No marker files: the temp dir is root's.
    let opts = Opts::default().env("TEST_MARKER_DIR", "");
    // --preload: root imports the app; the standard library under /root may be unreadable to
    // nobody, so a worker importing it lazily could not boot on this machine.
    let extra = [
        "-u",
        "nobody",
        "-g",
        "nogroup",
        "--initgroups",
        "--preload",
        "-b",
        &unix,
    ];
    let server = Server::app_with("lifecycle_app:app", &extra, 1, opts);
    let worker = *server.worker_pids().first().unwrap();
    assert_eq!(status_ids(worker, "Uid"), "65534");
    assert_eq!(status_ids(worker, "Gid"), "65534");
    assert_eq!(
        status_ids(server.pid(), "Uid"),
        "0",
        "the master keeps its user"
    );
    assert_eq!(server.get("/whoami").text(), "65534 65534 65534");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (65534, 65534),
        "the socket is chowned"
    );
}

#[test]
fn max_worker_memory_recycles_a_leaking_worker_without_failing_a_request() {
    let limit_mib: u64 = 64;
    let limit = limit_mib.to_string();
    let server = Server::app("lifecycle_app:app", &["--max-worker-memory", &limit], 2);
    // 1 MiB leaked per request, at most 50 requests a second: a fast leak, but one the
    // once-a-second sampling can keep up with (unpaced, this machine leaks 600 MiB/s).
    let (mut ok, mut failed, mut max_rss_kib) = (0u64, Vec::new(), 0);
    while ok < 4 * limit_mib
        || server
            .stderr
            .count("recycled: RSS", 3, Duration::ZERO)
            .is_none()
    {
        assert!(
            ok < 2000,
            "no 3 recycles after {ok} MiB leaked:\n{}",
            server.log()
        );
        match try_get(server.port(), "/leak?1024") {
            Some(r) if r.status == 200 => ok += 1,
            other => failed.push(other.map(|r| r.status)),
        }
        for pid in server.worker_pids() {
            max_rss_kib = max_rss_kib.max(proc_status_kb(pid, "VmRSS").unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(20)); // pacing the leak, not waiting for readiness
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        ok
    );
    let line = server.wait_for("recycled: RSS", WAIT);
    assert!(
        line.contains(&format!("MiB over --max-worker-memory {limit_mib} MiB")),
        "{line}"
    );
    let max_rss_mib = max_rss_kib / 1024;
    eprintln!("leaked {ok} MiB; largest worker RSS seen {max_rss_mib} MiB");
    assert!(
        max_rss_mib < 3 * limit_mib,
        "RSS stays bounded: {max_rss_mib} MiB"
    );
    assert_eq!(server.wait_live_workers(2).len(), 2);
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
