//! Clients that leave mid-request or do not read: the greenlet ends quietly, and waits on a
//! slow client go through the hub, never blocking or spinning it.

use super::*;
use std::time::{Duration, Instant};

/// Log lines at or above WARNING (and tracebacks) from index `from` on.
pub(crate) fn alarming_lines(server: &Server, from: usize) -> Vec<String> {
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
pub(crate) fn a_client_that_leaves_mid_request_ends_its_greenlet_quietly(kind: &str) {
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

/// Bytes the kernel holds on the server's side of the connection `server_port` ↔
/// `client_port` that the client has not taken (`tx_queue` in /proc/net/tcp).
pub(crate) fn unsent_to(server_port: u16, client_port: u16) -> Option<u64> {
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
pub(crate) fn others_are_served_while_one_waits(server: &Server, worker: u32, what: &str) {
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
pub(crate) fn waits_on_a_slow_client_let_the_other_greenlets_run(kind: &str) {
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
