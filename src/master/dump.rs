//! Stack dumps of stuck workers (DESIGN §6): one memfd per scoreboard slot, created by the
//! master before fork and inherited by the worker, which points `faulthandler.register` at it.
//!
//! To dump, the reader empties the file, resets the offset (shared with the worker: one open
//! file description), sends the dump signal, and waits until the output stops growing. The
//! writer is faulthandler's C signal handler, which needs no GIL — it answers while a C
//! extension holds the GIL — and writes synchronously, so the wait is short and bounded.
//! Not a pipe: a handler writing a big dump into a full pipe would hang the worker.
//!
//! A greenlet worker answers twice ([`Answer::Hub`]): faulthandler sees only the greenlet
//! that runs, so the signal also wakes the worker's main greenlet, which appends the stack of
//! every greenlet serving a request and then [`HUB_DUMP_END`]. Its output comes in many writes
//! with pauses between, so "stopped growing" means nothing there: the marker ends the wait.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The longest a dump may take before what has arrived is used.
pub const DUMP_WAIT: Duration = Duration::from_millis(500);
/// The last line of a greenlet worker's hub answer; the dump is complete once it is there.
pub const HUB_DUMP_END: &str = "-- gunicorn-rs: end of greenlet stacks --\n";
/// How long a greenlet worker's hub gets to append its stacks. Longer than [`DUMP_WAIT`]: it
/// walks every request's greenlet in Python, and a silent hub is itself the finding (some
/// greenlet holds it), so the wait is spent only when something is wrong.
pub const HUB_WAIT: Duration = Duration::from_secs(1);
/// Output unchanged for this long is complete (faulthandler writes it in one go).
const SETTLE: Duration = Duration::from_millis(25);
const POLL_EVERY: Duration = Duration::from_millis(2);
/// faulthandler prints at most 100 threads × 100 frames; this is far above that.
const MAX_DUMP: u64 = 4 << 20;

/// Who completes a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// faulthandler alone (sync, gthread): done when the output stops growing.
    Faulthandler,
    /// faulthandler, then the greenlet worker's hub (done at [`HUB_DUMP_END`]); without the
    /// marker within [`HUB_WAIT`] the hub is blocked, and faulthandler's stack shows by whom.
    Hub,
}

impl Answer {
    /// How a worker of `class` answers a dump signal.
    pub fn of(class: crate::config::WorkerClass) -> Answer {
        match class.dumps_from_loop() {
            true => Answer::Hub,
            false => Answer::Faulthandler,
        }
    }
}

/// Ask for a dump on `fd` with `send` (a `kill` or `pthread_kill`) and read it back. `Ok("")`
/// when nothing was written within the wait (no handler installed, or the worker gone).
pub fn collect(
    fd: BorrowedFd<'_>,
    answer: Answer,
    send: impl FnOnce() -> io::Result<()>,
) -> io::Result<String> {
    request(fd, send)?;
    settle(&[(fd, answer)]).pop().unwrap_or(Ok(String::new()))
}

/// Empty the dump file and send the signal; the output is read by [`settle`].
fn request(fd: BorrowedFd<'_>, send: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    nix::unistd::ftruncate(fd, 0)?;
    nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekSet)?;
    send()
}

