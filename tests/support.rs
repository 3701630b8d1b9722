//! Test harness: the real `gunicorn-rs` binary as a black box.
//!
//! `Server` starts the binary on port 0 in its own temp dir, collects stderr (the error log) and
//! stdout (the access log with `--access-logfile -`) on reader threads, and gives tests events to
//! wait for: log lines, process state in /proc, marker files the test apps write. Every wait is
//! bounded; nothing sleeps for readiness (house rule 11). Dropping a `Server` stops it by pid.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The longest any single wait may take. Tests run two at a time on two cores, so this is generous.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a client waits for a response before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_gunicorn-rs")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn apps_dir() -> PathBuf {
    repo().join("tests").join("apps")
}

pub fn apps() -> String {
    apps_dir().to_string_lossy().into_owned()
}

/// The virtualenv with flask, django and requests that CI creates (`.ci/run`). Tests that need it
/// fail loudly when it is missing: a skipped venv test would hide exactly what it checks.
pub fn venv() -> PathBuf {
    let path = std::env::var_os("GUNICORN_RS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    assert!(
        path.join("bin").join("python").exists() && path.join("pyvenv.cfg").exists(),
        "no virtualenv at {} (set GUNICORN_RS_TEST_VENV, or create it: python3 -m venv .venv && \
         .venv/bin/pip install flask django requests)",
        path.display()
    );
    path.canonicalize().expect("venv path resolves")
}

/// Lines of one output stream, appended by a reader thread; waiters are woken per line.
pub struct Lines {
    state: Mutex<(Vec<String>, bool)>,
    cond: Condvar,
}

