//! What a test asks of a running [`Server`]: its address, its log, its workers, a request,
//! the marker files its apps write.

use super::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

impl Server {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn master_pid(&self) -> u32 {
        self.pid
    }

    /// The server's `XDG_RUNTIME_DIR` (unless the test named another): a control socket it
    /// opens by default is in `gunicorn-rs/` under it.
    pub fn runtime_dir(&self) -> std::path::PathBuf {
        self.dir.path().join(super::process::RUNTIME_DIR)
    }

    /// What `Listening at:` announced (first listener), e.g. `http://127.0.0.1:41234`.
    pub fn listening(&self) -> &str {
        self.listening
            .as_deref()
            .expect("server announced a listener")
    }

    /// The real port of a `-b 127.0.0.1:0` listener, from the `Listening at:` line.
    pub fn port(&self) -> u16 {
        let first = self.listening().split(',').next().unwrap();
        let port = first.rsplit(':').next().unwrap();
        port.parse()
            .unwrap_or_else(|_| panic!("no port in 'Listening at: {first}'"))
    }

    /// Waits for a stderr line containing `pattern`; panics with the whole log on timeout.
    pub fn wait_for(&self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_from(0, pattern, timeout)
    }

    /// Like `wait_for`, counting only lines from index `from` on (see `mark`).
    pub fn wait_for_from(&self, from: usize, pattern: &str, timeout: Duration) -> String {
        match self.stderr.find_from(from, pattern, timeout) {
            Some(line) => line,
            None => panic!(
                "no log line containing {pattern:?} within {timeout:?}; log:\n{}",
                self.stderr.text()
            ),
        }
    }

    /// Waits until `n` stderr lines contain `pattern`.
    pub fn wait_count(&self, pattern: &str, n: usize, timeout: Duration) -> Vec<String> {
        match self.stderr.count(pattern, n, timeout) {
            Some(lines) => lines,
            None => panic!(
                "fewer than {n} log lines containing {pattern:?} within {timeout:?}; log:\n{}",
                self.stderr.text()
            ),
        }
    }

    /// The current length of the error log, to wait for lines that come after it.
    pub fn mark(&self) -> usize {
        self.stderr.len()
    }

    pub fn log(&self) -> String {
        self.stderr.text()
    }

    /// Waits for `n` `Booting worker with pid:` lines and for `n` live workers in /proc.
    pub fn wait_workers(&self, n: usize) -> BTreeSet<u32> {
        self.wait_count("Booting worker with pid: ", n, WAIT);
        self.wait_live_workers(n)
    }

    /// Polls /proc until exactly `n` live (non-zombie) children of the master exist.
    pub fn wait_live_workers(&self, n: usize) -> BTreeSet<u32> {
        let pid = self.pid;
        let what = format!("{n} live workers of master {pid}");
        poll(WAIT, &what, || {
            let pids = children(pid);
            (pids.len() == n).then_some(pids)
        })
    }

    /// Worker pids: the live children of the master, from /proc.
    pub fn worker_pids(&self) -> BTreeSet<u32> {
        children(self.pid)
    }

    /// Pids announced by `Booting worker with pid: N` lines, in order.
    pub fn booted_pids(&self) -> Vec<u32> {
        self.stderr
            .snapshot()
            .iter()
            .filter_map(|l| l.split("Booting worker with pid: ").nth(1))
            .filter_map(|p| p.trim().parse().ok())
            .collect()
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid as i32), sig).expect("signal the master");
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port())).expect("connect to the server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `raw` on a new connection and returns every byte the server sent until it closed.
    pub fn http(&self, raw: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(raw).expect("send request");
        read_all(&mut stream)
    }

    /// `GET path HTTP/1.1` on a new connection, parsed.
    pub fn get(&self, path: &str) -> Response {
        let raw = self.http(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        parse_one(&raw, false)
    }

    /// `GET path HTTP/1.1` on a new connection, reading one response without waiting for the
    /// server to close (for kept-alive connections); the connection is dropped after it.
    pub fn fetch(&self, path: &str) -> Response {
        Client::connect(self.port()).get(path)
    }

    /// `GET` returning `None` when the connection failed (refused, reset, closed early).
    pub fn try_get(&self, path: &str) -> Option<Response> {
        try_get(self.port(), path)
    }

    /// A file the test apps wrote into `TEST_MARKER_DIR`, once it exists.
    pub fn marker(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(name)).ok()
    }

    pub fn wait_marker(&self, name: &str) -> String {
        poll(WAIT, &format!("marker file {name}"), || self.marker(name))
    }

    /// The name of the first marker file starting with `prefix`, once one exists.
    pub fn wait_marker_prefix(&self, prefix: &str) -> String {
        poll(WAIT, &format!("a marker file {prefix}*"), || {
            self.markers(prefix).pop()
        })
    }

    /// Names of marker files starting with `prefix`.
    pub fn markers(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix) && !n.ends_with(".tmp"))
            .collect();
        names.sort();
        names
    }
}
