//! The `--tui` dashboard's hold on the master it launched (DESIGN §1).
//!
//! The dashboard passes the read end of a pipe whose write end only it holds, as the fd number
//! in `GUNICORN_RS_LIFELINE`. The master polls it:
//! - EOF: the dashboard is gone without detaching — `q`, a crash, a panic, SIGTERM, SIGHUP, even
//!   SIGKILL (the kernel closes its descriptors). A development server must not outlive its
//!   dashboard unseen, so the master stops gracefully, as on TERM.
//! - the byte `D`: the user detached; the master lets go of the pipe and keeps running headless.
//!
//! Why not `PR_SET_PDEATHSIG`: only the child itself can clear it, so after a detach the master
//! would die with the dashboard anyway unless told over a second channel; and it fires when the
//! spawning *thread* ends. A pipe carries both "gone" and "detached" in one descriptor, and no
//! signal (SIGHUP would mean reload here) is involved.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The environment variable carrying the read end's fd number.
pub const ENV: &str = "GUNICORN_RS_LIFELINE";
/// What the dashboard writes before it exits when the user detaches.
pub const DETACH: u8 = b'D';

/// What the pipe said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// Nothing to read yet.
    Quiet,
    Detached,
    /// The dashboard ended without detaching.
    Gone,
}

#[derive(Debug)]
pub struct Lifeline {
    fd: OwnedFd,
}

impl Lifeline {
    /// Takes the pipe named by [`ENV`], if any, and removes the variable so that workers and a
    /// USR2 successor do not think they have one.
    pub fn from_env() -> Option<Lifeline> {
        let raw: RawFd = std::env::var(ENV).ok()?.parse().ok()?;
        std::env::remove_var(ENV);
        // Only an open descriptor is adopted: a stale variable must not make us own (and
        // later close) an fd number that something else uses.
        nix::fcntl::fcntl(
            // SAFETY: `raw` is only borrowed for this one F_GETFD call.
            unsafe { BorrowedFd::borrow_raw(raw) },
            nix::fcntl::FcntlArg::F_GETFD,
        )
        .ok()?;
        // SAFETY: the dashboard opened this descriptor for us and nothing else in this process
        // knows its number (the variable is gone), so ownership is ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A USR2 successor must not inherit it; workers do (fork), which is harmless: they
        // hold a read end, and EOF depends only on the dashboard's write end.
        let _ = nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        let _ = nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        Some(Lifeline { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads what is there without blocking.
    pub fn read(&self) -> Word {
        let mut buf = [0u8; 16];
        match nix::unistd::read(&self.fd, &mut buf) {
            Ok(0) => Word::Gone,
            Ok(n) if buf[..n].contains(&DETACH) => Word::Detached,
            Ok(_) => Word::Quiet,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => Word::Quiet,
            Err(_) => Word::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (Lifeline, std::fs::File) {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::fcntl::fcntl(
            &r,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        (Lifeline { fd: r }, std::fs::File::from(w))
    }

    #[test]
    fn quiet_then_gone_when_the_writer_closes() {
        let (line, w) = pipe();
        assert_eq!(line.read(), Word::Quiet);
        drop(w);
        assert_eq!(line.read(), Word::Gone);
    }

    #[test]
    fn the_detach_byte_means_detached() {
        use std::io::Write;
        let (line, mut w) = pipe();
        w.write_all(&[DETACH]).unwrap();
        assert_eq!(line.read(), Word::Detached);
    }
}