impl Lines {
    pub fn spawn(source: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines {
            state: Mutex::new((Vec::new(), false)),
            cond: Condvar::new(),
        });
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(source);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        sink.state.lock().unwrap().0.push(line);
                        sink.cond.notify_all();
                    }
                }
            }
            sink.state.lock().unwrap().1 = true;
            sink.cond.notify_all();
        });
        lines
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.state.lock().unwrap().0.clone()
    }

    pub fn text(&self) -> String {
        self.snapshot().join("\n")
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap().0.len()
    }

    /// Waits until `done(lines)` holds; `None` on timeout or when the stream ended without it.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(found) = done(&state.0) {
                return Some(found);
            }
            let now = Instant::now();
            if state.1 || now >= deadline {
                return None;
            }
            state = self.cond.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// The first line at index ≥ `from` containing `pattern`.
    pub fn find_from(&self, from: usize, pattern: &str, timeout: Duration) -> Option<String> {
        self.wait_until(timeout, |lines| {
            lines
                .iter()
                .skip(from)
                .find(|l| l.contains(pattern))
                .cloned()
        })
    }

    /// Every line, once the stream has ended (every writer gone): what "exactly n" and "never"
    /// checks must read, since an open stream can still have more to say.
    pub fn ended(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while !state.1 {
            let now = Instant::now();
            assert!(now < deadline, "the stream did not end within {timeout:?}");
            state = self.cond.wait_timeout(state, deadline - now).unwrap().0;
        }
        state.0.clone()
    }

    /// Waits for `n` lines containing `pattern`, returns them all once there are at least `n`.
    pub fn count(&self, pattern: &str, n: usize, timeout: Duration) -> Option<Vec<String>> {
        self.wait_until(timeout, |lines| {
            let hits: Vec<String> = lines
                .iter()
                .filter(|l| l.contains(pattern))
                .cloned()
                .collect();
            (hits.len() >= n).then_some(hits)
        })
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for state that has no event (/proc, files).
pub fn poll<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How a server process is started.
#[derive(Default, Clone)]
pub struct Opts {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
    /// Working directory; default: the server's own temp dir.
    pub cwd: Option<PathBuf>,
    /// What to run instead of the built binary (a copy of it, or a launcher followed by it);
    /// `args` follow.
    pub program: Vec<String>,
}

impl Opts {
    pub fn new(args: &[&str]) -> Opts {
        Opts {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Opts::default()
        }
    }
    pub fn env(mut self, key: &str, value: &str) -> Opts {
        self.env.push((key.into(), value.into()));
        self
    }
    pub fn env_remove(mut self, key: &str) -> Opts {
        self.env_remove.push(key.into());
        self
    }
    pub fn cwd(mut self, dir: &Path) -> Opts {
        self.cwd = Some(dir.to_path_buf());
        self
    }
    pub fn program(mut self, program: &[&str]) -> Opts {
        self.program = program.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Runs the server in `venv`, activated as a shell would: `VIRTUAL_ENV` set and its `bin`
    /// first on `PATH` (for the apps and worker kinds that need its packages).
    pub fn in_venv(self, venv: &Path) -> Opts {
        let path = std::env::var("PATH").unwrap_or_default();
        let bin = venv.join("bin");
        self.env("VIRTUAL_ENV", &venv.to_string_lossy())
            .env("PATH", &format!("{}:{path}", bin.display()))
    }
    /// [`Opts::in_venv`] with the test virtualenv ([`venv`]).
    pub fn with_venv(self) -> Opts {
        self.in_venv(&venv())
    }
}

/// Settings from the test runner's environment that would change what the binary does.
const SCRUBBED_ENV: &[&str] = &[
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "PORT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "LISTEN_FDS",
    "LISTEN_PID",
];

pub struct Server {
    child: Child,
    pub stderr: Arc<Lines>,
    pub stdout: Arc<Lines>,
    /// The server's cwd (unless overridden) and `TEST_MARKER_DIR` for the test apps.
    pub dir: tempfile::TempDir,
    pid: u32,
    listening: Option<String>,
    status: Option<ExitStatus>,
}

impl Server {
    /// Spawns the binary and returns at once (no readiness wait): for boot failures and exits.
    pub fn spawn(opts: Opts) -> Server {
        Server::spawn_program(bin(), opts)
    }

    /// Like [`Server::spawn`] with another program in front (a launcher that execs the server;
    /// the pid is then the server's after the exec).
    pub fn spawn_program(program: &str, opts: Opts) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-rs-test-")
            .tempdir()
            .expect("temp dir");
        let mut cmd = match opts.program.split_first() {
            Some((program, prefix)) => {
                let mut cmd = Command::new(program);
                cmd.args(prefix);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(&opts.args)
            .current_dir(opts.cwd.as_deref().unwrap_or(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in SCRUBBED_ENV
            .iter()
            .copied()
            .chain(opts.env_remove.iter().map(String::as_str))
        {
            cmd.env_remove(key);
        }
        cmd.env("TEST_MARKER_DIR", dir.path());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = spawn_retrying_busy(&mut cmd);
        let stderr = Lines::spawn(child.stderr.take().unwrap());
        let stdout = Lines::spawn(child.stdout.take().unwrap());
        let pid = child.id();
        Server {
            child,
            stderr,
            stdout,
            dir,
            pid,
            listening: None,
            status: None,
        }
    }

    /// Starts the binary and waits for `Listening at:`; from then on connections queue in the
    /// listener's backlog, so requests can be sent.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut opts = Opts::new(args);
        for (k, v) in env {
            opts = opts.env(k, v);
        }
        Server::start_with(opts)
    }

    pub fn start_with(opts: Opts) -> Server {
        let mut server = Server::spawn(opts);
        let line = server.wait_for("Listening at: ", WAIT);
        let rest = &line[line.find("Listening at: ").unwrap() + "Listening at: ".len()..];
        server.listening = Some(
            rest.rsplit_once(" (")
                .map(|(a, _)| a)
                .unwrap_or(rest)
                .to_string(),
        );
        server
    }

    /// `hello:app` from tests/apps on 127.0.0.1:0 with `extra` args; waits for `workers` boots.
    pub fn hello(extra: &[&str], workers: usize) -> Server {
        Server::app("hello:app", extra, workers)
    }

    pub fn app(app: &str, extra: &[&str], workers: usize) -> Server {
        Server::app_with(app, extra, workers, Opts::default())
    }

    pub fn app_with(app: &str, extra: &[&str], workers: usize, base: Opts) -> Server {
        let apps = apps();
        let w = workers.to_string();
        let mut args = vec!["-b", "127.0.0.1:0", "-w", &w, "--chdir", &apps];
        args.extend_from_slice(extra);
        args.push(app);
        let mut opts = base;
        opts.args = args.iter().map(|s| s.to_string()).collect();
        let server = Server::start_with(opts);
        server.wait_workers(workers);
        server
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn master_pid(&self) -> u32 {
        self.pid
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

    /// The master's exit status if it has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Polls the master's exit status; panics (with the log) if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.status = Some(status);
                // Drain the pipes so the log is complete for the assertions that follow.
                self.stderr
                    .wait_until(Duration::from_secs(5), |_| None::<()>);
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "master {} still running after {timeout:?}; log:\n{}",
                    self.pid,
                    self.stderr.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        if self.status.is_none() {
            // Keep the status: `stop` (and Drop) must not wait for a child already reaped.
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// TERM, wait (bounded), then KILL; also KILLs any worker left behind. Returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let workers: Vec<u32> = self.booted_pids();
        if self.is_running() {
            let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                if let Some(status) = self.child.try_wait().expect("try_wait") {
                    self.status = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.status.is_none() {
                let _ = self.child.kill();
                self.status = Some(self.child.wait().expect("wait after kill"));
            }
        }
        for pid in workers {
            if is_our_process(pid) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        self.stderr
            .wait_until(Duration::from_secs(5), |_| None::<()>);
        self.status.expect("exit status")
    }
}

impl Server {
    /// Stops the server; its whole error log, complete: for checks that a line never came.
    pub fn stop_and_log(&mut self) -> String {
        self.stop();
        self.stderr.ended(WAIT).join("\n")
    }
}

/// True (after a loud `SKIPPED` line) when this test cannot run: it needs root. CI runs as root
/// and sets `GUNICORN_RS_TESTS_AS_ROOT`, under which a skip is a failure instead.
pub fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    assert!(
        std::env::var_os("GUNICORN_RS_TESTS_AS_ROOT").is_none(),
        "{test} needs root, and GUNICORN_RS_TESTS_AS_ROOT says this run has it"
    );
    eprintln!("SKIPPED {test}: needs root (CI runs it as root)");
    true
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Is `pid` a live gunicorn-rs process (so a recycled pid is never signalled)?
fn is_our_process(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
        && cmdline(pid).is_some_and(|c| c.contains("gunicorn-rs"))
}

/// `/proc/PID/cmdline` with NULs as spaces (process titles overwrite argv).
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_string(),
    )
}

/// (state, ppid) from /proc/PID/stat; the comm field may contain spaces and parentheses.
fn stat(pid: u32) -> Option<(char, u32)> {
    let raw = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &raw[raw.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn proc_state(pid: u32) -> Option<char> {
    stat(pid).map(|(s, _)| s)
}

/// True while `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

/// Live (non-zombie) children of `parent`.
pub fn children(parent: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((state, ppid)) = stat(pid) {
            if ppid == parent && state != 'Z' {
                out.insert(pid);
            }
        }
    }
    out
}

/// A `key:  value kB` field of /proc/PID/status, in KiB.
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads until EOF (or a reset, keeping what arrived); panics if the server never closes.
pub fn read_all(stream: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return out
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "server did not close the connection within {IO_TIMEOUT:?}; got so far: {:?}",
                    String::from_utf8_lossy(&out)
                )
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Reads until `needle` appears (bounded by the stream's read timeout); returns all bytes read.
pub fn read_until(stream: &mut impl Read, needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => out.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!(
                "reading until {:?}: {e}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&out)
            ),
        }
    }
    out
}

pub fn try_get(port: u16, path: &str) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let (resp, _) = parse_response(&raw, false)?;
    resp.complete.then_some(resp)
}

/// Like [`try_get`] but reads one response without waiting for the server to close.
pub fn try_fetch(port: u16, path: &str) -> Option<Response> {
    let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    let mut client = Client {
        stream,
        buf: Vec::new(),
    };
    client
        .stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    client.try_response(false).ok()
}

/// A unix-socket round trip: send `raw`, read until close.
pub fn http_unix(path: &Path, raw: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("connect to the unix socket");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(raw).unwrap();
    read_all(&mut stream)
}

/// Half-closes our side after sending (the server sees EOF after `raw`).
pub fn send_and_half_close(stream: &mut TcpStream, raw: &[u8]) -> Vec<u8> {
    stream.write_all(raw).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_all(stream)
}

/// One parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body framing completed (Content-Length reached, terminal chunk seen, or close-delimited).
    pub complete: bool,
    /// Chunked framing was used.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response at the start of `raw`; returns it and the bytes consumed. `head_request`:
/// the request was HEAD, so no body follows whatever the headers say.
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<(Response, usize)> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?.to_string();
    if !version.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut resp = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        complete: true,
        chunked: false,
    };
    let mut pos = end + 4;
    if head_request || status < 200 || status == 204 || status == 304 {
        return Some((resp, pos));
    }
    let te = resp
        .header("Transfer-Encoding")
        .map(|v| v.to_ascii_lowercase());
    if te.as_deref().is_some_and(|t| t.ends_with("chunked")) {
        resp.chunked = true;
        let (body, used, complete) = decode_chunked(&raw[pos..]);
        resp.body = body;
        resp.complete = complete;
        pos += used;
    } else if let Some(cl) = resp.header("Content-Length") {
        let cl: usize = cl.parse().ok()?;
        let available = raw.len() - pos;
        resp.body = raw[pos..pos + cl.min(available)].to_vec();
        resp.complete = available >= cl;
        pos += cl.min(available);
    } else {
        resp.body = raw[pos..].to_vec();
        pos = raw.len();
    }
    Some((resp, pos))
}

/// Decodes a chunked body: (data, bytes used, saw the last chunk and the end of the trailers).
pub fn decode_chunked(raw: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find(&raw[pos..], b"\r\n") else {
            return (body, raw.len(), false);
        };
        let line = String::from_utf8_lossy(&raw[pos..pos + eol]).to_string();
        let size_text = line.split(';').next().unwrap().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, raw.len(), false);
        };
        pos += eol + 2;
        if size == 0 {
            // Trailer section, ended by an empty line.
            loop {
                let Some(eol) = find(&raw[pos..], b"\r\n") else {
                    return (body, raw.len(), false);
                };
                pos += eol + 2;
                if eol == 0 {
                    return (body, pos, true);
                }
            }
        }
        if raw.len() < pos + size + 2 {
            body.extend_from_slice(&raw[pos..raw.len().min(pos + size)]);
            return (body, raw.len(), false);
        }
        body.extend_from_slice(&raw[pos..pos + size]);
        if &raw[pos + size..pos + size + 2] != b"\r\n" {
            return (body, raw.len(), false);
        }
        pos += size + 2;
    }
}

