//! Slow clients (reliability.md §4, "Slowloris"): heads trickled a line at a time hold no
//! worker and no thread, under `-k sync` and `-k gthread` alike; `--header-timeout` bounds the
//! whole head, however steadily it trickles; and under sync a head that completes while its
//! worker runs a slow request is served by an idle sibling instead of waiting behind it.

use crate::support::*;
use nix::sys::signal::Signal;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Client sockets the server's workers hold, summed.
fn worker_sockets(server: &Server) -> usize {
    server.worker_pids().iter().map(|&p| socket_count(p)).sum()
}

/// `n` clients that each sent a request line and then add one header line per second.
struct Trickle {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
    errors: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<Vec<TcpStream>>>,
}

impl Trickle {
    fn start(port: u16, n: usize) -> Trickle {
        let mut socks: Vec<TcpStream> = (0..n)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
            .collect();
        for s in &mut socks {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let (s, r, e) = (stop.clone(), rounds.clone(), errors.clone());
        let handle = std::thread::spawn(move || {
            let mut round = 0;
            while !s.load(Ordering::Relaxed) {
                // The pace of the attack, not a wait for readiness.
                std::thread::sleep(Duration::from_secs(1));
                round += 1;
                for sock in &mut socks {
                    if sock
                        .write_all(format!("X-Trickle: {round}\r\n").as_bytes())
                        .is_err()
                    {
                        e.fetch_add(1, Ordering::Relaxed);
                    }
                }
                r.store(round, Ordering::Relaxed);
            }
            socks
        });
        Trickle {
            stop,
            rounds,
            errors,
            handle: Some(handle),
        }
    }

    fn rounds(&self) -> usize {
        self.rounds.load(Ordering::Relaxed)
    }

    fn errors(&self) -> usize {
        self.errors.load(Ordering::Relaxed)
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// 40 trickling clients, then 10 normal requests, each timed.
pub(crate) fn normal_requests_beside_40_slowloris(server: &Server, kind: &str) {
    let base: usize = idle_worker_sockets(server).values().sum();
    let trickle = Trickle::start(server.port(), 40);
    poll(WAIT, "the workers to hold the 40 slow connections", || {
        (worker_sockets(server) >= base + 40).then_some(())
    });
    // Let the clients trickle a while, so the server has had their lines to read.
    poll(WAIT, "two trickle rounds", || {
        (trickle.rounds() >= 2).then_some(())
    });
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let r = server.fetch("/");
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect();
    let rounds = trickle.rounds();
    assert_eq!(trickle.errors(), 0, "the slow clients were cut off early");
    times.sort();
    let (median, worst) = (times[5], times[9]);
    eprintln!(
        "{kind}: normal requests beside 40 slowloris clients (after {rounds} trickle rounds): \
         median {median:?}, worst {worst:?}"
    );
    // The bound is 100 ms; a stalled worker would take seconds (a line a second, up
    // to --header-timeout 10 s), so this margin tolerates a loaded machine, not a stall.
    assert!(median < Duration::from_millis(500), "median {median:?}");
    assert!(worst < Duration::from_secs(2), "worst {worst:?}");
}

#[test]
fn slowloris_does_not_stall_sync_workers() {
    let server = Server::hello(&["-k", "sync"], 2);
    normal_requests_beside_40_slowloris(&server, "sync -w 2");
}

#[test]
fn slowloris_does_not_stall_gthread_workers() {
    let server = Server::hello(&["-k", "gthread", "--threads", "2"], 2);
    normal_requests_beside_40_slowloris(&server, "gthread -w 2 --threads 2");
}

#[test]
fn header_timeout_bounds_a_trickled_head() {
    for kind in ["sync", "gthread"] {
        let server = Server::hello(&["-k", kind, "--header-timeout", "2"], 1);
        let mut c = Client::connect(server.port());
        let t = Instant::now();
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
        // A line every 300 ms keeps the connection busy, but never completes the head.
        let ending = loop {
            match c.ending(Duration::from_millis(300)) {
                Ending::Open(bytes) if bytes.is_empty() && t.elapsed() < Duration::from_secs(8) => {
                    if c.stream.write_all(b"X-Slow: 1\r\n").is_err() {
                        break c.ending(Duration::from_secs(5));
                    }
                }
                other => break other,
            }
        };
        let took = t.elapsed();
        eprintln!("{kind}: trickled head closed after {took:?}: {ending:?}");
        let bytes = match ending {
            Ending::Eof(bytes) | Ending::Reset(bytes) => bytes,
            Ending::Open(bytes) => panic!("{kind}: still open after {took:?}: {bytes:?}"),
        };
        if !bytes.is_empty() {
            let r = parse_one(&bytes, false);
            assert_eq!(r.status, 408, "{kind}: {r:?}");
        }
        assert!(
            took >= Duration::from_millis(1500),
            "{kind}: closed after {took:?}"
        );
        assert!(
            took < Duration::from_secs(6),
            "{kind}: closed after {took:?}"
        );
        assert_eq!(server.fetch("/").status, 200);
    }
}

#[test]
fn sync_head_completed_beside_a_busy_worker_goes_to_an_idle_one() {
    let server = Server::hello(&["-k", "sync"], 2);
    let port = server.port();
    let idle = idle_worker_sockets(&server);
    let workers: Vec<u32> = idle.keys().copied().collect();
    let base: Vec<usize> = idle.values().copied().collect();
    // Eleven heads arrive together, so one worker tends to take most of them; the one in the
    // middle will be a slow request, making its worker busy while it holds the others.
    let mut partial: Vec<Client> = (0..11).map(|_| Client::connect(port)).collect();
    for (i, c) in partial.iter_mut().enumerate() {
        let path = if i == 5 { "/sleep?s=3" } else { "/pid" };
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n").as_bytes());
    }
    poll(WAIT, "the workers to hold the 11 partial heads", || {
        (worker_sockets(&server) >= base.iter().sum::<usize>() + 11).then_some(())
    });
    let held: Vec<usize> = workers
        .iter()
        .zip(&base)
        .map(|(&p, b)| socket_count(p).saturating_sub(*b))
        .collect();

    let mut slow = partial.remove(5);
    let slow_started = Instant::now();
    slow.send(b"\r\n");
    let busy = server.wait_marker_prefix("sleeping-");
    let busy: u32 = busy["sleeping-".len()..].parse().unwrap();
    let busy_held = workers
        .iter()
        .position(|&p| p == busy)
        .map_or(0, |i| held[i].saturating_sub(1));
    eprintln!(
        "partial heads held per worker {workers:?}: {held:?}; the busy worker {busy} held \
         {busy_held} besides the slow one"
    );

    for c in &mut partial {
        c.send(b"\r\n");
    }
    let answered: Vec<(Instant, String)> = partial
        .iter_mut()
        .map(|c| {
            let r = c.response();
            (Instant::now(), r.text())
        })
        .collect();
    let slow_resp = slow.response();
    let slow_done = Instant::now();
    assert_eq!(slow_resp.text(), "slept 3.0");
    for (at, pid) in &answered {
        assert_ne!(pid, &busy.to_string(), "served by the busy worker");
        assert!(
            *at < slow_done,
            "a completed head waited for the slow request ({:?} after it began)",
            *at - slow_started
        );
    }
    let last = answered.iter().map(|(at, _)| *at).max().unwrap();
    eprintln!(
        "10 heads answered {:?} after the slow request began (it took {:?})",
        last - slow_started,
        slow_done - slow_started
    );
    assert!(
        last - slow_started < Duration::from_millis(2500),
        "the heads were answered only {:?} after the slow request began",
        last - slow_started
    );
}

/// TERM stops every sync worker at once. A head still arriving then is answered: the holding
/// worker's hand-off goes to siblings that are stopping too, and whichever worker leaves last
/// must take it from the queue rather than leave it to close with the master.
#[test]
fn term_answers_a_head_arriving_while_every_sync_worker_stops() {
    let server = Server::hello(&["-k", "sync"], 2);
    let base = worker_sockets(&server);
    let mut client = Client::connect(server.port());
    client.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n");
    poll(WAIT, "a worker to hold the partial head", || {
        (worker_sockets(&server) > base).then_some(())
    });
    let mark = server.mark();
    server.signal(Signal::SIGTERM);
    // One worker has stopped: the stop reached the workers before the head completes.
    server.wait_for_from(mark, "Worker exiting", WAIT);
    client.send(b"\r\n");
    let response = client.try_response(false);
    let response = response.unwrap_or_else(|e| panic!("no answer: {e:?}\n{}", server.log()));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
}
