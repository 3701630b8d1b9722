//! The greenlet workers (`-k gevent`, `-k eventlet`; issue 8), every test under both kinds:
//! slow requests overlap on one worker (a slow upstream called with `requests`, `time.sleep`),
//! a greenlet that blocks the hub is a WORKER TIMEOUT naming it while one that yields is not,
//! clients that leave mid-request or trickle their heads, 2,000 idle kept-alive connections,
//! `--worker-connections` as the cap on connections (and so on requests in the app), the
//! missing library, what the app sees, the class-path aliases, `show workers`; waits on slow
//! clients through the hub, long downloads, `--request-timeout`, and TERM with a connection
//! that never sent a byte.
//! Keep-alive, bad input, the corpus and graceful stops: tests/green_keepalive.rs.
//!
//! Apps: tests/apps/green_app.py (Flask), stuck_app.py, hello.py — all from the test
//! virtualenv, which has gevent and eventlet.

use crate::support::*;
use nix::sys::signal::Signal;
use std::collections::BTreeSet;
use std::io::Read;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// One `#[test]` per kind for each check `fn name(kind: &str)`: `green::gevent::name` and
/// `green::eventlet::name`.
macro_rules! per_kind {
    ($($check:ident),* $(,)?) => {
        mod gevent {
            $( #[test] fn $check() { super::$check("gevent") } )*
        }
        mod eventlet {
            $( #[test] fn $check() { super::$check("eventlet") } )*
        }
    };
}
pub(crate) use per_kind;

per_kind!(
    two_hundred_slow_requests_overlap_on_one_worker,
    a_greenlet_holding_the_gil_is_a_worker_timeout,
    a_long_request_that_yields_is_not_a_worker_timeout,
    a_client_that_leaves_mid_request_ends_its_greenlet_quietly,
    slowloris_does_not_stall_a_green_worker,
    two_thousand_idle_keep_alive_connections_on_one_worker,
    worker_connections_caps_the_requests_in_the_app,
    without_the_library_one_line_and_exit_3_before_binding,
    the_app_sees_a_green_single_threaded_worker,
    show_workers_lists_the_requests_in_flight_and_the_connections,
    waits_on_a_slow_client_let_the_other_greenlets_run,
    a_steady_download_longer_than_the_timeout_is_sent_whole,
    request_timeout_answers_504_and_interrupts_the_greenlet,
    term_closes_a_connection_that_sent_nothing_at_once,
);

/// Checks that are not about greenlets, under the other kinds too. (Not the steady download
/// under sync: there, as in Gunicorn, `--timeout` bounds the whole request.)
mod gthread {
    #[test]
    fn a_steady_download_longer_than_the_timeout_is_sent_whole() {
        super::a_steady_download_longer_than_the_timeout_is_sent_whole("gthread")
    }
    #[test]
    fn term_closes_a_connection_that_sent_nothing_at_once() {
        super::term_closes_a_connection_that_sent_nothing_at_once("gthread")
    }
}
mod sync {
    #[test]
    fn term_closes_a_connection_that_sent_nothing_at_once() {
        super::term_closes_a_connection_that_sent_nothing_at_once("sync")
    }
}

/// `--worker-connections cap` holds for a second of looking (the cap is reached: waiting for a
/// change could not end): no more than `cap` requests in the app (`hold-` markers), no more
/// than `cap` client sockets in `worker` beyond its idle `base`.
pub(crate) fn stays_capped(server: &Server, worker: u32, base: usize, cap: usize, kind: &str) {
    let look = Instant::now();
    while look.elapsed() < Duration::from_secs(1) {
        let (inside, sockets) = (server.markers("hold-").len(), socket_count(worker));
        assert!(
            inside <= cap && sockets <= base + cap,
            "{kind}: {inside} requests in the app, {} client sockets, past --worker-connections {cap}",
            sockets - base
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `app` from tests/apps under `-k kind`, `workers` workers, in the test virtualenv.
pub(crate) fn green(kind: &str, app: &str, extra: &[&str], workers: usize) -> Server {
    green_with(kind, app, extra, workers, Opts::default())
}

pub(crate) fn green_with(
    kind: &str,
    app: &str,
    extra: &[&str],
    workers: usize,
    base: Opts,
) -> Server {
    let mut args = vec!["-k", kind];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, workers, base.with_venv())
}

fn only_worker(server: &Server) -> u32 {
    *server.worker_pids().iter().next().expect("one worker")
}

/// `n` clients send `GET path` at the same moment, each on its own connection: how long until
/// the last was answered, and what went wrong (anything but a 200 whose body starts with
/// `want`).
fn all_at_once(port: u16, path: &str, n: usize, want: &str) -> (Duration, Vec<String>) {
    let start = Arc::new(Barrier::new(n + 1));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (start, path, want) = (start.clone(), path.to_string(), want.to_string());
            std::thread::spawn(move || {
                start.wait();
                match try_fetch(port, &path) {
                    Some(r) if r.status == 200 && r.text().starts_with(&want) => None,
                    Some(r) => Some(format!("{} {:?}", r.status, r.text())),
                    None => Some("no response".to_string()),
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    let failures: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().expect("client thread"))
        .collect();
    (t.elapsed(), failures)
}

/// 200 requests at once to one worker, each waiting a second — for a slow upstream called
/// with `requests`, or in `time.sleep` — overlap: all are answered in about a second. One at
/// a time they would take 200 s; the bound is a tenth of that, so a worker that ran even 20
/// at once would still fail it. The upstream counts how many it had in flight together.
fn two_hundred_slow_requests_overlap_on_one_worker(kind: &str) {
    let upstream = PyClient::spawn("slow_upstream.py", &["1"]);
    upstream.wait_line("listening ", WAIT);
    let up_port: u16 = upstream.stdout.snapshot()[0]
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .expect("the upstream's port");
    let url = format!("http://127.0.0.1:{up_port}/slow");
    let opts = Opts::default().env("UPSTREAM_URL", &url);
    let server = green_with(kind, "green_app:app", &[], 1, opts);
    // Flask's and requests' first-call costs are not what is measured.
    assert_eq!(server.fetch("/sleep?s=0").status, 200);
    for (path, want) in [("/upstream", "200 upstream"), ("/sleep?s=1", "slept 1.0")] {
        let (took, failures) = all_at_once(server.port(), path, 200, want);
        eprintln!("{kind}: 200 × {path} (1 s each) on one worker answered in {took:?}");
        assert!(failures.is_empty(), "{kind} {path}: {failures:?}");
        assert!(
            took < Duration::from_secs(20),
            "{kind}: 200 × {path} took {took:?}: the requests did not overlap"
        );
    }
    let stats = try_fetch(up_port, "/stats").expect("upstream stats").json();
    eprintln!("{kind}: the upstream saw {stats}");
    // The warm-up did not call it: exactly the 200 did.
    assert_eq!(stats["served"], 200, "{stats}");
    assert!(
        stats["most"].as_u64().unwrap() >= 20,
        "{kind}: at most {} upstream calls were in flight together",
        stats["most"]
    );
}

/// The classic gevent failure, explained: a request that holds the GIL in C (a catastrophic
/// regex) never yields to the hub, the main greenlet's heartbeat stops, and after `--timeout`
/// the master logs the stack of what blocked, kills the worker and starts another.
fn a_greenlet_holding_the_gil_is_a_worker_timeout(kind: &str) {
    let server = green(
        kind,
        "stuck_app:app",
        &["--timeout", "2", "--worker-abort-timeout", "1"],
        1,
    );
    let pid = only_worker(&server);
    let port = server.port();
    let request = std::thread::spawn(move || try_get(port, "/gil"));
    server.wait_marker(&format!("gil-{pid}"));
    let block = crate::stuck::timeout_block(&server, pid);
    assert!(
        block.contains("GET /gil HTTP/1.1 from 127.0.0.1:"),
        "{kind}: {block}"
    );
    assert!(block.contains("in hold_the_gil"), "{kind}: {block}");
    let replacement = crate::stuck::served_by_another(&server, pid);
    assert_ne!(replacement, pid);
    assert_eq!(
        request.join().expect("client thread").map(|r| r.status),
        None,
        "{kind}: the killed request got a response"
    );
}

/// `--timeout` is the hub's heartbeat, not a request limit: a request that sleeps (patched,
/// so it yields) for more than twice the timeout completes, other requests are answered
/// meanwhile, and the worker is never replaced.
fn a_long_request_that_yields_is_not_a_worker_timeout(kind: &str) {
    let mut server = green(kind, "stuck_app:app", &["--timeout", "2"], 1);
    let pid = only_worker(&server);
    let port = server.port();
    let slow = std::thread::spawn(move || try_get(port, "/python?s=5"));
    server.wait_marker(&format!("python-{pid}"));
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(server.fetch("/").text(), format!("ok {pid}\n"), "{kind}");
        worst = worst.max(t.elapsed());
    }
    eprintln!("{kind}: beside a 5 s yielding request, the worst of 5 others took {worst:?}");
    assert!(worst < Duration::from_secs(2), "{kind}: {worst:?}");
    let r = slow.join().unwrap().expect("the long request's response");
    assert_eq!((r.status, r.text().as_str()), (200, "finished spinning\n"));
    let log = server.stop_and_log();
    assert!(!log.contains("WORKER TIMEOUT"), "{log}");
    assert_eq!(server.booted_pids(), vec![pid], "{log}");
}

/// Log lines at or above WARNING (and tracebacks) from index `from` on.
fn alarming_lines(server: &Server, from: usize) -> Vec<String> {
    server.stderr.snapshot()[from..]
        .iter()
        .filter(|l| {
            ["[WARNING]", "[ERROR]", "[CRITICAL]", "Traceback"]
                .iter()
                .any(|w| l.contains(w))
        })
        .cloned()
        .collect()
}

/// A client that goes away — while the app sleeps, or while a streamed response is being
/// written — costs nothing lasting: the app's response is closed (PEP 3333), the connection's
/// greenlet ends and closes its socket, nothing alarming is logged, and the worker serves on.
fn a_client_that_leaves_mid_request_ends_its_greenlet_quietly(kind: &str) {
    let server = green(kind, "green_app:app", &[], 1);
    let worker = only_worker(&server);
    let port = server.port();
    let base = idle_worker_sockets(&server)[&worker];
    let from = server.mark();

    let mut c = Client::connect(port);
    c.send(b"GET /abandoned?id=a&s=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    server.wait_marker("abandoned-start-a");
    drop(c);
    server.wait_marker("abandoned-end-a");
    poll(
        WAIT,
        "the abandoned request's greenlet to close its socket",
        || (socket_count(worker) == base).then_some(()),
    );

    let mut c = Client::connect(port);
    c.send(b"GET /drip?id=b&n=5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    // One whole chunk of the body (chunks are 1 KiB), so the response is being written.
    read_until(&mut c.stream, &[b'x'; 1024]);
    drop(c);
    let produced: usize = server
        .wait_marker("drip-closed-b")
        .parse()
        .expect("a count");
    assert!(
        produced < 5000,
        "{kind}: all {produced} chunks were produced for a client that had left"
    );
    poll(
        WAIT,
        "the streamed request's greenlet to close its socket",
        || (socket_count(worker) == base).then_some(()),
    );

    assert_eq!(server.fetch("/pid").text(), worker.to_string());
    assert_eq!(
        alarming_lines(&server, from),
        Vec::<String>::new(),
        "{kind}: {}",
        server.log()
    );
}

/// 40 clients trickling their heads a line a second hold 40 greenlets and nothing else: a
/// normal request on the one worker is still answered at once (tests/slowloris.rs).
fn slowloris_does_not_stall_a_green_worker(kind: &str) {
    let server = green(kind, "hello:app", &[], 1);
    crate::slowloris::normal_requests_beside_40_slowloris(&server, &format!("{kind} -w 1"));
}

/// 2,000 kept-alive connections idle on one worker (which raises its own open-file limit from
/// 1024 for `--worker-connections 2050`), and a new client is answered promptly; the oldest
/// and newest idle connections still work.
fn two_thousand_idle_keep_alive_connections_on_one_worker(kind: &str) {
    let own = raise_own_nofile_limit();
    assert!(
        own >= 2200,
        "this test needs 2,000 client sockets; hard limit {own}"
    );
    let launcher = Opts::default().program(&["prlimit", "--nofile=1024:20000", bin()]);
    let args = ["--worker-connections", "2050", "--keep-alive", "120"];
    let server = green_with(kind, "hello:app", &args, 1, launcher);
    let port = server.port();
    let worker = only_worker(&server);
    poll(WAIT, "the worker to raise its open-file soft limit", || {
        (crate::connections::nofile_soft(worker).unwrap_or(0) >= 2050).then_some(())
    });
    let base = idle_worker_sockets(&server)[&worker];
    let rss_before = proc_status_kb(worker, "VmRSS").unwrap_or(0);

    let t = Instant::now();
    let mut kept: Vec<Client> = (0..2000).map(|_| Client::connect(port)).collect();
    for c in &mut kept {
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for c in &mut kept {
        let r = c.response();
        assert_eq!(r.header("Connection"), Some("keep-alive"), "{kind}: {r:?}");
    }
    poll(WAIT, "the worker to hold 2,000 client sockets", || {
        (socket_count(worker) >= base + 2000).then_some(())
    });
    let opened = t.elapsed();
    let rss = proc_status_kb(worker, "VmRSS").unwrap_or(0);

    let t = Instant::now();
    let r = server.fetch("/pid");
    let took = t.elapsed();
    assert_eq!(r.text(), worker.to_string());
    eprintln!(
        "{kind}: 2,000 kept-alive connections in {opened:?}; a new request took {took:?}; \
         worker RSS {rss} KiB ({:.1} KiB per idle connection)",
        rss.saturating_sub(rss_before) as f64 / 2000.0
    );
    assert!(
        took < Duration::from_secs(2),
        "{kind}: a new request took {took:?}"
    );
    assert_eq!(kept[0].get("/").status, 200);
    assert_eq!(kept[1999].get("/").status, 200);
}

/// `--worker-connections 10` and 20 clients of a request that waits for a signal: 10 are in
/// the app (its own count, a module global all greenlets share), 10 wait in the backlog —
/// accepted by nobody, not refused — and once the first ones finish, all 20 are answered, with
/// never more than 10 in the app at once.
fn worker_connections_caps_the_requests_in_the_app(kind: &str) {
    let server = green(kind, "green_app:app", &["--worker-connections", "10"], 1);
    let worker = only_worker(&server);
    let port = server.port();
    let base = idle_worker_sockets(&server)[&worker];
    let clients: Vec<_> = (0..20)
        .map(|i| std::thread::spawn(move || try_fetch(port, &format!("/hold?id={i}"))))
        .collect();
    poll(WAIT, "10 requests in the app", || {
        (server.markers("hold-").len() >= 10).then_some(())
    });
    stays_capped(&server, worker, base, 10, kind);
    assert_eq!(socket_count(worker), base + 10, "{kind}");
    std::fs::write(server.dir.path().join("release"), "").unwrap();
    let mut most = 0;
    for (i, c) in clients.into_iter().enumerate() {
        let r = c
            .join()
            .unwrap()
            .unwrap_or_else(|| panic!("{kind}: request {i} unanswered"));
        assert_eq!(r.status, 200, "{kind}: {r:?}");
        most = most.max(r.json()["most_in_flight"].as_u64().unwrap());
    }
    assert_eq!(server.markers("hold-").len(), 20);
    assert_eq!(most, 10, "{kind}: the most requests in the app at once");
}

/// Without gevent (eventlet) in the interpreter: one error line naming the library and the
/// Python, exit code 3 (Gunicorn's worker-boot error), and nothing bound. The port is taken
/// beforehand, so a server that bound before it checked would say so (and retry).
fn without_the_library_one_line_and_exit_3_before_binding(kind: &str) {
    without_a_library_one_line_and_exit_3(&["-k", kind, "hello:app"], kind);
}

/// Runs `args` in a virtualenv without `library`: one error line naming it and the venv's
/// Python, exit code 3 (Gunicorn's worker-boot error), nothing on stdout, and nothing bound —
/// the port is taken beforehand, so a server that bound before it checked would say so.
pub(crate) fn without_a_library_one_line_and_exit_3(args: &[&str], library: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("venv");
    let made = output_of(
        Command::new(venv().join("bin").join("python"))
            .args(["-m", "venv", "--without-pip"])
            .arg(&empty),
    );
    assert!(made.status.success(), "python -m venv {}", empty.display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let apps = apps();
    let mut argv = vec!["-b", &bind, "--chdir", &apps];
    argv.extend_from_slice(args);
    let started = Instant::now();
    let (status, stdout, stderr) = run(Opts::new(&argv).in_venv(&empty));
    eprintln!(
        "{library}: exit {status} after {:?}: {stderr}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(3), "{library}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{library}: one line: {stderr}");
    let prefix = format!("Error: {library} is not installed in {}/", empty.display());
    let suffix = format!(": pip install {library}");
    assert!(
        lines[0].starts_with(&prefix) && lines[0].ends_with(&suffix),
        "{:?}, want {prefix:?}…{suffix:?}",
        lines[0]
    );
    assert_eq!(stdout, "", "{library}");
    drop(taken);
}

/// Under a green worker the app sees one thread per process (`wsgi.multithread` False: one
/// greenlet runs at a time), `wsgi.multiprocess` as Gunicorn sets it (workers > 1), a
/// standard library patched by the kind's library, and the log names the kind.
fn the_app_sees_a_green_single_threaded_worker(kind: &str) {
    let other = if kind == "gevent" {
        "eventlet"
    } else {
        "gevent"
    };
    for workers in [1, 2] {
        let server = green(kind, "green_app:app", &[], workers);
        let using = server.wait_for("Using worker: ", WAIT);
        assert!(using.ends_with(&format!("Using worker: {kind}")), "{using}");
        let seen = server.fetch("/patched").json();
        assert_eq!(seen["multithread"], false, "{kind}: {seen}");
        assert_eq!(
            seen["multiprocess"],
            workers > 1,
            "{kind} -w {workers}: {seen}"
        );
        assert_eq!(seen["run_once"], false, "{seen}");
        let socket = seen["socket"].as_str().unwrap();
        assert!(
            socket.starts_with(&format!("{kind}.")),
            "{kind}: socket from {socket}"
        );
        assert_eq!(
            (&seen[kind], &seen[other]),
            (&true.into(), &false.into()),
            "{seen}"
        );
    }
}

/// Gunicorn's names for the green workers start the same two kinds (gevent's pywsgi variants
/// included: here the Rust parser serves them all).
#[test]
fn class_paths_and_aliases_start_the_green_kinds() {
    for (name, kind) in [
        ("gevent_wsgi", "gevent"),
        ("gevent_pywsgi", "gevent"),
        ("gunicorn.workers.ggevent.GeventWorker", "gevent"),
        ("gunicorn.workers.ggevent.GeventPyWSGIWorker", "gevent"),
        ("gunicorn.workers.geventlet.EventletWorker", "eventlet"),
    ] {
        let server = green(name, "green_app:app", &[], 1);
        let using = server.wait_for("Using worker: ", WAIT);
        assert!(
            using.ends_with(&format!("Using worker: {kind}")),
            "{name}: {using}"
        );
        let seen = server.fetch("/patched").json();
        let socket = seen["socket"].as_str().unwrap();
        assert!(
            socket.starts_with(&format!("{kind}.")),
            "{name}: socket from {socket}"
        );
        assert_eq!(seen["multithread"], false, "{name}: {seen}");
    }
}

/// `show workers` on a green worker with 5 requests in flight and 3 idle kept-alive
/// connections: a `threads` entry per request (method, path, client), `threads_busy` 5,
/// `connections` 8, `keepalive` 3; and once the requests end, back to 3 idle connections.
fn show_workers_lists_the_requests_in_flight_and_the_connections(kind: &str) {
    use crate::control::{ctl_json, socket_of};
    let server = green(kind, "green_app:app", &["--keep-alive", "30"], 1);
    let socket = socket_of(&server);
    let port = server.port();
    let mut idle: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    for c in &mut idle {
        assert_eq!(c.get("/pid").header("Connection"), Some("keep-alive"));
    }
    let held: Vec<_> = (0..5)
        .map(|i| std::thread::spawn(move || try_fetch(port, &format!("/hold?id={i}"))))
        .collect();
    poll(WAIT, "5 requests in the app", || {
        (server.markers("hold-").len() == 5).then_some(())
    });
    let rows = ctl_json(&socket, &["show", "workers"]);
    let row = &rows["workers"][0];
    let requests: Vec<&serde_json::Value> = row["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter_map(|t| t.get("request").filter(|r| !r.is_null()))
        .collect();
    assert_eq!(requests.len(), 5, "{kind}: {row:#}");
    let mut clients = BTreeSet::new();
    for r in &requests {
        assert_eq!(r["method"], "GET", "{r}");
        assert!(r["path"].as_str().unwrap().starts_with("/hold"), "{r}");
        clients.insert(r["client"].as_str().unwrap().to_string());
    }
    assert_eq!(clients.len(), 5, "five clients: {clients:?}");
    assert!(
        row["threads_busy"].as_u64().unwrap() >= 5,
        "{kind}: {row:#}"
    );
    assert_eq!(
        row["connections"], 8,
        "{kind}: 5 in flight + 3 idle: {row:#}"
    );
    assert_eq!(row["keepalive"], 3, "{kind}: {row:#}");
    assert_eq!(row["state"], "app", "{kind}: {row:#}");

    std::fs::write(server.dir.path().join("release"), "").unwrap();
    for h in held {
        assert_eq!(h.join().unwrap().map(|r| r.status), Some(200));
    }
    let row = poll(
        WAIT,
        "the finished requests to leave the scoreboard",
        || {
            let rows = ctl_json(&socket, &["show", "workers"]);
            let row = rows["workers"][0].clone();
            (row["threads_busy"] == 0 && row["connections"] == 3).then_some(row)
        },
    );
    assert_eq!(row["keepalive"], 3, "{kind}: {row:#}");
    for c in &mut idle {
        assert_eq!(c.get("/pid").status, 200);
    }
}

/// Bytes the kernel holds on the server's side of the connection `server_port` ↔
/// `client_port` that the client has not taken (`tx_queue` in /proc/net/tcp).
fn unsent_to(server_port: u16, client_port: u16) -> Option<u64> {
    let port =
        |addr: &str| -> Option<u16> { u16::from_str_radix(addr.rsplit(':').next()?, 16).ok() };
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || port(f[1]) != Some(server_port) || port(f[2]) != Some(client_port) {
            return None;
        }
        u64::from_str_radix(f[4].split(':').next()?, 16).ok()
    })
}

/// While one connection waits on its client, 5 requests on others are answered at once and
/// the worker spends less than half a second of CPU in a second of waiting (no spinning).
fn others_are_served_while_one_waits(server: &Server, worker: u32, what: &str) {
    let before = crate::gthread::cpu_seconds(worker);
    let t = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let one = Instant::now();
        assert_eq!(server.fetch("/pid").text(), worker.to_string(), "{what}");
        worst = worst.max(one.elapsed());
    }
    while t.elapsed() < Duration::from_secs(1) {
        // A second of watching the worker's CPU clock while it waits.
        std::thread::sleep(Duration::from_millis(50));
    }
    let used = crate::gthread::cpu_seconds(worker) - before;
    eprintln!(
        "{what}: 5 other requests, the worst in {worst:?}; worker CPU {used:.2} s in {:?}",
        t.elapsed()
    );
    assert!(
        worst < Duration::from_secs(2),
        "{what}: another request took {worst:?}"
    );
    assert!(
        used < 0.5,
        "{what}: the worker used {used:.2} s of CPU while it waited"
    );
}

/// Every wait on a client goes through the hub, never blocks it, never spins: a response the
/// client does not read (32 MiB from a generator; a 32 MiB file through sendfile) and a request
/// body that stops halfway leave the worker serving others at once, and idle; each then
/// completes when the client goes on.
fn waits_on_a_slow_client_let_the_other_greenlets_run(kind: &str) {
    let server = green(kind, "green_app:app", &[], 1);
    let worker = only_worker(&server);
    let port = server.port();
    for path in ["/big?mb=32", "/file?mb=32"] {
        let mut c = Client::connect(port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        // The server's side of the connection fills up: the worker now waits on this client.
        poll(WAIT, "the server's send queue to fill", || {
            (unsent_to(port, c.local_port()).unwrap_or(0) > 256 * 1024).then_some(())
        });
        others_are_served_while_one_waits(&server, worker, &format!("{kind} {path} unread"));
        let r = c.response();
        assert_eq!((r.status, r.body.len()), (200, 32 << 20), "{kind} {path}");
    }

    let mut c = Client::connect(port);
    c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    c.send(&[b'u'; 1000]);
    others_are_served_while_one_waits(&server, worker, &format!("{kind} upload stopped halfway"));
    c.send(&vec![b'u'; 2_000_000 - 1000]);
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "2000000"), "{kind}");
}

/// Reads the response to `path` at most 256 KiB every 50 ms (about 5 MB/s, through a
/// 256 KiB receive buffer) until it is complete or the connection ends: the bytes and how long.
fn download_steadily(port: u16, path: &str) -> (Vec<u8>, Duration) {
    use nix::sys::socket::{setsockopt, sockopt::RcvBuf};
    let mut c = Client::connect(port);
    setsockopt(&c.stream, RcvBuf, &(256 * 1024)).expect("SO_RCVBUF");
    c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let t = Instant::now();
    let mut wire = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => wire.extend_from_slice(&chunk[..n]),
        }
        if parse_response(&wire, false)
            .is_some_and(|(r, _)| r.complete && (r.chunked || r.header("Content-Length").is_some()))
        {
            break;
        }
        // The client's pace: a steady reader, slower than the server.
        std::thread::sleep(Duration::from_millis(50));
    }
    (wire, t.elapsed())
}

/// `--timeout` (here 2 s) bounds how long a client may take nothing, not a whole transfer: a
/// 24 MiB download read steadily at about 5 MB/s (so for about 4 s) arrives whole — from a
/// generator, and from a file through `wsgi.file_wrapper` (sendfile).
fn a_steady_download_longer_than_the_timeout_is_sent_whole(kind: &str) {
    let server = green(kind, "green_app:app", &["--timeout", "2"], 1);
    for path in ["/big?mb=24", "/file?mb=24"] {
        let (wire, took) = download_steadily(server.port(), path);
        let (r, _) = parse_response(&wire, false).expect("a response head");
        eprintln!(
            "{kind} {path}: {} of the body in {took:?} (complete: {})",
            r.body.len(),
            r.complete
        );
        assert_eq!(r.status, 200, "{kind} {path}");
        assert!(
            r.complete && r.body.len() == 24 << 20,
            "{kind} {path}: the download was cut after {took:?} at {} of {} bytes \
             (--timeout 2; the client read steadily)",
            r.body.len(),
            24 << 20
        );
    }
    assert_eq!(server.booted_pids().len(), 1, "{}", server.log());
}

/// `--request-timeout` under a green worker, as under gthread (tests/stuck.rs): a 504 on
/// time, the timed-out request's own stack in the log (not the hub's), and the app
/// interrupted where it waits with an exception it can catch — its greenlet ends, the worker
/// stays.
fn request_timeout_answers_504_and_interrupts_the_greenlet(kind: &str) {
    let server = green(
        kind,
        "stuck_app:app",
        &[
            "--request-timeout",
            "1",
            "--timeout",
            "30",
            "--graceful-timeout",
            "1",
        ],
        1,
    );
    let pid = only_worker(&server);
    let started = Instant::now();
    let resp = server.get("/python?s=30");
    let took = started.elapsed();
    assert_eq!(resp.status, 504, "{kind}: {}", resp.text());
    assert!(
        // On time: after the 1 s limit, and long before the 30 s heartbeat would act
        // (generous, so a loaded machine cannot break it).
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{kind}: 504 after {took:?}"
    );
    let report = server.wait_for(
        &format!("Request timeout (pid:{pid}): GET /python?s=30"),
        WAIT,
    );
    assert!(report.contains("answered 504"), "{report}");
    // Both checks are made before either is asserted, so a failure names everything missing.
    let mut caught = None;
    while caught.is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        caught = server.marker(&format!("caught-{pid}"));
    }
    let own_stack = server.stderr.find_from(0, "in spin_in_python", WAIT);
    assert!(
        caught
            .as_deref()
            .is_some_and(|c| c.starts_with("gunicorn_rs.RequestTimeout: "))
            && own_stack.is_some(),
        "{kind}: the app was interrupted: {caught:?}; the request's stack was logged: {}\n{}",
        own_stack.is_some(),
        server.log()
    );
    let next = server.get("/");
    assert_eq!((next.status, next.text()), (200, format!("ok {pid}\n")));
    assert_eq!(server.booted_pids(), vec![pid]);
}

/// TERM ends a connection that has not sent a byte as it ends an idle kept-alive one: at
/// once, with an EOF (it holds no request: a browser's preconnect, a balancer's spare), so
/// the worker exits promptly — not when `--header-timeout` (here 20 s) would have ended the
/// wait for a head. Gunicorn 27's gevent worker closes it within its 2 s keep-alive.
fn term_closes_a_connection_that_sent_nothing_at_once(kind: &str) {
    let mut server = green(kind, "hello:app", &["--header-timeout", "20"], 1);
    let worker = only_worker(&server);
    let base = idle_worker_sockets(&server)[&worker];
    let mut silent = Client::connect(server.port());
    let mut late = Client::connect(server.port());
    poll(WAIT, "the worker to accept the silent connections", || {
        (socket_count(worker) > base + 1).then_some(())
    });
    let sent = Instant::now();
    server.signal(Signal::SIGTERM);
    // A request just behind its connect, crossing the stop, is still answered (whichever
    // comes first, the request or the worker's stop).
    let r = late.get("/");
    assert_eq!(r.status, 200, "{kind}: {r:?}");
    let ending = silent.ending(Duration::from_secs(15));
    let closed = sent.elapsed();
    eprintln!("{kind}: TERM; the silent connection: {ending:?} after {closed:?}");
    assert_eq!(
        ending,
        Ending::Eof(Vec::new()),
        "{kind}: a connection that sent nothing, {closed:?} after TERM (--header-timeout 20)"
    );
    assert!(
        closed < Duration::from_secs(5),
        "{kind}: closed {closed:?} after TERM"
    );
    let status = server.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        sent.elapsed() < Duration::from_secs(8),
        "{kind}: exited {:?} after TERM",
        sent.elapsed()
    );
}
