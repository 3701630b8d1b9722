//! The Python client scripts of tests/clients, run with the test venv's interpreter.

use super::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The venv's Python running one of the client scripts in tests/clients.
pub fn python_client(script: &str) -> Command {
    let mut cmd = Command::new(venv().join("bin").join("python"));
    cmd.arg(repo().join("tests").join("clients").join(script));
    for key in SCRUBBED_ENV {
        cmd.env_remove(key);
    }
    cmd
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
            // Its own group: whatever the script starts goes with it on drop.
            .process_group(0)
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
            let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
