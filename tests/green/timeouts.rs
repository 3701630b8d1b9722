//! Time limits on a green worker: `--timeout` as the hub's heartbeat (a greenlet holding the
//! GIL is a WORKER TIMEOUT, one that yields or downloads steadily is not), `--request-timeout`'s
//! 504, and TERM with a connection that never sent a byte.

use super::*;
use nix::sys::signal::Signal;
use std::io::Read;
use std::time::{Duration, Instant};

/// The classic gevent failure, explained: a request that holds the GIL in C (a catastrophic
/// regex) never yields to the hub, the main greenlet's heartbeat stops, and after `--timeout`
/// the master logs the stack of what blocked, kills the worker and starts another.
pub(crate) fn a_greenlet_holding_the_gil_is_a_worker_timeout(kind: &str) {
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
pub(crate) fn a_long_request_that_yields_is_not_a_worker_timeout(kind: &str) {
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

/// Reads the response to `path` at most 256 KiB every 50 ms (about 5 MB/s, through a
/// 256 KiB receive buffer) until it is complete or the connection ends: the bytes and how long.
pub(crate) fn download_steadily(port: u16, path: &str) -> (Vec<u8>, Duration) {
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
pub(crate) fn a_steady_download_longer_than_the_timeout_is_sent_whole(kind: &str) {
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
pub(crate) fn request_timeout_answers_504_and_interrupts_the_greenlet(kind: &str) {
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
pub(crate) fn term_closes_a_connection_that_sent_nothing_at_once(kind: &str) {
    term_closes_a_connection_that_sent_nothing_at_once_with(kind, "hello:app");
}

/// The same with `app` (an ASGI app under `-k asgi`), answering `/` with a 200.
pub(crate) fn term_closes_a_connection_that_sent_nothing_at_once_with(kind: &str, app: &str) {
    let mut server = green(kind, app, &["--header-timeout", "20"], 1);
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
