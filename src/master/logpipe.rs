//! Worker output through the master (`reference/tui.md` §2.3 "Logs"): each worker's fds 1 and
//! 2 are pipes whose read ends the master drains in its poll loop. Complete lines are
//! forwarded unchanged to the master's own fd 1 / fd 2 — so output lands where it did when the
//! workers inherited them (wrapped as records under `--log-format json`) — and the last lines of every worker are kept in a small ring, for
//! the WORKER TIMEOUT block, for dead workers and for the dashboard.
//!
//! A worker never stalls on a busy master for long: the pipes are enlarged (F_SETPIPE_SZ) and
//! the master drains them on every pass of its loop, and whenever poll says one is readable.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use ui::protocol::{LogLine, LogStream};

/// Lines copied for control-socket subscribers since the last pass, while one listens.
type Tap = Option<VecDeque<LogLine>>;

/// Lines kept per worker.
const RING_LINES: usize = 200;
/// Dead workers whose last lines are kept.
const GRAVEYARD: usize = 16;
/// Pipe capacity asked for: Linux's default cap for unprivileged processes
/// (`/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: libc::c_int = 1 << 20;
/// A "line" this long without a newline is forwarded as it is.
const MAX_LINE: usize = 64 * 1024;

/// One of a worker's two output streams.
struct Stream {
    read: OwnedFd,
    /// The master's descriptor this stream is forwarded to (1 or 2).
    target: i32,
    partial: Vec<u8>,
}

/// The master's end of one worker's pipes.
struct WorkerPipes {
    slot: usize,
    pid: i32,
    streams: [Stream; 2],
    ring: VecDeque<String>,
}

/// The write ends, between pipe creation and fork.
pub(super) struct ChildEnds {
    out: OwnedFd,
    err: OwnedFd,
}

#[derive(Default)]
pub(super) struct LogPipes {
    live: Vec<WorkerPipes>,
    dead: VecDeque<(i32, VecDeque<String>)>,
    tap: Tap,
}

fn pipe(target: i32) -> io::Result<(Stream, OwnedFd)> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    // A smaller pipe is only slower to fill up: not worth failing a spawn for.
    let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    let stream = Stream {
        read,
        target,
        partial: Vec::new(),
    };
    Ok((stream, write))
}

impl LogPipes {
    /// Before fork: the pipes of the worker about to start in `slot`. The master keeps the
    /// read ends under `pid` 0 until [`LogPipes::started`].
    pub(super) fn prepare(&mut self, slot: usize) -> io::Result<ChildEnds> {
        let (out, out_w) = pipe(1)?;
        let (err, err_w) = pipe(2)?;
        self.live.push(WorkerPipes {
            slot,
            pid: 0,
            streams: [out, err],
            ring: VecDeque::new(),
        });
        Ok(ChildEnds {
            out: out_w,
            err: err_w,
        })
    }

    /// Parent, after fork: the pipes of `slot` belong to `pid` (or are dropped when the fork
    /// failed). Dropping `ends` closes the master's copies of the write ends.
    pub(super) fn started(&mut self, slot: usize, pid: Option<i32>, ends: ChildEnds) {
        drop(ends);
        let waiting = self.live.iter().position(|w| w.slot == slot && w.pid == 0);
        match (waiting, pid) {
            (Some(i), Some(pid)) => self.live[i].pid = pid,
            (Some(i), None) => drop(self.live.swap_remove(i)),
            (None, _) => {}
        }
    }

    /// Child, after fork: its fds 1 and 2 become the write ends; every read end is closed.
    pub(super) fn attach_child(&self, ends: &ChildEnds) {
        for (fd, target) in [(&ends.out, 1), (&ends.err, 2)] {
            // SAFETY: dup2 onto the standard descriptors, from a descriptor this process owns;
            // the new descriptor does not inherit O_CLOEXEC.
            unsafe { libc::dup2(fd.as_raw_fd(), target) };
        }
        for stream in self.live.iter().flat_map(|w| &w.streams) {
            // SAFETY: inherited read ends nothing in the child uses; never dropped in the
            // child (it ends in process::exit).
            unsafe { libc::close(stream.read.as_raw_fd()) };
        }
        for fd in [&ends.out, &ends.err] {
            // SAFETY: the originals, now duplicated onto 1 and 2.
            unsafe { libc::close(fd.as_raw_fd()) };
        }
    }

