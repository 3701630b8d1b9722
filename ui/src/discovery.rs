//! Where control sockets live, so that two servers of one user never collide and `attach` /
//! `ctl` with no argument can find them: `$XDG_RUNTIME_DIR/gunicorn-rs/<name>-<pid>.sock`, or
//! `/tmp/gunicorn-rs-<uid>/<name>-<pid>.sock` without a runtime directory. The directory is
//! mode 0700 and must belong to us (a directory in /tmp someone else made first is refused, not
//! used); the master creates the socket itself with mode 0600 (DESIGN §5).
//!
//! The master calls [`default_socket_path`] and [`ensure_private_dir`]; clients call
//! [`list_servers`].

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A control socket's path, as given by the user or found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath(pub PathBuf);

impl SocketPath {
    pub fn display(&self) -> std::path::Display<'_> {
        self.0.display()
    }
}

/// `sun_path` holds 108 bytes including the NUL; names are cut to keep paths under it.
const MAX_NAME: usize = 40;

/// The current user's uid, from the owner of `/proc/self` (no libc call needed).
pub fn current_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The directory holding this user's sockets.
pub fn socket_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join("gunicorn-rs"),
        _ => PathBuf::from(format!("/tmp/gunicorn-rs-{}", current_uid().unwrap_or(0))),
    }
}

/// `<dir>/<name>-<pid>.sock`. The name is the server's proc_name, with anything but
/// `[A-Za-z0-9._-]` replaced, so it cannot escape the directory.
pub fn default_socket_path(name: &str, pid: u32) -> PathBuf {
    socket_dir().join(format!("{}-{pid}.sock", sanitize(name)))
}

fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    match clean.trim_start_matches('.') {
        "" => "gunicorn-rs".to_string(),
        rest => rest.to_string(),
    }
}

/// Creates `dir` with mode 0700 if missing; refuses one that another user owns or that others
/// can enter, because a socket inside it would be reachable by them.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if Some(meta.uid()) != current_uid() {
        return Err(io::Error::other(format!(
            "{} belongs to another user",
            dir.display()
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A server found in the socket directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSocket {
    pub path: PathBuf,
    pub name: String,
    pub pid: u32,
}

/// Parses `<name>-<pid>.sock`.
pub fn parse_socket_name(file_name: &str) -> Option<(String, u32)> {
    let stem = file_name.strip_suffix(".sock")?;
    let (name, pid) = stem.rsplit_once('-')?;
    Some((name.to_string(), pid.parse().ok()?))
}

/// This user's servers whose master is still alive, by name then pid. A socket left behind by
/// a master that died (SIGKILL leaves it) is skipped: its pid has no /proc entry.
pub fn list_servers() -> Vec<ServerSocket> {
    list_servers_in(&socket_dir())
}

pub fn list_servers_in(dir: &Path) -> Vec<ServerSocket> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<ServerSocket> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let (name, pid) = parse_socket_name(e.file_name().to_str()?)?;
            Path::new(&format!("/proc/{pid}"))
                .exists()
                .then(|| ServerSocket {
                    path: e.path(),
                    name,
                    pid,
                })
        })
        .collect();
    found.sort_by(|a, b| (&a.name, a.pid).cmp(&(&b.name, b.pid)));
    found
}

/// The socket to use when the user named none: the only live server, or an error that lists
/// the candidates.
pub fn find_default() -> Result<SocketPath, String> {
    let servers = list_servers();
    match servers.as_slice() {
        [one] => Ok(SocketPath(one.path.clone())),
        [] => Err(format!(
            "no running gunicorn-rs server found in {}",
            socket_dir().display()
        )),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|s| format!("  {}  ({} pid {})", s.path.display(), s.name, s.pid))
                .collect();
            Err(format!(
                "several servers are running; name one:\n{}",
                list.join("\n")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_and_parse_back() {
        assert_eq!(sanitize("my app/../x"), "my_app_.._x");
        assert_eq!(sanitize("..."), "gunicorn-rs");
        let path = default_socket_path("web-api", 4242);
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        assert_eq!(parse_socket_name(file), Some(("web-api".to_string(), 4242)));
        assert_eq!(parse_socket_name("x.sock"), None);
        assert_eq!(parse_socket_name("x-abc.sock"), None);
    }

    #[test]
    fn lists_only_live_servers() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-test-{}", std::process::id()));
        ensure_private_dir(&dir).unwrap();
        let me = std::process::id();
        fs::write(dir.join(format!("app-{me}.sock")), "").unwrap();
        // Pid 0x7fff_fff0 is above pid_max on Linux: a dead master's leftover.
        fs::write(dir.join("old-2147483632.sock"), "").unwrap();
        let found = list_servers_in(&dir);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].name.as_str(), found[0].pid), ("app", me));
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }
}
