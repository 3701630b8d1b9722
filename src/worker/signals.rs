//! A worker's signals (Gunicorn's `Worker.init_signals`): TERM = finish the current request
//! then exit; INT/QUIT = exit now; ABRT = the master's timeout kill; USR1 = reopen logs.
//! Handlers only set flags and poke the wake pipe.

use nix::fcntl::OFlag;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static ALIVE: AtomicBool = AtomicBool::new(true);
static REOPEN: AtomicBool = AtomicBool::new(false);
static DUMP_ASKED: AtomicBool = AtomicBool::new(false);
/// The wake pipe's ends, open for the worker's whole life. Atomics, not a lock or a
/// `static mut`: the handlers read `WAKE_FD`, and only lock-free atomics are
/// async-signal-safe (signal-safety(7)).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static WAKE_READ: AtomicI32 = AtomicI32::new(-1);

fn poke() {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; errno is preserved for the interrupted code.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"x".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

extern "C" fn on_term(_: libc::c_int) {
    ALIVE.store(false, Ordering::Relaxed);
    poke();
}

extern "C" fn on_quit(_: libc::c_int) {
    // SAFETY: _exit(2) is async-signal-safe. A quick stop means now (Gunicorn: sys.exit(0)).
    unsafe { libc::_exit(0) }
}

extern "C" fn on_abort(_: libc::c_int) {
    // SAFETY: _exit(2) is async-signal-safe. The master's timeout kill: exit 1 as Gunicorn's
    // worker does after SIGABRT (no core dump of a stuck worker).
    unsafe { libc::_exit(1) }
}

extern "C" fn on_usr1(_: libc::c_int) {
    REOPEN.store(true, Ordering::Relaxed);
    poke();
}

extern "C" fn on_dump(_: libc::c_int) {
    DUMP_ASKED.store(true, Ordering::Relaxed);
    poke();
}

/// Greenlet workers: the dump signal also wakes the main greenlet, which appends the stacks
/// of the greenlets serving requests to faulthandler's. Installed before faulthandler
/// registers with `chain=True`: faulthandler writes the stack of what holds the hub, then
/// calls this.
pub fn install_dump_notice(signum: i32) -> std::io::Result<()> {
    // libc, not nix: the dump signal may be a real-time one, which nix's `Signal` cannot name.
    // SAFETY: a zeroed sigaction is a valid starting point; the handler is async-signal-safe
    // (an atomic and write(2)); `signum` was validated by the config.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_dump as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signum, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Was a dump asked for since the last call?
pub fn take_dump_asked() -> bool {
    DUMP_ASKED.swap(false, Ordering::Relaxed)
}

/// Wake the worker's loop from another thread (the watchdog asking the hub for an interrupt).
pub fn wake() {
    poke();
}

/// Install the handlers and the wake pipe.
pub fn install() -> std::io::Result<()> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
    // Both ends stay open until the worker exits: handlers may write at any moment.
    WAKE_READ.store(read.into_raw_fd(), Ordering::Relaxed);
    WAKE_FD.store(write.into_raw_fd(), Ordering::Relaxed);
    let set = |sig, handler: extern "C" fn(libc::c_int), flags| {
        let action = SigAction::new(SigHandler::Handler(handler), flags, SigSet::empty());
        // SAFETY: every handler here is async-signal-safe (atomics, write(2), _exit(2)).
        unsafe { signal::sigaction(sig, &action) }.map(|_| ())
    };
    set(Signal::SIGTERM, on_term, SaFlags::SA_RESTART)?;
    set(Signal::SIGINT, on_quit, SaFlags::empty())?;
    set(Signal::SIGQUIT, on_quit, SaFlags::empty())?;
    set(Signal::SIGABRT, on_abort, SaFlags::empty())?;
    set(Signal::SIGUSR1, on_usr1, SaFlags::SA_RESTART)?;
    // SAFETY: SIG_IGN is always a valid disposition.
    unsafe { signal::signal(Signal::SIGWINCH, SigHandler::SigIgn) }?;
    // A closed client socket must be an EPIPE error on write, not a death.
    // SAFETY: as above.
    unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
    Ok(())
}

/// The write end of the wake pipe (Python's `signal.set_wakeup_fd`, for hooks' handlers).
pub fn wake_write_fd() -> i32 {
    WAKE_FD.load(Ordering::Relaxed)
}

/// The read end of the wake pipe.
pub fn wake_fd() -> i32 {
    WAKE_READ.load(Ordering::Relaxed)
}

/// Drain the wake pipe after a wake-up.
pub fn drain_wake() {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from our own non-blocking pipe.
    while unsafe { libc::read(wake_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

pub fn is_alive() -> bool {
    ALIVE.load(Ordering::Relaxed)
}

/// Stop after the current request (max-requests, parent gone).
pub fn stop() {
    ALIVE.store(false, Ordering::Relaxed);
}

/// Was USR1 received since the last call?
pub fn take_reopen() -> bool {
    REOPEN.swap(false, Ordering::Relaxed)
}

/// Let `signum` through to this thread (the dump and request-timeout signals: a worker forked
/// while the master blocked everything must not keep them blocked).
pub fn unblock(signum: i32) {
    // SAFETY: sigemptyset/sigaddset/pthread_sigmask on a local sigset_t; an invalid number only
    // makes sigaddset fail, which leaves the set empty.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signum);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Block every signal in the calling thread; returns the old mask. Threads spawned meanwhile
/// inherit the full mask, so signals keep going to the worker's main thread.
pub fn block_all() -> libc::sigset_t {
    // SAFETY: sigfillset/pthread_sigmask on local, properly sized sigset_t values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

/// Restore a mask `block_all` returned.
pub fn restore(mask: &libc::sigset_t) {
    // SAFETY: restores a mask returned by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}
