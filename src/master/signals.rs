//! Signals only wake the loop: a handler writes the signal number to a self-pipe and returns
//! (no logging, no allocation, no locks — gunicorn's "NO LOGGING, just queue the signal";
//! unicorn's `master_sleep`). All work happens in the master loop.

use nix::fcntl::OFlag;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals the master handles, with Gunicorn's meanings (`reference/gunicorn.md` §3).
pub const HANDLED: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signo as u8;
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored around it so
        // the interrupted code never sees it change. A full pipe (EAGAIN) loses nothing that
        // matters: the loop is already due to wake.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// The self-pipe. Reading it yields the queued signals.
pub struct SignalQueue {
    read: OwnedFd,
    write: OwnedFd,
}

impl SignalQueue {
    /// Create the pipe and install the master's handlers.
    pub fn install() -> std::io::Result<SignalQueue> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        WAKE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in HANDLED {
            // SAFETY: `on_signal` is async-signal-safe (it only calls write(2)).
            unsafe { signal::sigaction(sig, &action) }?;
        }
        Ok(SignalQueue { read, write })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// The signals queued since the last call, in arrival order.
    pub fn drain(&self) -> Vec<Signal> {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        while let Ok(n @ 1..) = nix::unistd::read(&self.read, &mut buf) {
            out.extend(
                buf[..n]
                    .iter()
                    .filter_map(|&b| Signal::try_from(i32::from(b)).ok()),
            );
        }
        out
    }
}

/// Block every signal; returns the previous mask. Used around fork so that a child never
/// runs the master's handlers before it has installed its own.
pub fn block_all() -> SigSet {
    let mut old = SigSet::empty();
    let _ = signal::sigprocmask(
        signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    old
}

pub fn restore_mask(mask: &SigSet) {
    let _ = signal::sigprocmask(signal::SigmaskHow::SIG_SETMASK, Some(mask), None);
}

/// In a new child: back to default dispositions and no self-pipe.
pub fn reset_in_child() {
    WAKE_FD.store(-1, Ordering::Relaxed);
    for sig in HANDLED {
        // SAFETY: SIG_DFL is always a valid disposition.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
}

impl SignalQueue {
    /// In a new child: close the master's pipe (the child never drops the master's state:
    /// it ends in `process::exit`).
    pub fn close_in_child(&self) {
        // SAFETY: closing descriptors this process owns; nothing in the child uses them again.
        unsafe {
            libc::close(self.read.as_raw_fd());
            libc::close(self.write.as_raw_fd());
        }
    }
}
