//! The `gthread` worker's concurrency: a slow request beside fast ones, idle kept-alive
//! connections that hold no thread, `--worker-connections` (past it connections wait in the
//! backlog), `--timeout` as the loop's heartbeat, `--request-timeout` per request, and what the
//! app sees (`wsgi.multithread`, `wsgi.early_hints`) under gthread and sync.

use crate::support::*;
use std::time::{Duration, Instant};

fn gthread(threads: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-k", "gthread", "--threads", threads];
    args.extend_from_slice(extra);
    Server::hello(&args, 1)
}

fn spawn_get(port: u16, path: &str) -> std::thread::JoinHandle<(Option<Response>, Instant)> {
    let path = path.to_string();
    std::thread::spawn(move || (try_fetch(port, &path), Instant::now()))
}

#[test]
fn slow_request_does_not_delay_fast_ones_on_other_connections() {
    let server = gthread("4", &[]);
    let port = server.port();
    let slow = spawn_get(port, "/sleep?s=4");
    let worker = server.wait_marker_prefix("sleeping-");
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let r = server.fetch("/pid");
        worst = worst.max(t.elapsed());
        assert_eq!(r.status, 200);
        assert_eq!(format!("sleeping-{}", r.text()), worker, "one worker");
    }
    let fast_done = Instant::now();
    eprintln!(
        "20 fast requests in {:?} (worst {worst:?}) beside a 4 s one",
        fast_done - started
    );
    let (resp, slow_done) = slow.join().unwrap();
    assert_eq!(resp.expect("the slow request").text(), "slept 4.0");
    assert!(
        fast_done < slow_done,
        "the fast requests waited for the slow one"
    );
    assert!(
        fast_done - started < Duration::from_secs(3),
        "20 fast requests took {:?} beside a 4 s request",
        fast_done - started
    );
}