/// Wait until every file's output is complete (or the wait for its answer passed) and read
/// each. All of them at once: dumping every worker costs one wait, not one per worker.
fn settle(fds: &[(BorrowedFd<'_>, Answer)]) -> Vec<io::Result<String>> {
    let started = Instant::now();
    let limit = |answer: Answer| match answer {
        Answer::Faulthandler => DUMP_WAIT,
        Answer::Hub => HUB_WAIT,
    };
    let mut watches: Vec<Watch> = fds.iter().map(|_| Watch::new(started)).collect();
    loop {
        let waiting = fds
            .iter()
            .zip(&watches)
            .any(|((_, answer), w)| !w.done && started.elapsed() < limit(*answer));
        if !waiting {
            break;
        }
        std::thread::sleep(POLL_EVERY);
        for ((fd, answer), watch) in fds.iter().zip(watches.iter_mut()) {
            watch.poll(*fd, *answer);
        }
    }
    fds.iter()
        .zip(&watches)
        .map(|((fd, answer), watch)| watch.read(*fd, *answer))
        .collect()
}

/// One file's output as [`settle`] waits for it.
struct Watch {
    size: u64,
    changed: Instant,
    done: bool,
    /// The output ends with [`HUB_DUMP_END`].
    marked: bool,
}

impl Watch {
    fn new(started: Instant) -> Watch {
        Watch {
            size: 0,
            changed: started,
            done: false,
            marked: false,
        }
    }

    fn poll(&mut self, fd: BorrowedFd<'_>, answer: Answer) {
        let Ok(now) = file_size(fd) else {
            self.done = true;
            return;
        };
        if now != self.size {
            (self.size, self.changed) = (now, Instant::now());
            // Only the tail is read, and only when the size moved: polling stays cheap.
            self.marked = answer == Answer::Hub && ends_with_marker(fd, now);
            self.done = self.marked;
        } else if answer == Answer::Faulthandler {
            self.done = self.size > 0 && self.changed.elapsed() >= SETTLE;
        }
    }

    /// The output as the reader gets it: the hub's marker stripped, or, when the hub stayed
    /// silent, a line saying what the stack that did arrive means.
    fn read(&self, fd: BorrowedFd<'_>, answer: Answer) -> io::Result<String> {
        let mut text = read_dump(fd, self.size)?;
        match answer {
            Answer::Faulthandler => {}
            Answer::Hub if self.marked => {
                // Past MAX_DUMP the read stops short of the marker: nothing to strip then.
                let end = text.strip_suffix(HUB_DUMP_END).map_or(text.len(), str::len);
                text.truncate(end);
            }
            Answer::Hub if !text.is_empty() => text.insert_str(0, &hub_silent()),
            Answer::Hub => {}
        }
        Ok(text)
    }
}

/// The line before a dump the hub did not complete.
fn hub_silent() -> String {
    format!(
        "The hub did not answer within {} s: the stack below is the greenlet that holds it \
         (a greenlet that does not yield blocks every other one).\n",
        HUB_WAIT.as_secs()
    )
}

fn ends_with_marker(fd: BorrowedFd<'_>, size: u64) -> bool {
    let marker = HUB_DUMP_END.as_bytes();
    let Some(at) = size.checked_sub(marker.len() as u64) else {
        return false;
    };
    let mut tail = vec![0u8; marker.len()];
    let Ok(offset) = libc::off_t::try_from(at) else {
        return false;
    };
    matches!(nix::sys::uio::pread(fd, &mut tail, offset), Ok(n) if n == marker.len())
        && tail == marker
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
    pub(super) fn dump(
        &self,
        slot: usize,
        pid: i32,
        signal: i32,
        answer: Answer,
    ) -> io::Result<String> {
        self.dump_many(&[(slot, pid, answer)], signal)
            .pop()
            .unwrap_or(Ok(String::new()))
    }

    /// Dump several workers (slot, pid, who answers): every signal first, then one wait for
    /// all the answers.
    pub(super) fn dump_many(
        &self,
        workers: &[(usize, i32, Answer)],
        signal: i32,
    ) -> Vec<io::Result<String>> {
        let mut results: Vec<Option<io::Result<String>>> = Vec::with_capacity(workers.len());
        let mut waiting = Vec::new();
        for (i, &(slot, pid, answer)) in workers.iter().enumerate() {
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
                    waiting.push((i, (fd.as_fd(), answer)));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let fds: Vec<(BorrowedFd<'_>, Answer)> = waiting.iter().map(|(_, fd)| *fd).collect();
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
#[path = "dump_tests.rs"]
mod tests;
