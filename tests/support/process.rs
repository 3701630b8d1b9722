//! Starting and stopping the server: how it is started ([`Opts`]), the [`Server`] handle that
//! owns the process and stops it by pid on drop, running the binary to completion.

use super::*;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;

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

/// The server's `XDG_RUNTIME_DIR`, inside its temp dir.
pub(super) const RUNTIME_DIR: &str = "runtime";

/// Settings from the test runner's environment that would change what the binary does.
pub(super) const SCRUBBED_ENV: &[&str] = &[
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "PORT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "LISTEN_FDS",
    "LISTEN_PID",
];

pub struct Server {
    pub(super) child: Child,
    pub stderr: Arc<Lines>,
    pub stdout: Arc<Lines>,
    /// The server's cwd (unless overridden) and `TEST_MARKER_DIR` for the test apps.
    pub dir: tempfile::TempDir,
    pub(super) pid: u32,
    pub(super) listening: Option<String>,
    pub(super) status: Option<ExitStatus>,
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
        // The server's control socket goes under this test's own runtime dir, never the
        // user's (`$XDG_RUNTIME_DIR/gunicorn-rs/NAME-PID.sock`); `opts.env` may name another.
        let runtime = dir.path().join(RUNTIME_DIR);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&runtime)
            .expect("the test's runtime dir");
        cmd.env("XDG_RUNTIME_DIR", &runtime);
        // A process group of its own: whatever the server leaves behind (a USR2 child and its
        // workers, a worker of a master that was killed) is stopped with the group on drop.
        cmd.process_group(0);
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
}

impl Server {
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
    /// Stops the master, then KILLs what is left of its process group: a USR2 child, workers
    /// a killed master left behind. Runs when a test fails too.
    fn drop(&mut self) {
        self.stop();
        kill_group(self.pid);
    }
}

/// SIGKILL to the process group `leader` led, if gunicorn-rs processes remain in it (a pgid
/// stays reserved while any member lives, so no stranger can hold it then).
fn kill_group(leader: u32) {
    if group_members(leader).into_iter().any(is_our_process) {
        let _ = killpg(Pid::from_raw(leader as i32), Signal::SIGKILL);
    }
}

/// A master the harness did not start (a USR2 child, a daemon); SIGKILLed with its workers on
/// drop if still alive, so it never outlives a failed test.
pub struct Stray(pub u32);

impl Drop for Stray {
    fn drop(&mut self) {
        if is_our_process(self.0) {
            for child in children(self.0) {
                let _ = kill(Pid::from_raw(child as i32), Signal::SIGKILL);
            }
            let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
        }
    }
}

/// Is `pid` a live gunicorn-rs process (so a recycled pid is never signalled)?
pub(super) fn is_our_process(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
        && cmdline(pid).is_some_and(|c| c.contains("gunicorn-rs"))
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
