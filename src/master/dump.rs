//! Stack dumps of stuck workers (DESIGN §6): one memfd per scoreboard slot, created by the
//! master before fork and inherited by the worker, which points `faulthandler.register` at it.
//!
//! To dump, the reader empties the file, resets the offset (shared with the worker: one open
//! file description), sends the dump signal, and waits until the output stops growing. The
//! writer is faulthandler's C signal handler, which needs no GIL — it answers while a C
//! extension holds the GIL — and writes synchronously, so the wait is short and bounded.
//! Not a pipe: a handler writing a big dump into a full pipe would hang the worker.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The line a greenlet worker's hub writes after the greenlets' stacks.
pub const HUB_DUMP_END: &str = "-- gunicorn-rs: end of greenlet stacks --\n";

/// The longest a dump may take before what has arrived is used.
pub const DUMP_WAIT: Duration = Duration::from_millis(500);
/// Output unchanged for this long is complete (faulthandler writes it in one go).
const SETTLE: Duration = Duration::from_millis(25);
const POLL_EVERY: Duration = Duration::from_millis(2);
/// faulthandler prints at most 100 threads × 100 frames; this is far above that.
const MAX_DUMP: u64 = 4 << 20;

/// Ask for a dump on `fd` with `send` (a `kill` or `pthread_kill`) and read it back. `Ok("")`
/// when nothing was written within [`DUMP_WAIT`] (no handler installed, or the worker gone).
pub fn collect(fd: BorrowedFd<'_>, send: impl FnOnce() -> io::Result<()>) -> io::Result<String> {
    request(fd, send)?;
    settle(&[fd]).pop().unwrap_or(Ok(String::new()))
}

/// Empty the dump file and send the signal; the output is read by [`settle`].
fn request(fd: BorrowedFd<'_>, send: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    nix::unistd::ftruncate(fd, 0)?;
    nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekSet)?;
    send()
}

/// Wait until every file's output stopped growing (or [`DUMP_WAIT`] passed) and read each.
/// All of them at once: dumping every worker costs one wait, not one per worker.
fn settle(fds: &[BorrowedFd<'_>]) -> Vec<io::Result<String>> {
    let started = Instant::now();
    let mut seen: Vec<(u64, Instant, bool)> = vec![(0, started, false); fds.len()];
    while started.elapsed() < DUMP_WAIT && seen.iter().any(|s| !s.2) {
        std::thread::sleep(POLL_EVERY);
        for (fd, (size, changed, done)) in fds.iter().zip(seen.iter_mut()) {
            match file_size(*fd) {
                Ok(now) if now != *size => (*size, *changed) = (now, Instant::now()),
                Ok(_) => *done = *size > 0 && changed.elapsed() >= SETTLE,
                Err(_) => *done = true,
            }
        }
    }
    fds.iter()
        .zip(&seen)
        .map(|(fd, (size, _, _))| read_dump(*fd, *size))
        .collect()
}

fn read_dump(fd: BorrowedFd<'_>, size: u64) -> io::Result<String> {
    let mut buf = vec![0u8; size.min(MAX_DUMP) as usize];
    let n = nix::sys::uio::pread(fd, &mut buf, 0)?;
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(nix::sys::stat::fstat(fd)?.st_size.max(0) as u64)
}

/// The master ignores the dump signal (its default action would kill it), and so does a new
/// worker until its faulthandler takes the signal over: a dump asked too early is lost, never
/// fatal.
pub(super) fn ignore_dump_signal(signal: i32) {
    // SAFETY: SIG_IGN is always a valid disposition; `signal` was validated by the config.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
}

/// The master's memfds, one per scoreboard slot, made on first use and reused by every worker
/// that takes the slot.
#[derive(Default)]
pub(super) struct DumpFiles {
    files: Vec<Option<OwnedFd>>,
}

impl DumpFiles {
    /// The memfd for `slot`, creating it (before fork) if needed.
    pub(super) fn prepare(&mut self, slot: usize) -> io::Result<RawFd> {
        if self.files.len() <= slot {
            self.files.resize_with(slot + 1, || None);
        }
        if let Some(fd) = &self.files[slot] {
            return Ok(fd.as_raw_fd());
        }
        let name = format!("gunicorn-rs-dump-{slot}");
        // CLOEXEC: a re-executed master (USR2) must not inherit them; workers never exec.
        let fd =
            nix::sys::memfd::memfd_create(name.as_str(), nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
        let raw = fd.as_raw_fd();
        self.files[slot] = Some(fd);
        Ok(raw)
    }

    /// Dump the worker `pid` in `slot` with `signal`.
    pub(super) fn dump(&self, slot: usize, pid: i32, signal: i32) -> io::Result<String> {
        self.dump_many(&[(slot, pid)], signal)
            .pop()
            .unwrap_or(Ok(String::new()))
    }

    /// Dump several workers: every signal first, then one wait for all the answers.
    pub(super) fn dump_many(
        &self,
        workers: &[(usize, i32)],
        signal: i32,
    ) -> Vec<io::Result<String>> {
        let mut results: Vec<Option<io::Result<String>>> = Vec::with_capacity(workers.len());
        let mut waiting = Vec::new();
        for (i, &(slot, pid)) in workers.iter().enumerate() {
            let Some(Some(fd)) = self.files.get(slot) else {
                results.push(Some(Ok(String::new())));
                continue;
            };
            let sent = request(fd.as_fd(), || {
                // SAFETY: kill(2) with a pid the master forked and has not reaped yet.
                match unsafe { libc::kill(pid, signal) } {
                    0 => Ok(()),
                    _ => Err(io::Error::last_os_error()),
                }
            });
            match sent {
                Ok(()) => {
                    waiting.push((i, fd.as_fd()));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let fds: Vec<BorrowedFd<'_>> = waiting.iter().map(|(_, fd)| *fd).collect();
        for ((i, _), read) in waiting.iter().zip(settle(&fds)) {
            results[*i] = Some(read);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Ok(String::new())))
            .collect()
    }

    /// In a new worker: close every slot's memfd but its own (it must not see or hold the
    /// others).
    pub(super) fn close_in_child(&self, keep: usize) {
        for (i, fd) in self.files.iter().enumerate() {
            if let (Some(fd), true) = (fd, i != keep) {
                // SAFETY: closing an inherited descriptor nothing in the child uses; the
                // OwnedFd is never dropped in the child (it ends in process::exit).
                unsafe { libc::close(fd.as_raw_fd()) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_reads_what_the_writer_wrote_after_the_reset() {
        let mut files = DumpFiles::default();
        let raw = files.prepare(3).expect("memfd");
        // SAFETY: `raw` is owned by `files`, alive for this test.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        nix::unistd::write(fd, b"stale output from an earlier dump\n").expect("write");
        let text = collect(fd, || {
            nix::unistd::write(fd, b"Thread 0x1 (most recent call first):\n")?;
            Ok(())
        })
        .expect("collect");
        assert_eq!(text, "Thread 0x1 (most recent call first):\n");
        assert_eq!(files.prepare(3).expect("same memfd"), raw);
    }

    #[test]
    fn nothing_written_is_empty_within_the_bound() {
        let mut files = DumpFiles::default();
        let raw = files.prepare(0).expect("memfd");
        // SAFETY: as above.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let started = Instant::now();
        assert_eq!(collect(fd, || Ok(())).expect("collect"), "");
        assert!(started.elapsed() < DUMP_WAIT + Duration::from_millis(200));
    }
}