/// Exactly one response, skipping `1xx` interim responses; panics with the raw bytes otherwise.
pub fn parse_one(raw: &[u8], head_request: bool) -> Response {
    let responses = parse_all(raw, head_request);
    let finals: Vec<&Response> = responses.iter().filter(|r| r.status >= 200).collect();
    assert_eq!(
        finals.len(),
        1,
        "expected exactly one final response, got {}: {:?}",
        finals.len(),
        String::from_utf8_lossy(raw)
    );
    finals[0].clone()
}

/// Every response in `raw`, in order; panics on bytes that are not a response.
pub fn parse_all(raw: &[u8], head_request: bool) -> Vec<Response> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match parse_response(&raw[pos..], head_request) {
            Some((resp, used)) => {
                pos += used;
                out.push(resp);
            }
            None => panic!(
                "unparseable bytes after {} response(s): {:?}",
                out.len(),
                String::from_utf8_lossy(&raw[pos..raw.len().min(pos + 400)])
            ),
        }
    }
    out
}

/// Counts status lines anywhere in the raw bytes (a smuggled second response shows up here even
/// if it is glued to the first one's body).
pub fn count_status_lines(raw: &[u8]) -> usize {
    raw.split(|&b| b == b'\n')
        .filter(|line| {
            line.len() >= 12
                && line.starts_with(b"HTTP/1.")
                && line[8] == b' '
                && line[9..12].iter().all(u8::is_ascii_digit)
        })
        .count()
}

