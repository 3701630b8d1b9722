//! A statsd receiver for tests/statsd.rs: a real datagram socket (UDP on 127.0.0.1 port 0, or a
//! Unix datagram socket) read by a thread, each datagram parsed strictly as the statsd /
//! DogStatsD line format.

use crate::support::WAIT;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One statsd line: `NAME:VALUE|TYPE[|@RATE][|#TAGS]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub kind: String,
    pub rate: Option<f64>,
    pub tags: Vec<String>,
}

/// Parses one datagram strictly: one line, a dotted name of `[A-Za-z0-9_-]` parts, a number, a
/// known type, a rate only on counters, tags as `#k:v,...`; anything else fails the test.
fn parse(datagram: &[u8]) -> Metric {
    let text = std::str::from_utf8(datagram).unwrap_or_else(|_| panic!("not UTF-8: {datagram:?}"));
    assert!(!text.contains('\n'), "one metric per datagram: {text:?}");
    let (name, rest) = text
        .split_once(':')
        .unwrap_or_else(|| panic!("no ':' in {text:?}"));
    let name_ok = name.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    assert!(name_ok, "bad metric name in {text:?}");
    let mut fields = rest.split('|');
    let value: f64 = fields
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad value in {text:?}"));
    let kind = fields.next().unwrap_or_default().to_string();
    assert!(
        ["c", "ms", "g", "h"].contains(&kind.as_str()),
        "bad type in {text:?}"
    );
    let mut metric = Metric {
        name: name.into(),
        value,
        kind,
        rate: None,
        tags: Vec::new(),
    };
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            assert!(metric.rate.is_none() && metric.tags.is_empty(), "{text:?}");
            assert_eq!(metric.kind, "c", "a sample rate on a non-counter: {text:?}");
            metric.rate = Some(
                rate.parse()
                    .unwrap_or_else(|_| panic!("bad rate: {text:?}")),
            );
        } else if let Some(tags) = field.strip_prefix('#') {
            assert!(metric.tags.is_empty(), "{text:?}");
            metric.tags = tags.split(',').map(String::from).collect();
            assert!(metric.tags.iter().all(|t| !t.is_empty()), "{text:?}");
        } else {
            panic!("unknown field {field:?} in {text:?}");
        }
    }
    metric
}

/// A statsd receiver: a thread reads every datagram as it arrives (a Unix datagram queue holds
/// only `net.unix.max_dgram_qlen` of them) and parses it.
pub struct Receiver {
    got: Arc<(Mutex<Vec<Metric>>, Condvar)>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

trait Datagrams: Send + 'static {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}
impl Datagrams for UdpSocket {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recv(buf)
    }
}
impl Datagrams for UnixDatagram {
    fn receive(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recv(buf)
    }
}

impl Receiver {
    /// UDP on 127.0.0.1, a port the kernel picks; returns `HOST:PORT` for `--statsd-host`.
    pub fn udp() -> (Receiver, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the statsd receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let address = socket.local_addr().unwrap().to_string();
        (Receiver::spawn(socket), address)
    }

    pub fn unix(path: &Path) -> Receiver {
        let socket = UnixDatagram::bind(path).expect("bind the unix statsd receiver");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Receiver::spawn(socket)
    }

    fn spawn(socket: impl Datagrams) -> Receiver {
        let got = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, done) = (Arc::clone(&got), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = socket.receive(&mut buf) {
                    let metric = parse(&buf[..n]);
                    sink.0.lock().unwrap().push(metric);
                    sink.1.notify_all();
                }
            }
        });
        Receiver {
            got,
            stop,
            thread: Some(thread),
        }
    }

    pub fn all(&self) -> Vec<Metric> {
        self.got.0.lock().unwrap().clone()
    }

    /// Waits (bounded) until `done` holds over everything received so far.
    pub fn wait(&self, what: &str, done: impl Fn(&[Metric]) -> bool) -> Vec<Metric> {
        let deadline = Instant::now() + WAIT;
        let mut got = self.got.0.lock().unwrap();
        while !done(&got) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "no {what} within {WAIT:?}; received:\n{got:#?}"
            );
            got = self.got.1.wait_timeout(got, deadline - now).unwrap().0;
        }
        got.clone()
    }

    /// Like [`Receiver::wait`], for at most `timeout`; `None` if `done` does not hold by then.
    pub fn wait_up_to(&self, timeout: Duration, done: impl Fn(&[Metric]) -> bool) -> Option<()> {
        let deadline = Instant::now() + timeout;
        let mut got = self.got.0.lock().unwrap();
        while !done(&got) {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            got = self.got.1.wait_timeout(got, deadline - now).unwrap().0;
        }
        Some(())
    }

    /// Waits until the counter `name` sums to at least `n`.
    pub fn wait_count(&self, name: &str, n: f64) -> Vec<Metric> {
        self.wait(&format!("{name} >= {n}"), |m| sum(m, name) >= n)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn sum(metrics: &[Metric], name: &str) -> f64 {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .sum()
}

pub fn values(metrics: &[Metric], name: &str) -> Vec<f64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .collect()
}
