//! systemd `Type=notify` (`sd_notify(3)`), beyond Gunicorn (which only sends `READY=1` once):
//! `READY=1` once the workers have booted, `STATUS=` whenever the worker counts change,
//! `RELOADING=1` + `MONOTONIC_USEC=` on HUP and `READY=1` when the new workers are up,
//! `STOPPING=1` on TERM/INT/QUIT, and `MAINPID=` so systemd follows a USR2 upgrade.
//!
//! A plain `AF_UNIX` datagram `sendto(2)` to `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace): no library, no thread. Errors are logged at DEBUG and otherwise
//! ignored, as sd_notify(3) callers do. `NOTIFY_SOCKET` stays in the environment so a USR2
//! child can notify too.

use super::Master;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Where the service is in systemd's eyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Ready,
    Reloading,
    Stopping,
}

/// The notification socket, if systemd gave one.
#[derive(Debug)]
pub(super) struct Notifier {
    socket: Option<(OwnedFd, UnixAddr)>,
    state: State,
    status: String,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let bytes = path.as_bytes();
            let addr = match bytes.strip_prefix(b"@") {
                Some(name) => UnixAddr::new_abstract(name),
                None => UnixAddr::new(bytes),
            };
            let fd = socket::socket(
                AddressFamily::Unix,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            );
            match (fd, addr) {
                (Ok(fd), Ok(addr)) => Some((fd, addr)),
                (Err(e), _) | (_, Err(e)) => {
                    crate::warning!("NOTIFY_SOCKET {path:?} unusable: {e}");
                    None
                }
            }
        });
        Notifier {
            socket,
            state: State::Starting,
            status: String::new(),
        }
    }

    fn send(&self, message: &str) {
        let Some((fd, addr)) = &self.socket else {
            return;
        };
        let sent = socket::sendto(
            fd.as_raw_fd(),
            message.as_bytes(),
            addr,
            MsgFlags::MSG_NOSIGNAL,
        );
        if let Err(e) = sent {
            crate::debug!("sd_notify: cannot send {message:?}: {e}");
        }
    }

    fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` wants it (`sd_notify(3)`,
/// `MONOTONIC_USEC=`; systemd's `Type=notify-reload` requires it).
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64) * 1_000_000 + (t.tv_nsec() as u64) / 1_000
    })
}

impl Master<'_> {
    /// Called once per loop turn: `READY=1` when the wanted workers have booted (first start,
    /// or a HUP's new generation), `STATUS=` when the counts changed.
    pub(super) fn notify_status(&mut self) {
        // While a USR2 child exists this master is handing over; the new one speaks for the
        // service (it sent `MAINPID=`).
        if !self.notify.is_enabled() || self.upgrade.child.is_some() {
            return;
        }
        let booted = self
            .workers
            .iter()
            .filter(|w| w.lifecycle.is_serving() && self.is_booted(w))
            .count();
        let replacing = self.workers.iter().any(|w| w.lifecycle.is_replacing());
        let stopping = self
            .workers
            .iter()
            .filter(|w| w.lifecycle.is_retiring())
            .count();
        let mut status = format!("{booted} of {} workers booted", self.num_workers);
        if stopping > 0 {
            status.push_str(&format!(", {stopping} stopping"));
        }
        let settled = booted >= self.num_workers && !replacing;
        match self.notify.state {
            State::Starting | State::Reloading if settled => {
                // A USR2 child names itself the main process as soon as it can serve, before
                // the old master is stopped: systemd must not see its main process exit.
                let main_pid = match self.upgrade.parent {
                    Some(_) => format!("MAINPID={}\n", self.pid),
                    None => String::new(),
                };
                self.notify
                    .send(&format!("{main_pid}READY=1\nSTATUS={status}"));
                self.notify.state = State::Ready;
            }
            State::Ready if status != self.notify.status => {
                self.notify.send(&format!("STATUS={status}"));
            }
            _ => {}
        }
        self.notify.status = status;
    }

    /// HUP: the reload starts; `READY=1` follows from `notify_status` once it is done.
    pub(super) fn notify_reloading(&mut self) {
        if self.notify.state == State::Stopping {
            return;
        }
        self.notify.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=Reloading",
            monotonic_usec()
        ));
        self.notify.state = State::Reloading;
    }

    /// TERM/INT/QUIT. Not when retiring after a USR2 upgrade: the service goes on.
    pub(super) fn notify_stopping(&mut self) {
        if self.upgrade.child.is_some() || self.notify.state == State::Stopping {
            return;
        }
        self.notify.send("STOPPING=1\nSTATUS=Stopping");
        self.notify.state = State::Stopping;
    }

    /// This master is the service's main process (again): after promotion, or after the USR2
    /// child exited (a rollback).
    pub(super) fn notify_main_pid(&mut self) {
        if self.notify.state == State::Stopping {
            return;
        }
        self.notify.send(&format!(
            "MAINPID={}\nSTATUS={}",
            self.pid, self.notify.status
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let receiver = UnixDatagram::bind(&dir).unwrap();
        let notifier = Notifier {
            socket: Some((
                socket::socket(
                    AddressFamily::Unix,
                    SockType::Datagram,
                    SockFlag::empty(),
                    None,
                )
                .unwrap(),
                UnixAddr::new(&dir).unwrap(),
            )),
            state: State::Starting,
            status: String::new(),
        };
        notifier.send("READY=1");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_file(&dir);
        assert!(monotonic_usec() > 0);
    }
}