/// A port that was free a moment ago (bind to 0, read, close).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the binary to completion (bounded) and returns (status, stdout, stderr).
pub fn run(opts: Opts) -> (ExitStatus, String, String) {
    let mut server = Server::spawn(opts);
    let status = server.wait_exit(WAIT);
    server
        .stdout
        .wait_until(Duration::from_secs(5), |_| None::<()>);
    (status, server.stdout.text(), server.stderr.text())
}

/// `GET path` in a loop on its own thread until `stop` is set: (successes, failures, pids seen).
/// One load thread's result: successes, failure descriptions, distinct bodies.
type LoadTally = (usize, Vec<String>, BTreeSet<String>);

pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    successes: Arc<std::sync::atomic::AtomicUsize>,
    handles: Vec<std::thread::JoinHandle<LoadTally>>,
}

impl Load {
    pub fn start(port: u16, path: &str, threads: usize) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let successes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handles = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let successes = Arc::clone(&successes);
                let path = path.to_string();
                std::thread::spawn(move || {
                    let (mut ok, mut failed, mut bodies) = (0, Vec::new(), BTreeSet::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // One response, not the server's close: kept-alive kinds keep
                        // the connection open after it.
                        match try_fetch(port, &path) {
                            Some(r) if r.status == 200 => {
                                ok += 1;
                                successes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                bodies.insert(r.text());
                            }
                            Some(r) => failed.push(format!("status {}", r.status)),
                            None => failed.push("connection failed".into()),
                        }
                    }
                    (ok, failed, bodies)
                })
            })
            .collect();
        Load {
            stop,
            successes,
            handles,
        }
    }

    /// Waits until `n` more requests have succeeded than when called: the load is flowing.
    pub fn wait_successes(&self, n: usize) {
        let target = self.successes.load(std::sync::atomic::Ordering::Relaxed) + n;
        poll(WAIT, &format!("{n} successful requests under load"), || {
            (self.successes.load(std::sync::atomic::Ordering::Relaxed) >= target).then_some(())
        });
    }

    /// Stops the load; returns (successes, failure descriptions, distinct bodies).
    pub fn finish(self) -> (usize, Vec<String>, BTreeSet<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut total = (0, Vec::new(), BTreeSet::new());
        for h in self.handles {
            let (ok, failed, bodies) = h.join().expect("load thread");
            total.0 += ok;
            total.1.extend(failed);
            total.2.extend(bodies);
        }
        total
    }
}

