//! The control socket's file and listening descriptor: where it lives, who may connect, and
//! removing it again — only the file this master bound, never one a newer master put there.

use crate::config::ControlSocket;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Where the socket goes. `suffix` is `.2` for a USR2 child until promotion, so an explicit
/// path is not taken from the old master while it still serves.
pub(super) fn socket_path(
    setting: &ControlSocket,
    name: &str,
    pid: u32,
    suffix: &str,
) -> Option<PathBuf> {
    match setting {
        ControlSocket::Off => None,
        // The pid makes it unique per server (and per USR2 generation).
        ControlSocket::PerServer => Some(ui::discovery::default_socket_path(name, pid)),
        ControlSocket::Path(path) => Some(PathBuf::from(format!("{}{suffix}", path.display()))),
    }
}

/// A bound, listening, non-blocking socket and the identity of its file.
pub(super) struct Bound {
    pub listener: UnixListener,
    pub path: PathBuf,
    /// `(st_dev, st_ino)` of the file bound: only that file is ours to remove.
    identity: (u64, u64),
}

/// Bind `path` with `mode`. The default directory is made private (0700, ours); a directory the
/// user named is created 0700 when missing and otherwise left as it is. A live socket at the
/// path (another server) is an error; a stale one is replaced.
pub(super) fn bind(path: &Path, mode: u32, private_dir: bool) -> io::Result<Bound> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if private_dir {
        ui::discovery::ensure_private_dir(dir)?;
    } else if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by another server", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    // The umask decides the mode bind(2) gives the file: no moment with looser permissions
    // than asked. The master is single-threaded, so the process-wide umask change is safe.
    let mask = nix::sys::stat::Mode::from_bits_truncate(0o777 & !mode);
    let old = nix::sys::stat::umask(mask);
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    listener.set_nonblocking(true)?;
    let meta = std::fs::metadata(path)?;
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    })
}

impl Bound {
    /// Remove the socket file if it is still the one this master bound.
    pub fn remove(&self) {
        if self.is_ours(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn is_ours(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }

    /// Promotion after USR2: the `.2` path becomes the configured one.
    pub fn rename(&mut self, to: &Path) -> io::Result<()> {
        if self.path == to || !self.is_ours(&self.path) {
            return Ok(());
        }
        std::fs::rename(&self.path, to)?;
        self.path = to.to_path_buf();
        Ok(())
    }
}

/// The peer's uid (SO_PEERCRED): the kernel's word, taken at connect time.
pub(super) fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    let creds = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok(creds.uid())
}

/// Who may drive the server: its own user, and root (who could signal it anyway).
pub(super) fn is_peer_allowed(peer_uid: u32, euid: u32) -> bool {
    peer_uid == euid || peer_uid == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_root_may_connect() {
        assert!(is_peer_allowed(1000, 1000));
        assert!(is_peer_allowed(0, 1000));
        assert!(!is_peer_allowed(1001, 1000));
        assert!(!is_peer_allowed(65534, 0));
    }

    #[test]
    fn binds_with_the_mode_refuses_a_live_socket_and_removes_only_its_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("ctl.sock");
        let bound = bind(&path, 0o600, false).expect("bind");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sub = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(sub.permissions().mode() & 0o777, 0o700);
        let err = bind(&path, 0o600, false)
            .err()
            .expect("a live socket is refused");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // A newer file at the path (another master's) is not removed.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"").unwrap();
        bound.remove();
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
        let stale = bind(&path, 0o600, false).expect("bind again");
        drop(stale.listener);
        let again = bind(&path, 0o660, false).expect("a stale socket is replaced");
        again.remove();
        assert!(!path.exists());
    }

    #[test]
    fn paths_per_server_and_for_a_usr2_child() {
        let per = socket_path(&ControlSocket::PerServer, "app", 42, "").unwrap();
        assert!(per.ends_with("app-42.sock"), "{}", per.display());
        let given = ControlSocket::Path("/run/x/ctl.sock".into());
        assert_eq!(
            socket_path(&given, "app", 42, ".2").unwrap(),
            PathBuf::from("/run/x/ctl.sock.2")
        );
        assert_eq!(socket_path(&ControlSocket::Off, "app", 42, ""), None);
    }
}
