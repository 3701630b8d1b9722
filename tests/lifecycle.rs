//! Process management: USR2 binary upgrade (under load, with a replaced binary, a Unix socket,
//! and under systemd), the pidfile, `--daemon`, WINCH, `--user`/`--group`, systemd socket
//! activation and `Type=notify` (driving the example unit in assets/), `--max-worker-memory`.
//! Masters started by a USR2 or a daemonizing launcher are not the test's children: `Stray`
//! kills them if a test fails. The USR2 upgrade under load is in tests/lifecycle/upgrade.rs,
//! `--daemon`, WINCH and the pidfile in tests/lifecycle/daemon.rs.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod upgrade;
pub(crate) use upgrade::*;
mod daemon;

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
