//! `-p/--pid FILE`: the master's pid, Gunicorn's `pidfile.Pidfile` semantics — refuse to start
//! when the file names a live process, write atomically (temp file + rename(2)), mode 0644,
//! remove on exit only if the file still holds our pid (a newer master may own it by then).

use nix::unistd::Pid;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    pid: Pid,
}

impl Pidfile {
    /// Writes `pid` to `path`.
    pub fn create(path: &Path, pid: Pid) -> io::Result<Pidfile> {
        if let Some(old) = live_pid(path) {
            if old != pid {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "Already running on PID {old} (or pid file '{}' is stale)",
                        path.display()
                    ),
                ));
            }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} doesn't exist. Can't create pidfile.", dir.display()),
            ));
        }
        write_atomically(path, dir, pid)?;
        Ok(Pidfile {
            path: path.to_path_buf(),
            pid,
        })
    }

    /// Promotion: `<pidfile>.2` becomes `<pidfile>` (Gunicorn's `Pidfile.rename`).
    pub fn rename(&mut self, path: &Path) -> io::Result<()> {
        self.unlink();
        *self = Pidfile::create(path, self.pid)?;
        Ok(())
    }

    /// Removes the file if it still names this master.
    pub fn unlink(&self) {
        if read_pid(&self.path) == Some(self.pid) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temp file beside `path`, then rename(2): a reader never sees half a pid.
fn write_atomically(path: &Path, dir: &Path, pid: Pid) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{pid}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    let written = writeln!(file, "{pid}")
        .and_then(|()| {
            // -rw-r--r-- whatever the umask (Gunicorn chmods to 420).
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
            file.set_permissions(mode)
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn read_pid(path: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim().parse::<i32>().ok().map(Pid::from_raw)
}

/// Gunicorn's `Pidfile.validate`: the pid in the file if that process exists (kill(2) with
/// signal 0 succeeds or fails with EPERM).
fn live_pid(path: &Path) -> Option<Pid> {
    let pid = read_pid(path).filter(|p| p.as_raw() > 0)?;
    match nix::sys::signal::kill(pid, None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => Some(pid),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_refuses_a_live_pid_and_unlinks_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pid");
        let me = nix::unistd::getpid();
        let file = Pidfile::create(&path, me).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // The file names a live process (this one): another master refuses to start.
        let err = Pidfile::create(&path, Pid::from_raw(1)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with(&format!("Already running on PID {me}")));
        // Another master took the file over: ours leaves it alone.
        std::fs::write(&path, "1\n").unwrap();
        file.unlink();
        assert!(path.exists());
        std::fs::write(&path, format!("{me}\n")).unwrap();
        file.unlink();
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_pidfile_is_replaced_and_rename_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pid");
        std::fs::write(&path, "999999999\n").unwrap();
        let me = nix::unistd::getpid();
        let mut file = Pidfile::create(&dir.path().join("app.pid.2"), me).unwrap();
        file.rename(&path).unwrap();
        assert!(!dir.path().join("app.pid.2").exists());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
    }
}
