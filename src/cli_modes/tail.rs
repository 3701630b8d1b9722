//! `tail -f` of the `--tui` server's output file, as the `Read` the dashboard's log pane takes.
//!
//! The master writes to a file rather than to a pipe so that a detach needs nothing at all: a
//! pipe would be left without a reader, and the next write would fail with EPIPE in the master
//! and in any worker that still prints. The file keeps the whole output for the user, too.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often an idle file is looked at again: fast enough to read as live, cheap when quiet.
const POLL: Duration = Duration::from_millis(100);

/// The server's exit status, set by the thread that waits for it.
pub type ExitSlot = Arc<Mutex<Option<i32>>>;

pub struct Tail {
    file: File,
    exited: ExitSlot,
    /// The closing line, once the server exited and the file is drained.
    epilogue: Option<Vec<u8>>,
}

impl Tail {
    pub fn new(file: File, exited: ExitSlot) -> Tail {
        Tail {
            file,
            exited,
            epilogue: None,
        }
    }

    fn exit_code(&self) -> Option<i32> {
        *self.exited.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(rest) = self.epilogue.as_mut() {
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                rest.drain(..n);
                return Ok(n);
            }
            // Read the status before the file: output written before the exit is then
            // surely in the file when the EOF below is taken as final.
            let code = self.exit_code();
            let n = self.file.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if let Some(code) = code {
                // Said once, then EOF (an empty epilogue ends the pane's reader).
                self.epilogue = Some(
                    format!("[gunicorn-rs] the server exited with code {code}; press q to leave\n")
                        .into_bytes(),
                );
                continue;
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn follows_the_file_and_ends_after_the_exit_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut w = File::create(&path).unwrap();
        let exited: ExitSlot = Arc::default();
        let tail = Tail::new(File::open(&path).unwrap(), Arc::clone(&exited));
        let mut lines = BufReader::new(tail).lines();
        writeln!(w, "one").unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "one");
        writeln!(w, "two").unwrap();
        *exited.lock().unwrap() = Some(3);
        assert_eq!(lines.next().unwrap().unwrap(), "two");
        let last = lines.next().unwrap().unwrap();
        assert!(last.contains("exited with code 3"), "{last}");
        assert!(lines.next().is_none());
    }
}