#[test]
fn idle_kept_alive_connections_hold_no_thread() {
    let server = gthread("2", &["--keep-alive", "60"]);
    let port = server.port();
    let mut idle: Vec<Client> = (0..50).map(|_| Client::connect(port)).collect();
    for c in &mut idle {
        let r = c.get("/");
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
    // 50 connections now wait for their next request with 2 threads in the worker.
    let t = Instant::now();
    let r = server.fetch("/pid");
    let took = t.elapsed();
    eprintln!("a new request beside 50 idle kept-alive connections: {took:?}");
    assert_eq!(r.status, 200);
    // Generous for a loaded machine; a thread held by an idle connection would make it wait
    // for the 60 s keep-alive.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // And every idle connection still works.
    for c in idle.iter_mut().rev().take(5) {
        assert_eq!(c.get("/").status, 200);
    }
}

/// One lane holds finished responses while more requests of the same wait are ready, and
/// sends them together (src/worker/conn/batch.rs): 16 busy keep-alive clients, some
/// pipelining, each get their own responses, whole and in order.
#[test]
fn one_lane_sends_every_held_response_to_its_own_client() {
    let server = gthread("1", &[]);
    let port = server.port();
    let post = |body: &str| {
        let len = body.len();
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{body}")
    };
    let clients: Vec<_> = (0..16)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(port);
                for i in 0..200 {
                    let bodies = [format!("client {c} request {i}"), format!("{c}/{i} next")];
                    // Every fourth round, two requests at once (pipelined).
                    let n = if i % 4 == 0 { 2 } else { 1 };
                    let raw: String = bodies[..n].iter().map(|b| post(b)).collect();
                    client.send(raw.as_bytes());
                    for body in &bodies[..n] {
                        let r = client.response();
                        assert_eq!((r.status, r.text()), (200, body.clone()));
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every client got its own responses");
    }
}

/// tests/keepalive.rs's checks with one lane, which sends responses in batches.
#[test]
fn keep_alive_checks_pass_with_one_lane() {
    let failures = crate::green_keepalive::keep_alive_suite("gthread --threads 1", &[], |extra| {
        gthread("1", extra)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn past_worker_connections_new_connections_wait_in_the_backlog() {
    let server = gthread("2", &["--worker-connections", "10", "--keep-alive", "60"]);
    let port = server.port();
    let (&worker, &base) = idle_worker_sockets(&server).iter().next().unwrap();
    // Gunicorn's rule: at most worker_connections - threads (8) connections are kept alive;
    // the count is taken when a response is written, so under load a ninth may slip in.
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut c = Client::connect(port);
        let r = c.get("/");
        if r.header("Connection") == Some("keep-alive") {
            held.push(c);
        } else {
            assert_eq!(c.ending(Duration::from_secs(10)), Ending::Eof(Vec::new()));
        }
    }
    eprintln!(
        "{} of 10 connections kept alive (worker_connections 10, threads 2)",
        held.len()
    );
    assert!((8..=9).contains(&held.len()), "{} kept alive", held.len());
    // Connections that send nothing fill the worker up to 10.
    let quiet: Vec<Client> = (held.len()..10).map(|_| Client::connect(port)).collect();
    poll(WAIT, "the worker to hold 10 client sockets", || {
        (socket_count(worker) >= base + 10).then_some(())
    });
    // The 11th connection completes its handshake in the kernel's backlog, and waits there.
    let mut late = Client::connect(port);
    late.send(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n");
    match late.ending(Duration::from_secs(1)) {
        Ending::Open(bytes) => assert!(
            bytes.is_empty(),
            "answered past the limit: {:?}",
            String::from_utf8_lossy(&bytes)
        ),
        other => panic!("a connection past --worker-connections was dropped: {other:?}"),
    }
    assert_eq!(socket_count(worker), base + 10, "accepted past the limit");
    // One held connection closes: the waiting one is accepted and answered, not reset.
    drop(held.pop());
    let r = late.response();
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with(&late.local_port().to_string()));
    drop(quiet);
}

#[test]
fn long_request_is_not_a_worker_timeout_under_gthread() {
    let mut server = gthread("2", &["-t", "2"]);
    let pid = server.fetch("/pid").text();
    let t = Instant::now();
    let r = server.fetch("/sleep?s=4");
    assert_eq!(r.text(), "slept 4.0", "took {:?}", t.elapsed());
    assert_eq!(
        server.fetch("/pid").text(),
        pid,
        "the worker was not replaced"
    );
    let log = server.stop_and_log();
    assert!(!log.contains("WORKER TIMEOUT"), "{log}");
}

#[test]
fn request_timeout_answers_504_and_frees_the_lane() {
    let server = gthread("2", &["--request-timeout", "1"]);
    let port = server.port();
    let pid = server.fetch("/pid").text();

    let t = Instant::now();
    let slow = spawn_get(port, "/lane?s=3&id=a");
    server.wait_marker("lane-start-a");
    let fast = server.fetch("/pid");
    let fast_done = Instant::now();
    assert_eq!(fast.text(), pid);
    let (resp, slow_done) = slow.join().unwrap();
    let resp = resp.expect("a response to the timed-out request");
    let slow_took = slow_done - t;
    eprintln!(
        "504 after {slow_took:?}; the fast request beside it was answered after {:?}",
        fast_done - t
    );
    assert_eq!(resp.status, 504, "{resp:?}");
    assert!(
        slow_took < Duration::from_millis(2800),
        "the 504 came after {slow_took:?}, not at the 1 s deadline (the app sleeps 3 s)"
    );
    assert!(
        fast_done < slow_done,
        "the fast request on the other lane waited for the slow one's 504"
    );

    // The app lets go of the thread when its sleep ends; then both lanes time out and
    // answer again, and the worker is the same one.
    let ended = server.wait_marker("lane-end-a");
    eprintln!("lane a ended with {ended}");
    let b = spawn_get(port, "/lane?s=3&id=b");
    let c = spawn_get(port, "/lane?s=3&id=c");
    for (name, handle) in [("b", b), ("c", c)] {
        let (resp, _) = handle.join().unwrap();
        let status = resp.map(|r| r.status);
        assert_eq!(status, Some(504), "request {name}");
    }
    server.wait_marker("lane-end-b");
    server.wait_marker("lane-end-c");

    // On a kept-alive connection the 504 ends the connection, and the app's own response,
    // when it finally comes, is never written after it.
    let mut k = Client::connect(port);
    assert_eq!(k.get("/").header("Connection"), Some("keep-alive"));
    let r = k.get("/lane?s=2&id=k");
    assert_eq!(r.status, 504);
    assert_eq!(r.header("Connection"), Some("close"), "{r:?}");
    server.wait_marker("lane-end-k");
    match k.ending(Duration::from_secs(10)) {
        Ending::Eof(rest) => assert!(
            rest.is_empty(),
            "bytes after the 504: {:?}",
            String::from_utf8_lossy(&rest)
        ),
        other => panic!("after a 504 on a kept-alive connection: {other:?}"),
    }
    assert_eq!(server.fetch("/pid").text(), pid, "no restart");
    assert_eq!(server.booted_pids().len(), 1, "{}", server.log());
}

#[test]
fn wsgi_multithread_is_true_under_gthread_only() {
    let threaded = gthread("4", &[]);
    let env = threaded.fetch("/env").json();
    assert_eq!(env["__wsgi__"]["multithread"], true);
    drop(threaded);
    let sync = Server::hello(&[], 1);
    let env = sync.fetch("/env").json();
    assert_eq!(env["__wsgi__"]["multithread"], false);
}

#[test]
fn threads_above_one_mean_gthread() {
    let server = Server::hello(&["--threads", "4"], 1);
    server.wait_for("Using worker: gthread", WAIT);
    let r = server.fetch("/env");
    assert_eq!(r.json()["__wsgi__"]["multithread"], true);
    let mut c = Client::connect(server.port());
    assert_eq!(c.get("/").header("Connection"), Some("keep-alive"));

    let sync = Server::hello(&["--threads", "1"], 1);
    sync.wait_for("Using worker: sync", WAIT);
}

/// The 103 block, then the final response, as one raw byte string.
fn hints_exchange(server: &Server, request: &[u8]) -> Vec<u8> {
    let raw = server.http(request);
    assert!(
        count_status_lines(&raw) >= 1,
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    raw
}

#[test]
fn early_hints_come_before_the_response() {
    for kind in ["sync", "gthread"] {
        let server = Server::hello(&["-k", kind], 1);
        let raw = hints_exchange(
            &server,
            b"GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let text = String::from_utf8_lossy(&raw);
        let all = parse_all(&raw, false);
        let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [103, 200], "{kind}: {text:?}");
        assert!(
            text.starts_with("HTTP/1.1 103 Early Hints\r\n"),
            "{kind}: {text:?}"
        );
        assert_eq!(
            all[0].header("Link"),
            Some("</style.css>; rel=preload; as=style"),
            "{kind}"
        );
        assert_eq!(all[1].text(), "after hints\n");

        // Under gthread the connection goes on after the 103 and the 200.
        if kind == "gthread" {
            let mut c = Client::connect(server.port());
            c.send(b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(c.next_response(false).status, 103);
            let r = c.next_response(false);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("Connection"), Some("keep-alive"));
            assert_eq!(c.get("/").status, 200);
        }

        // HTTP/1.0 has no interim responses (RFC 9110 §15.2).
        let raw = hints_exchange(&server, b"GET /hints HTTP/1.0\r\n\r\n");
        let statuses: Vec<u16> = parse_all(&raw, false).iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [200],
            "{kind}: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are 11 and 12 after the comm; clock ticks of 1/100 s.
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// Bytes the app has not read yet (a body, a pipelined request) keep a connection readable
/// while its request is served; the lane then waiting on the sockets must not be woken for it
/// again and again (the registration is level-triggered: it is switched off until the serving
/// lane parks it). A spinning lane would burn a whole CPU for the request's two seconds.
#[test]
fn unread_bytes_during_a_request_do_not_spin_the_other_lanes() {
    use std::io::Write;
    let server = gthread("3", &[]);
    let pid = *server.worker_pids().iter().next().expect("a worker");
    let mut client = server.connect();
    // More than the first read takes with the head: the rest stays in the socket, unread.
    let body = "a".repeat(200 * 1024);
    let request = format!(
        "POST /sleep?s=2 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // A first request makes it a kept-alive connection, registered with the worker's epoll.
    client
        .write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_until(&mut client, pid.to_string().as_bytes());
    let before = cpu_seconds(pid);
    let started = Instant::now();
    client.write_all(request.as_bytes()).unwrap();
    let raw = read_until(&mut client, b"slept 2.0");
    let used = cpu_seconds(pid) - before;
    let took = started.elapsed();
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));
    assert!(
        used < took.as_secs_f64() / 2.0,
        "the worker used {used:.2} s of CPU during a {took:?} request"
    );
}
