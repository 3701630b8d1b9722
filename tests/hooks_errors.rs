//! Gunicorn's server hooks when they fail or are given wrongly, and the hooks of a process
//! that is not a running worker: a raising hook is logged and the server carries on, a raising
//! `pre_request` fails only its request, a hook of the wrong arity or a `module.function` that
//! does not load is refused at start, `pre_exec` runs in the USR2 child, `worker_exit` runs
//! after a failed import. The hooks are `tests/apps/hooks_conf.py`'s (see tests/hooks.rs).

use crate::hooks::{hooked, pid_of, HookLog};
use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

#[test]
fn a_raising_hook_is_logged_and_the_server_keeps_serving() {
    let raise = "when_ready,pre_fork,post_fork,post_worker_init,post_request,child_exit";
    let (server, log) = hooked(&[], 1, &[("HOOKS_RAISE", raise)]);
    log.wait("post_worker_init", 1);
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.get("/").status, 200);
    log.wait("post_request", 2);
    // child_exit runs in the master when a worker ends: end one, then the replacement serves.
    let worker = pid_of(&log.wait("post_worker_init", 1)[0], "pid");
    kill(Pid::from_raw(worker as i32), Signal::SIGTERM).expect("signal the worker");
    log.wait("child_exit", 1);
    log.wait("post_worker_init", 2);
    assert_eq!(server.get("/").status, 200);
    for hook in [
        "when_ready",
        "pre_fork",
        "post_fork",
        "post_worker_init",
        "post_request",
        "child_exit",
    ] {
        server.wait_for(&format!("] [ERROR] Exception in {hook} hook"), WAIT);
        server.wait_for(&format!("RuntimeError: raised by {hook}"), WAIT);
    }
    assert!(server.log().contains("Traceback (most recent call last):"));
}

#[test]
fn a_raising_pre_request_fails_only_that_request() {
    let (server, log) = hooked(&[], 1, &[("HOOKS_RAISE", "pre_request")]);
    log.wait("post_worker_init", 1);
    assert_eq!(server.get("/").status, 500);
    server.wait_for("RuntimeError: raised by pre_request", WAIT);
    // post_request still runs, without a response (as Gunicorn's `finally`).
    let post = &log.wait("post_request", 1)[0];
    assert_eq!(
        (&post["status"], &post["environ_path"]),
        (&Value::Null, &Value::Null)
    );
}

#[test]
fn default_pre_request_logs_method_and_path_at_debug() {
    let server = Server::hello(&["--log-level", "debug"], 1);
    assert_eq!(server.get("/some/path?q=1").status, 404);
    server.wait_for("] [DEBUG] GET /some/path", WAIT);
}

/// The server started with a config file of `text`: it must refuse to start (exit 1); what
/// it said on stderr.
fn refused_config(text: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf.py");
    std::fs::write(&conf, text).expect("write config");
    let (status, _, stderr) = run(Opts::new(&[
        "-c",
        conf.to_str().expect("utf-8"),
        "hello:app",
    ]));
    assert_eq!(status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn wrong_arity_is_refused_at_start() {
    let stderr = refused_config("def post_fork(server):\n    pass\n");
    assert!(
        stderr.contains("Error: Invalid value for post_fork: <function post_fork at 0x")
            && stderr.contains(": Value must have an arity of: 2"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let stderr = refused_config("post_request = 'os.nosuch'\n");
    assert!(
        stderr.contains("Can not load 'nosuch' from 'os'"),
        "{stderr}"
    );
}

#[test]
fn pre_exec_runs_in_the_usr2_child_before_it_execs() {
    let (server, log) = hooked(&[], 1, &[]);
    log.wait("post_worker_init", 1);
    let master = server.master_pid();
    server.signal(Signal::SIGUSR2);
    let pre_exec = &log.wait("pre_exec", 1)[0];
    let child = pid_of(pre_exec, "pid");
    // The new master outlives the old one's Server if a check below fails.
    let _new_master = Stray(child);
    assert_ne!(child, master);
    assert_eq!(pid_of(pre_exec, "server_pid"), master);
    // exec keeps the pid: the new master's own on_starting comes from the same process.
    let new_master = poll(WAIT, "the new master's on_starting", || {
        log.of("on_starting")
            .into_iter()
            .find(|c| pid_of(c, "pid") == child)
    });
    assert_eq!(pid_of(&new_master, "server_pid"), child);
    let _ = kill(Pid::from_raw(child as i32), Signal::SIGTERM);
    poll(WAIT, "the new master to exit", || {
        (!is_alive(child)).then_some(())
    });
}

#[test]
fn worker_exit_runs_after_a_failed_import_too() {
    let log = HookLog::new();
    let conf = apps_dir().join("hooks_conf.py");
    let apps = apps();
    let args = [
        "-b",
        "127.0.0.1:0",
        "-c",
        conf.to_str().unwrap(),
        "--chdir",
        &apps,
        "boot_fail:app",
    ];
    let opts = Opts::new(&args).env("HOOKS_LOG", log.path().to_str().unwrap());
    let mut server = Server::spawn(opts);
    assert_eq!(server.wait_exit(WAIT).code(), Some(4));
    let exit = &log.wait("worker_exit", 1)[0];
    assert_ne!(pid_of(exit, "worker_pid"), server.master_pid());
}
