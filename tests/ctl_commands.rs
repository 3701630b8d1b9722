//! Control-socket commands the README lists, each against a running server: `show config`,
//! `show listeners`, `show all`, `reopen`, `worker kill PID KILL`, `shutdown quick`; `ctl`
//! finding the server by itself, and `attach` asking which one when several run.

use crate::control::{ctl_json, socket_of};
use crate::support::*;

#[test]
fn show_config_listeners_and_all_describe_this_server() {
    let server = Server::hello(&["-w", "2", "--graceful-timeout", "7"], 2);
    let socket = socket_of(&server);
    let config = ctl_json(&socket, &["show", "config"]);
    assert_eq!(config["workers"], 2, "{config}");
    assert_eq!(config["graceful_timeout"], 7, "{config}");
    assert_eq!(config["worker_class"], "sync", "{config}");
    assert_eq!(
        config["control_socket"],
        socket.display().to_string(),
        "{config}"
    );

    let listeners = ctl_json(&socket, &["show", "listeners"]);
    assert_eq!(listeners["count"], 1, "{listeners}");
    assert_eq!(listeners["listeners"][0]["address"], server.listening());
    assert_eq!(listeners["listeners"][0]["type"], "tcp");

    let all = ctl_json(&socket, &["show", "all"]);
    assert_eq!(all["arbiter"]["pid"], server.pid(), "{all}");
    assert_eq!(all["stats"]["binds"][0], server.listening(), "{all}");
    assert_eq!(all["stats"]["total"], 2, "{all}");
}

#[test]
fn reopen_reopens_the_access_log_moved_away() {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access.log");
    let a = access.to_str().unwrap();
    let server = Server::hello(&["--access-logfile", a], 1);
    let socket = socket_of(&server);
    assert_eq!(server.get("/?before").status, 200);
    let moved = dir.path().join("access.log.1");
    poll(WAIT, "the first access line", || {
        let text = std::fs::read_to_string(&access).ok()?;
        text.contains("/?before").then_some(())
    });
    std::fs::rename(&access, &moved).unwrap();
    let reply = ctl_json(&socket, &["reopen"]);
    assert_eq!(reply["status"], "reopening", "{reply}");
    // The worker reopens once the master passed the word on; until then lines go to the old file.
    poll(WAIT, "a line in the reopened file", || {
        assert_eq!(server.get("/?after").status, 200);
        let text = std::fs::read_to_string(&access).ok()?;
        text.contains("/?after").then_some(())
    });
    let old = std::fs::read_to_string(&moved).unwrap();
    assert!(old.contains("/?before"), "{old}");
}

#[test]
fn worker_kill_kill_replaces_the_worker_and_says_it_was_asked() {
    let server = Server::hello(&[], 1);
    let socket = socket_of(&server);
    let old = *server.worker_pids().iter().next().expect("a worker");
    let reply = ctl_json(&socket, &["worker", "kill", &old.to_string(), "KILL"]);
    assert_eq!(reply["success"], true, "{reply}");
    let line = server.wait_for(&format!("Worker (pid:{old}) was"), WAIT);
    assert!(
        line.contains("SIGKILL") && line.contains("on request"),
        "{line}"
    );
    assert!(
        !line.contains("out of memory"),
        "the master sent it: {line}"
    );
    server.wait_count("Booting worker with pid: ", 2, WAIT);
    let now = server.wait_live_workers(1);
    assert!(!now.contains(&old), "{now:?}");
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn shutdown_quick_stops_at_once_even_with_a_request_in_flight() {
    let mut server = Server::hello(&["--graceful-timeout", "30"], 1);
    let socket = socket_of(&server);
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let port = server.port();
    let slow = std::thread::spawn(move || try_get(port, "/sleep?s=30"));
    server.wait_marker(&format!("sleeping-{worker}"));
    let reply = ctl_json(&socket, &["shutdown", "quick"]);
    assert_eq!(reply["mode"], "quick", "{reply}");
    // Quick: INT, not the 30 s graceful wait for the sleeping request.
    let status = server.wait_exit(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", server.log());
    server.wait_for("Handling signal: int", WAIT);
    assert!(!is_alive(worker), "the worker went with the master");
    assert!(slow.join().expect("client").is_none_or(|r| r.status != 200));
}

/// A headless server named `name` whose control socket goes to the default place under
/// `runtime` (`$XDG_RUNTIME_DIR/gunicorn-rs/<name>-<pid>.sock`).
fn discoverable(name: &str, runtime: &std::path::Path) -> Server {
    let opts = Opts::default().env("XDG_RUNTIME_DIR", runtime.to_str().expect("utf-8 path"));
    Server::app_with("hello:app", &["-n", name], 1, opts)
}

/// `gunicorn-rs ctl -j show workers` with no socket, under `runtime`: (exit code, stdout,
/// stderr).
fn ctl_without_socket(runtime: &std::path::Path) -> (i32, String, String) {
    let out = output_of(
        std::process::Command::new(bin())
            .args(["ctl", "-j", "show", "workers"])
            .env("XDG_RUNTIME_DIR", runtime),
    );
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn ctl_finds_the_only_server_by_itself_and_lists_several() {
    let runtime = tempfile::tempdir().unwrap();
    let first = discoverable("first", runtime.path());
    let (code, out, err) = ctl_without_socket(runtime.path());
    assert_eq!(code, 0, "{out}{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let pid = rows["workers"][0]["pid"].as_u64().map(|p| p as u32);
    assert_eq!(pid, first.worker_pids().iter().next().copied(), "{rows}");

    let second = discoverable("second", runtime.path());
    let (code, out, err) = ctl_without_socket(runtime.path());
    assert_ne!(code, 0, "two servers: which one? {out}");
    for server in [&first, &second] {
        let named = format!("pid {}", server.pid());
        assert!(err.contains(&named), "{named} listed: {err}");
    }
}

#[test]
fn attach_asks_which_server_when_several_run() {
    let runtime = tempfile::tempdir().unwrap();
    let _first = discoverable("first", runtime.path());
    let second = discoverable("second", runtime.path());
    let env = format!("XDG_RUNTIME_DIR={}", runtime.path().display());
    let t = crate::tmux::Tmux::run(&["env", &env, bin(), "attach"]);
    let menu = t.wait_text("Attach to which one? [1-2]");
    assert!(
        menu.contains("1) first") && menu.contains("2) second"),
        "{menu}"
    );
    t.keys("2\r");
    let pids = second.worker_pids();
    t.wait(&format!("the second server's rows {pids:?}"), |s| {
        (crate::tmux::row_pids(s) == pids).then_some(())
    });
    t.keys("q");
    t.wait_text("[exit 0]");
}
