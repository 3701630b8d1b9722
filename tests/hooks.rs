//! Gunicorn's server hooks through the real binary: `tests/apps/hooks_conf.py` defines every
//! hook and appends one JSON line per call (hook, pid, attributes) to `$HOOKS_LOG`; the tests
//! check call points, order, arguments and attributes, that a raising hook is logged and the
//! server keeps serving, and that a wrong arity is refused at start.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::PathBuf;

/// The JSON lines the hooks wrote.
pub(crate) struct HookLog {
    dir: tempfile::TempDir,
}

impl HookLog {
    pub(crate) fn new() -> HookLog {
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-rs-hooks-")
            .tempdir()
            .expect("temp dir");
        HookLog { dir }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("hooks.jsonl")
    }

    pub(crate) fn calls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub(crate) fn of(&self, hook: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["hook"] == hook)
            .collect()
    }

    /// Waits until `hook` was called `n` times; returns those calls.
    pub(crate) fn wait(&self, hook: &str, n: usize) -> Vec<Value> {
        poll(WAIT, &format!("{n} calls of {hook}"), || {
            let calls = self.of(hook);
            (calls.len() >= n).then_some(calls)
        })
    }

    /// As [`HookLog::wait`]; on a timeout the panic carries the server's log and the hooks
    /// called so far (a respawn that does not come has its reason there).
    fn wait_or_show(&self, hook: &str, n: usize, server: &Server) -> Vec<Value> {
        let what = || {
            format!(
                "{n} calls of {hook}; hooks: {:?}\n{}",
                self.names(),
                server.log()
            )
        };
        poll_explained(WAIT, what, || {
            let calls = self.of(hook);
            (calls.len() >= n).then_some(calls)
        })
    }

    /// The hook names in call order.
    fn names(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c["hook"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

pub(crate) fn hooked(extra: &[&str], workers: usize, env: &[(&str, &str)]) -> (Server, HookLog) {
    hooked_as("sync", extra, workers, env)
}

/// [`hooked`] under the worker kind `kind` (the greenlet kinds in the test virtualenv).
fn hooked_as(
    kind: &str,
    extra: &[&str],
    workers: usize,
    env: &[(&str, &str)],
) -> (Server, HookLog) {
    let log = HookLog::new();
    let conf = apps_dir().join("hooks_conf.py");
    let mut args = vec!["-c", conf.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-k", kind]);
    let mut opts = match kind {
        "gevent" | "eventlet" => Opts::default().with_venv(),
        _ => Opts::default(),
    };
    opts = opts.env("HOOKS_LOG", log.path().to_str().expect("utf-8 path"));
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    // A `when_ready` hook may change the worker count at once (HOOKS_WORKERS): wait for the
    // count it sets, since the configured one may never be seen alone.
    let live = env
        .iter()
        .find(|(k, _)| *k == "HOOKS_WORKERS")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(workers);
    let apps = apps();
    let w = workers.to_string();
    let mut argv = vec!["-b", "127.0.0.1:0", "-w", &w, "--chdir", &apps];
    argv.extend_from_slice(&args);
    argv.push("hello:app");
    opts.args = argv.iter().map(|s| s.to_string()).collect();
    let server = Server::start_with(opts);
    server.wait_live_workers(live);
    (server, log)
}

/// The worker hooks under every worker kind: `hooks::<kind>::<check>`.
macro_rules! every_kind {
    ($($check:ident),* $(,)?) => {
        mod sync { $( #[test] fn $check() { super::$check("sync") } )* }
        mod gthread { $( #[test] fn $check() { super::$check("gthread") } )* }
        mod gevent { $( #[test] fn $check() { super::$check("gevent") } )* }
        mod eventlet { $( #[test] fn $check() { super::$check("eventlet") } )* }
    };
}

every_kind!(
    worker_hooks_run_in_the_worker_around_requests,
    worker_alive_false_in_post_request_recycles_the_worker,
    worker_int_and_worker_abort_run_in_the_worker,
);

pub(crate) fn pid_of(call: &Value, key: &str) -> u32 {
    call[key].as_u64().expect("a pid") as u32
}

#[test]
fn master_hooks_run_in_order_with_the_server_object() {
    let (mut server, log) = hooked(&["-n", "hooked"], 2, &[]);
    log.wait("post_worker_init", 2);
    let master = server.master_pid();
    let names = log.names();
    assert_eq!(
        names[..4],
        ["nworkers_changed", "on_starting", "when_ready", "pre_fork"],
        "{names:?}"
    );
    let first = &log.of("nworkers_changed")[0];
    assert_eq!(
        (&first["new"], &first["old"]),
        (&Value::from(2), &Value::Null)
    );
    let starting = &log.of("on_starting")[0];
    assert_eq!(pid_of(starting, "pid"), master);
    assert_eq!(pid_of(starting, "server_pid"), master);
    assert_eq!(starting["cfg_workers"], 2);
    assert_eq!(starting["cfg_bind"], serde_json::json!(["127.0.0.1:0"]));
    assert_eq!(starting["proc_name"], "hooked");
    assert_eq!(starting["timeout"], 30);
    assert_eq!(starting["app_cfg_workers"], 2);
    server.wait_for("] [INFO] on_starting says hello to hooked", WAIT);
    let ready = &log.of("when_ready")[0];
    assert_eq!(
        (&ready["num_workers"], &ready["workers"]),
        (&Value::from(2), &serde_json::json!([]))
    );
    // pre_fork in the master with a worker not yet forked; the same object reaches the child.
    let pre_fork = log.of("pre_fork");
    assert_eq!(pre_fork.len(), 2);
    for (call, age) in pre_fork.iter().zip([1, 2]) {
        assert_eq!(pid_of(call, "pid"), master);
        assert_eq!(
            (&call["worker_pid"], &call["age"]),
            (&Value::from("[booting]"), &Value::from(age))
        );
        assert_eq!(call["stash"], "kept");
    }
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_exit(WAIT).code(), Some(0));
    let exits = log.wait("child_exit", 2);
    assert!(exits.iter().all(|c| pid_of(c, "pid") == master));
    let on_exit = log.wait("on_exit", 1);
    assert_eq!(pid_of(&on_exit[0], "server_pid"), master);
    assert_eq!(log.names().last().map(String::as_str), Some("on_exit"));
}

fn worker_hooks_run_in_the_worker_around_requests(kind: &str) {
    let (server, log) = hooked_as(kind, &[], 1, &[]);
    let init = log.wait("post_worker_init", 1);
    let worker = pid_of(&init[0], "pid");
    let master = server.master_pid();
    let post_fork = &log.of("post_fork")[0];
    assert_eq!(pid_of(post_fork, "pid"), worker);
    assert_eq!(pid_of(post_fork, "worker_pid"), worker);
    assert_eq!(
        (pid_of(post_fork, "ppid"), pid_of(post_fork, "server_pid")),
        (master, master)
    );
    assert_eq!(
        (&post_fork["age"], &post_fork["stash"]),
        (&Value::from(1), &Value::from("kept"))
    );
    assert_eq!(post_fork["tmp"], Value::Null);
    server.wait_for(&format!("[{worker}] [WARNING] post_fork in {worker}"), WAIT);
    assert_eq!(
        (&init[0]["wsgi"], &init[0]["app_wsgi"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    assert_eq!(
        (&init[0]["booted"], &init[0]["alive"]),
        (&Value::Bool(false), &Value::Bool(true))
    );

    let resp = server.http(b"GET /pid?a=1 HTTP/1.1\r\nHost: example\r\nX-Custom: v\r\n\r\n");
    assert_eq!(parse_one(&resp, false).status, 200);
    let pre = &log.wait("pre_request", 1)[0];
    assert_eq!(pid_of(pre, "pid"), worker);
    assert_eq!(
        (&pre["method"], &pre["path"], &pre["query"]),
        (
            &Value::from("GET"),
            &Value::from("/pid"),
            &Value::from("a=1")
        )
    );
    assert_eq!(
        (&pre["uri"], &pre["scheme"], &pre["nr"]),
        (
            &Value::from("/pid?a=1"),
            &Value::from("http"),
            &Value::from(0)
        )
    );
    assert_eq!(pre["version"], serde_json::json!([1, 1]));
    // A TCP peer: (host, port), the client's own port, not the server's.
    assert_eq!(pre["peer_addr"][0], "127.0.0.1");
    assert_ne!(pre["peer_addr"][1], serde_json::json!(server.port()));
    assert_eq!(pre["remote_addr"], pre["peer_addr"]);
    assert_eq!(
        pre["headers"],
        serde_json::json!([["HOST", "example"], ["X-CUSTOM", "v"]])
    );
    let post = &log.wait("post_request", 1)[0];
    assert_eq!(
        (&post["environ_path"], &post["environ_method"]),
        (&Value::from("/pid"), &Value::from("GET"))
    );
    assert_eq!(
        (&post["status"], &post["status_code"]),
        (&Value::from("200 OK"), &Value::from(200))
    );
    let body_len = worker.to_string().len() as u64;
    assert_eq!(
        (&post["sent"], &post["response_length"]),
        (&Value::from(body_len), &Value::from(body_len))
    );
    assert_eq!(
        post["headers"][0],
        serde_json::json!(["Content-Type", "text/plain"])
    );
    assert_eq!(post["nr"], 1);

    // The app raises: post_request still runs, with the status the app never set.
    assert_eq!(server.get("/fault/raise").status, 500);
    let post = &log.wait("post_request", 2)[1];
    assert_eq!(
        (&post["path"], &post["status"]),
        (&Value::from("/fault/raise"), &Value::Null)
    );
}

fn worker_alive_false_in_post_request_recycles_the_worker(kind: &str) {
    let (server, log) = hooked_as(kind, &[], 1, &[]);
    let first = pid_of(&log.wait("post_worker_init", 1)[0], "pid");
    assert_eq!(server.get("/retire").status, 404);
    let exit = &log.wait("worker_exit", 1)[0];
    assert_eq!(
        (pid_of(exit, "pid"), &exit["alive"]),
        (first, &Value::Bool(false))
    );
    assert_eq!(pid_of(&log.wait("child_exit", 1)[0], "worker_pid"), first);
    let second = pid_of(&log.wait("post_worker_init", 2)[1], "pid");
    assert_ne!(first, second);
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn ttin_ttou_hup_and_num_workers_from_a_hook() {
    let (server, log) = hooked(&[], 1, &[("HOOKS_WORKERS", "2")]);
    // when_ready set server.num_workers = 2: the master applies it like Gunicorn's setter.
    server.wait_live_workers(2);
    let changes = log.wait("nworkers_changed", 2);
    assert_eq!(
        (&changes[1]["new"], &changes[1]["old"]),
        (&Value::from(2), &Value::from(1))
    );
    server.signal(Signal::SIGTTIN);
    let changes = log.wait("nworkers_changed", 3);
    assert_eq!(
        (&changes[2]["new"], &changes[2]["old"]),
        (&Value::from(3), &Value::from(2))
    );
    log.wait("post_worker_init", 3);
    server.signal(Signal::SIGTTOU);
    let changes = log.wait("nworkers_changed", 4);
    assert_eq!(
        (&changes[3]["new"], &changes[3]["old"]),
        (&Value::from(2), &Value::from(3))
    );
    let gone = &log.wait("child_exit", 1)[0];
    // The oldest worker retires; the master's WORKERS no longer lists it.
    assert_eq!(gone["age"], 1);
    let gone_pid = gone["worker_pid"].clone();
    assert!(!gone["workers"]
        .as_array()
        .expect("a list")
        .contains(&gone_pid));
    assert_eq!(log.wait("worker_exit", 1)[0]["worker_pid"], gone_pid);
    server.signal(Signal::SIGHUP);
    let reload = &log.wait("on_reload", 1)[0];
    assert_eq!(pid_of(reload, "pid"), server.master_pid());
    assert_eq!(reload["cfg_workers"], 1);
}

fn worker_int_and_worker_abort_run_in_the_worker(kind: &str) {
    let (server, log) = hooked_as(kind, &[], 1, &[]);
    let worker = pid_of(&log.wait_or_show("post_worker_init", 1, &server)[0], "pid");
    kill(Pid::from_raw(worker as i32), Signal::SIGQUIT).expect("signal the worker");
    let int = &log.wait_or_show("worker_int", 1, &server)[0];
    assert_eq!(
        (pid_of(int, "pid"), &int["alive"]),
        (worker, &Value::Bool(false))
    );
    assert_eq!(
        pid_of(&log.wait_or_show("worker_exit", 1, &server)[0], "pid"),
        worker
    );
    // INT/QUIT exit 0: the master says nothing about the exit, and respawns.
    let worker = pid_of(&log.wait_or_show("post_worker_init", 2, &server)[1], "pid");
    // The replacement's boot line comes through the same pipe after anything the master said
    // when it reaped the old worker: once it is read, so is any exit line.
    server.wait_for(&format!("Booting worker with pid: {worker}"), WAIT);
    let said = server.log();
    assert!(!said.contains("exited with code"), "{said}");

    // ABRT while the app runs Python: under sync, SystemExit inside the request, a 500, exit
    // code 1. Under the other kinds the handler runs on the worker's loop (Gunicorn's: its
    // main thread or hub), not in the request: the worker stops as on TERM — the request in
    // flight, which is not what stopped the heartbeat, is answered — and exits with code 1.
    let port = server.port();
    let request = std::thread::spawn(move || try_get(port, "/sleep?s=5"));
    poll_explained(
        WAIT,
        || format!("the /sleep request to reach the app\n{}", server.log()),
        || server.markers("sleeping-").pop(),
    );
    kill(Pid::from_raw(worker as i32), Signal::SIGABRT).expect("signal the worker");
    let abort = &log.wait_or_show("worker_abort", 1, &server)[0];
    assert_eq!(pid_of(abort, "pid"), worker);
    let resp = request.join().expect("client thread").expect("a response");
    server.wait_for(&format!("Worker (pid:{worker}) exited with code 1."), WAIT);
    if kind == "sync" {
        assert_eq!(resp.status, 500);
        assert!(server.log().contains("SystemExit: 1"), "{}", server.log());
    } else {
        assert_eq!(resp.status, 200, "{kind}: {}", server.log());
    }
    log.wait_or_show("post_worker_init", 3, &server);
    assert_eq!(server.get("/").status, 200);
}