/// The harness's own parser must be able to say "incomplete" and "two responses", or the
/// truncation and smuggling tests that rely on it could not fail.
#[cfg(test)]
mod harness_self_test {
    use super::*;

    #[test]
    fn response_parser_detects_truncation_and_extra_responses() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        let (r, _) = parse_response(short, false).unwrap();
        assert!(!r.complete && r.body == b"hello");

        let no_last_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let (r, _) = parse_response(no_last_chunk, false).unwrap();
        assert!(r.chunked && !r.complete && r.body == b"hello");

        let full =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
        let (r, used) = parse_response(full, false).unwrap();
        assert!(r.complete && used == full.len());

        let two = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(parse_all(two, false).len(), 2);
        assert_eq!(count_status_lines(two), 2);
        let glued = b"HTTP/1.1 200 OK\r\n\r\nbodyHTTP/1.1 200 OK\r\n\r\n\nHTTP/1.1 500 X\r\n";
        assert_eq!(count_status_lines(glued), 2);
    }
}

/// How a connection ended when the client waited for the server to close it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// An orderly close (FIN), with whatever bytes came before it.
    Eof(Vec<u8>),
    /// ECONNRESET (or EPIPE): the server's RST, with whatever bytes came before it.
    Reset(Vec<u8>),
    /// Still open after the wait.
    Open(Vec<u8>),
}

