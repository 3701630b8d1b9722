//! Many requests and connections on one green worker: 200 slow requests overlapping,
//! slowloris, 2,000 idle kept-alive connections, `--worker-connections` as the cap on
//! requests in the app, `show workers` with requests in flight; and over two workers, a burst of
//! keep-alive connections split between them.

use super::*;
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// `n` clients send `GET path` at the same moment, each on its own connection: how long until
/// the last was answered, and what went wrong (anything but a 200 whose body starts with
/// `want`).
pub(crate) fn all_at_once(port: u16, path: &str, n: usize, want: &str) -> (Duration, Vec<String>) {
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
pub(crate) fn two_hundred_slow_requests_overlap_on_one_worker(kind: &str) {
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

/// 40 clients trickling their heads a line a second hold 40 greenlets and nothing else: a
/// normal request on the one worker is still answered at once (tests/slowloris.rs).
pub(crate) fn slowloris_does_not_stall_a_green_worker(kind: &str) {
    let server = green(kind, "hello:app", &[], 1);
    crate::slowloris::normal_requests_beside_40_slowloris(&server, &format!("{kind} -w 1"));
}

/// 2,000 kept-alive connections idle on one worker (which raises its own open-file limit from
/// 1024 for `--worker-connections 2050`), and a new client is answered promptly; the oldest
/// and newest idle connections still work.
pub(crate) fn two_thousand_idle_keep_alive_connections_on_one_worker(kind: &str) {
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
pub(crate) fn worker_connections_caps_the_requests_in_the_app(kind: &str) {
    let server = green(kind, "green_app:app", &["--worker-connections", "10"], 1);
    let responses = ten_of_twenty_in_the_app(&server, kind);
    let most = responses
        .iter()
        .map(|r| r.json()["most_in_flight"].as_u64().unwrap_or(0))
        .max();
    assert_eq!(
        most,
        Some(10),
        "{kind}: the most requests in the app at once"
    );
}

/// What every kind with `--worker-connections 10` must do, `server` serving an app whose
/// `/hold` waits for a `release` file (tests/apps): of 20 clients, 10 are in the app holding
/// 10 sockets, the other 10 wait in the listen backlog — accepted by nobody, not refused —
/// and once released all 20 are answered 200. The responses, for a kind's own checks.
pub(crate) fn ten_of_twenty_in_the_app(server: &Server, kind: &str) -> Vec<Response> {
    let worker = only_worker(server);
    let port = server.port();
    let base = idle_worker_sockets(server)[&worker];
    let clients: Vec<_> = (0..20)
        .map(|i| std::thread::spawn(move || try_fetch(port, &format!("/hold?id={i}"))))
        .collect();
    poll(WAIT, "10 requests in the app", || {
        (server.markers("hold-").len() >= 10).then_some(())
    });
    stays_capped(server, worker, base, 10, kind);
    assert_eq!(socket_count(worker), base + 10, "{kind}");
    std::fs::write(server.dir.path().join("release"), "").unwrap();
    let responses: Vec<Response> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let r = c
                .join()
                .unwrap()
                .unwrap_or_else(|| panic!("{kind}: request {i} unanswered"));
            assert_eq!(r.status, 200, "{kind}: {r:?}");
            r
        })
        .collect();
    assert_eq!(server.markers("hold-").len(), 20, "{kind}");
    responses
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

/// `show workers` on a green worker with 5 requests in flight and 3 idle kept-alive
/// connections: a `threads` entry per request (method, path, client), `threads_busy` 5,
/// `connections` 8, `keepalive` 3; and once the requests end, back to 3 idle connections.
pub(crate) fn show_workers_lists_the_requests_in_flight_and_the_connections(kind: &str) {
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

/// Keep-alive connections opened in a burst spread over two workers at accept time, as under
/// `-k asgi` (the same check): before, one hub took 14 of 16 and kept them for their lifetime.
pub(crate) fn connections_opened_in_a_burst_spread_over_the_workers(kind: &str) {
    let server = green(kind, "green_app:app", &[], 2);
    crate::asgi_worker::burst_spreads_over_two_workers(&server);
}

/// And the spreading never stalls accepting, as under `-k asgi` (the same check).
pub(crate) fn a_burst_of_connections_is_accepted_without_stalls(kind: &str) {
    crate::asgi_worker::burst_is_accepted_without_stalls(|n| green(kind, "green_app:app", &[], n));
}
