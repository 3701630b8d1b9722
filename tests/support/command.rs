//! External commands (curl, openssl, promtool, tmux, `ctl`, Python scripts…) run to completion
//! with a bound: a command that hangs fails the test with what it printed, instead of hanging
//! the suite. Each runs in a process group of its own, so a timeout kills its children too.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest an external command may run: generous (a Python client importing Django on a
/// loaded machine), yet a hang ends the test.
pub const COMMAND_WAIT: Duration = Duration::from_secs(60);

/// How long the output pipes may stay open once the command has exited (a grandchild that
/// kept them): after that, what came is what is returned.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Runs `cmd` (stdin empty) within [`COMMAND_WAIT`]; panics if it cannot start or times out.
pub fn output_of(cmd: &mut Command) -> Output {
    output_within(cmd, None, COMMAND_WAIT)
}

/// Runs `cmd` with `input` on its stdin (`None`: /dev/null); panics when it is still running
/// after `timeout`, after SIGKILL to its process group.
pub fn output_within(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(match input {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); is it installed? (.ci/run)"));
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        // A thread: a command that writes before it has read everything must not deadlock us.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            let said = |rx| String::from_utf8_lossy(&collect(rx)).into_owned();
            panic!(
                "{program} {:?} still running after {timeout:?}, killed; stdout:\n{}\nstderr:\n{}",
                cmd.get_args().collect::<Vec<_>>(),
                said(stdout),
                said(stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// Reads a pipe to its end on a thread; each chunk comes through the channel as it is read.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = [0u8; 8192];
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if tx.send(chunk[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    rx
}

/// What came through a pipe until its end, or until [`DRAIN_WAIT`] passes (a grandchild of
/// another process group may hold it open): what came by then.
fn collect(rx: mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    let deadline = Instant::now() + DRAIN_WAIT;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    out
}

/// [`output_of`] as a method, for a command built in a chain.
pub trait BoundedOutput {
    /// Runs the command to completion within [`COMMAND_WAIT`] (stdin empty).
    fn bounded_output(&mut self) -> Output;
}

impl BoundedOutput for Command {
    fn bounded_output(&mut self) -> Output {
        output_of(self)
    }
}