    /// The read ends, for the master's poll.
    pub(super) fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.live
            .iter()
            .flat_map(|w| w.streams.iter().map(|s| s.read.as_fd()))
    }

    /// Read everything available from every worker; forward and remember complete lines.
    pub(super) fn drain_all(&mut self) {
        for worker in &mut self.live {
            worker.drain(&mut self.tap);
        }
    }

    /// Start or stop copying lines for control-socket subscribers.
    pub(super) fn set_tap(&mut self, on: bool) {
        match (on, self.tap.is_some()) {
            (true, false) => self.tap = Some(VecDeque::new()),
            (false, true) => self.tap = None,
            _ => {}
        }
    }

    /// The lines copied since the last call.
    pub(super) fn take_tapped(&mut self) -> Vec<LogLine> {
        self.tap
            .as_mut()
            .map_or_else(Vec::new, |t| t.drain(..).collect())
    }

    /// The worker `pid` was reaped: take its last output (its pipes are at EOF now), flush a
    /// partial last line, and keep its lines among the dead.
    pub(super) fn worker_exited(&mut self, pid: i32) {
        let Some(i) = self.live.iter().position(|w| w.pid == pid) else {
            return;
        };
        let mut worker = self.live.swap_remove(i);
        worker.drain(&mut self.tap);
        for s in 0..worker.streams.len() {
            let rest = std::mem::take(&mut worker.streams[s].partial);
            if !rest.is_empty() {
                worker.emit(s, rest, &mut self.tap);
            }
        }
        if self.dead.len() == GRAVEYARD {
            self.dead.pop_front();
        }
        self.dead.push_back((pid, worker.ring));
    }

    /// The last `n` lines of worker `pid`, live or dead, oldest first.
    pub fn last_lines(&self, pid: i32, n: usize) -> Vec<String> {
        let ring = self
            .live
            .iter()
            .find(|w| w.pid == pid)
            .map(|w| &w.ring)
            .or_else(|| self.dead.iter().find(|(p, _)| *p == pid).map(|(_, r)| r));
        ring.map_or_else(Vec::new, |r| {
            r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
        })
    }
}

impl WorkerPipes {
    fn drain(&mut self, tap: &mut Tap) {
        let mut buf = [0u8; 16 * 1024];
        for s in 0..self.streams.len() {
            loop {
                match nix::unistd::read(&self.streams[s].read, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => self.take(s, &buf[..n], tap),
                    Err(nix::errno::Errno::EINTR) => continue,
                    // EAGAIN: drained for now; anything else: nothing to read either.
                    Err(_) => break,
                }
            }
        }
    }

    /// New bytes on stream `s`: emit each completed line, keep the rest for later.
    fn take(&mut self, s: usize, bytes: &[u8], tap: &mut Tap) {
        let mut partial = std::mem::take(&mut self.streams[s].partial);
        partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &partial[start..]) {
            let end = start + nl + 1;
            self.emit(s, partial[start..end].to_vec(), tap);
            start = end;
        }
        partial.drain(..start);
        if partial.len() >= MAX_LINE {
            self.emit(s, std::mem::take(&mut partial), tap);
        }
        self.streams[s].partial = partial;
    }

    /// Forward one line unchanged and remember it. Under `--log-format json` a line that is
    /// not a record already (a `print()`, a library's warning) is forwarded as one, so every
    /// line of the stream stays JSON.
    fn emit(&mut self, s: usize, line: Vec<u8>, tap: &mut Tap) {
        let stream = if self.streams[s].target == 1 {
            "stdout"
        } else {
            "stderr"
        };
        match crate::log::is_json()
            .then(|| crate::log::json::foreign_line(self.pid, stream, &line))
            .flatten()
        {
            Some(record) => write_all(self.streams[s].target, record.as_bytes()),
            None => write_all(self.streams[s].target, &line),
        }
        if self.ring.len() == RING_LINES {
            self.ring.pop_front();
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if let Some(tap) = tap {
            if tap.len() == super::control::LOG_BACKLOG {
                tap.pop_front();
            }
            tap.push_back(LogLine {
                slot: Some(self.slot as u32),
                pid: Some(self.pid),
                stream: if self.streams[s].target == 1 {
                    LogStream::Stdout
                } else {
                    LogStream::Stderr
                },
                line: text.clone(),
                ts: super::control::line_time(),
            });
        }
        self.ring.push_back(text);
    }
}

/// Write to one of the master's own descriptors; a line that cannot be written is dropped
/// (there is nowhere to report it).
fn write_all(fd: i32, bytes: &[u8]) {
    // SAFETY: fds 1 and 2 stay open for the master's whole life.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = crate::fd::write_all(fd, bytes);
}