/// A client connection that keeps the bytes it has not consumed, so responses on a kept-alive
/// or pipelined connection are read one at a time, without waiting for the server to close.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// A client on a connection made elsewhere (from another local address, say).
    pub fn on(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// This connection's local port (what the app sees as REMOTE_PORT).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().unwrap().port()
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send request");
    }

    /// `GET path HTTP/1.1` (kept alive unless the server says otherwise) and its response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        self.response()
    }

    /// The next final response, skipping interim (1xx) ones; panics if the connection ends
    /// first.
    pub fn response(&mut self) -> Response {
        loop {
            let resp = self.next_response(false);
            if resp.status >= 200 {
                return resp;
            }
        }
    }

    /// The next response, interim ones included; panics if the connection ends first.
    pub fn next_response(&mut self, head_request: bool) -> Response {
        match self.try_response(head_request) {
            Ok(resp) => resp,
            Err(ending) => panic!("the connection ended before a complete response: {ending:?}"),
        }
    }

    /// The next response, or how the connection ended before one was complete (a response
    /// cut short comes back as `Err` with its bytes).
    pub fn try_response(&mut self, head_request: bool) -> Result<Response, Ending> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf, head_request) {
                let framed = head_request
                    || resp.status < 200
                    || resp.status == 204
                    || resp.status == 304
                    || resp.chunked
                    || resp.header("Content-Length").is_some();
                if framed && resp.complete {
                    self.buf.drain(..used);
                    return Ok(resp);
                }
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    // EOF: a close-delimited response is complete now, anything else is cut.
                    let bytes = std::mem::take(&mut self.buf);
                    return match parse_response(&bytes, head_request) {
                        Some((resp, _))
                            if resp.complete
                                && !resp.chunked
                                && resp.header("Content-Length").is_none() =>
                        {
                            Ok(resp)
                        }
                        _ => Err(Ending::Eof(bytes)),
                    };
                }
                Err(e) if is_reset(&e) => return Err(Ending::Reset(std::mem::take(&mut self.buf))),
                Err(e) => panic!(
                    "reading a response: {e}; got so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads until the server closes (or `timeout` passes): the bytes that came, and how it
    /// ended. Bytes already buffered count as having come.
    pub fn ending(&mut self, timeout: Duration) -> Ending {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let deadline = Instant::now() + timeout;
        let ending = loop {
            match self.fill() {
                Ok(true) if Instant::now() < deadline => {}
                Ok(true) => break Ending::Open(std::mem::take(&mut self.buf)),
                Ok(false) => break Ending::Eof(std::mem::take(&mut self.buf)),
                Err(e) if is_reset(&e) => break Ending::Reset(std::mem::take(&mut self.buf)),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break Ending::Open(std::mem::take(&mut self.buf))
                }
                Err(e) => panic!("waiting for the server to close: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        ending
    }

    /// One read into the buffer: `Ok(false)` at EOF.
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// The venv's Python running one of the client scripts in tests/clients.
pub fn python_client(script: &str) -> Command {
    let mut cmd = Command::new(venv().join("bin").join("python"));
    cmd.arg(repo().join("tests").join("clients").join(script));
    for key in SCRUBBED_ENV {
        cmd.env_remove(key);
    }
    cmd
}

/// The sockets the server's workers hold when no client is connected: measured after a
/// `Connection: close` round trip, so every worker is past its start-up and that client's
/// socket is closed on the server's side (its EOF came after the close).
pub fn idle_worker_sockets(server: &Server) -> BTreeMap<u32, usize> {
    for _ in 0..server.worker_pids().len() {
        server.http(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    server
        .worker_pids()
        .into_iter()
        .map(|pid| (pid, socket_count(pid)))
        .collect()
}

/// How many sockets process `pid` holds (its /proc/PID/fd links to `socket:[…]`).
pub fn socket_count(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Raise this test process's open-file soft limit to its hard limit (tests that hold
/// thousands of client sockets); returns the new soft limit.
pub fn raise_own_nofile_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    hard
}

/// A client script (tests/clients) running beside the server: its stdout lines can be waited
/// for, its last line is its JSON summary. Dropping it kills it by pid.
pub struct PyClient {
    child: Child,
    pub stdout: Arc<Lines>,
    pub stderr: Arc<Lines>,
}

impl PyClient {
    pub fn spawn(script: &str, args: &[&str]) -> PyClient {
        let mut child = python_client(script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the venv's python");
        let stdout = Lines::spawn(child.stdout.take().unwrap());
        let stderr = Lines::spawn(child.stderr.take().unwrap());
        PyClient {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a stdout line containing `pattern`.
    pub fn wait_line(&self, pattern: &str, timeout: Duration) {
        if self.stdout.find_from(0, pattern, timeout).is_none() {
            panic!(
                "client printed no {pattern:?} within {timeout:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout.text(),
                self.stderr.text()
            );
        }
    }

    /// Waits (bounded) for the script to exit successfully; returns its JSON summary.
    pub fn finish(mut self, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "client still running after {timeout:?}; stderr:\n{}",
                self.stderr.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads see EOF once the process is gone.
        self.stdout
            .wait_until(Duration::from_secs(5), |_| None::<()>);
        assert!(
            status.success(),
            "client failed ({status}); stderr:\n{}",
            self.stderr.text()
        );
        let last = self.stdout.snapshot().pop().unwrap_or_default();
        serde_json::from_str(&last).unwrap_or_else(|e| {
            panic!(
                "client summary is not JSON ({e}): {last:?}; stderr:\n{}",
                self.stderr.text()
            )
        })
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawn `cmd`; when its program is a file another test has just written (a copied binary),
/// exec may fail with ETXTBSY while a child forked meanwhile by another test thread still holds
/// the writer's descriptor, until that child execs (CLOEXEC). Try again for a bounded while.
fn spawn_retrying_busy(cmd: &mut Command) -> std::process::Child {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match cmd.spawn() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            result => return result.expect("spawn gunicorn-rs"),
        }
    }
}
