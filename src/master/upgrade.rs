//! USR2 binary upgrade, Gunicorn's way (`Arbiter.reexec` / `maybe_promote_master`,
//! `reference/gunicorn.md` §3 "Binary upgrade"):
//!
//! 1. USR2 → the master forks a child that clears `FD_CLOEXEC` on the listeners, sets
//!    `GUNICORN_PID=<old master>` and `GUNICORN_FD=fd,fd…` (or `LISTEN_PID`/`LISTEN_FDS` when the
//!    listeners came from systemd), changes back to the directory it was started in and execs
//!    the executable named by the original `argv[0]` with the original arguments and
//!    environment. `/proc/self/exe` would name the old binary, even once it was replaced.
//! 2. The new master adopts those listeners instead of binding, writes `<pidfile>.2`, titles
//!    itself `master [NAME.2]` and boots its workers: both generations serve.
//! 3. `kill -TERM <old>`: the old master retires its workers without shutting the shared
//!    listeners down or unlinking a Unix socket path. Its child sees `getppid()` change within
//!    a loop turn (≤ 1 s), logs `Master has been promoted.` and renames its pidfile.
//!
//! Knows processes, fds and the environment; not HTTP, not Python.

use super::{signals, Master};
use nix::sys::signal::SigSet;
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the process was started with (Gunicorn's `START_CTX`), captured first thing in `main`,
/// before `--chdir` and `--env` change the directory and the environment.
#[derive(Debug)]
struct StartContext {
    exe: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
}

static START: OnceLock<StartContext> = OnceLock::new();

/// Where the listeners came from (decides what USR2 hands on and what a stop may close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerSource {
    Bound,
    /// systemd socket activation (`sd_listen_fds(3)`).
    Systemd,
    /// An old master's `GUNICORN_FD` (this process is a USR2 child).
    OldMaster,
}

static SOURCE: OnceLock<ListenerSource> = OnceLock::new();

/// Variables that describe one hand-over and must never leak into the next one.
const HANDOVER_VARS: [&str; 4] = ["GUNICORN_FD", "GUNICORN_PID", "LISTEN_FDS", "LISTEN_PID"];

/// Records argv, the executable, the working directory and the environment. Call once, before
/// anything changes them.
pub fn capture_start_context(args: &[OsString]) {
    let cwd = start_cwd();
    let exe = args
        .first()
        .map(|argv0| resolve_executable(Path::new(argv0), &cwd))
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_default();
    let env = std::env::vars_os()
        .filter(|(k, _)| !HANDOVER_VARS.iter().any(|v| k == v))
        .collect();
    let _ = START.set(StartContext {
        exe,
        args: args.to_vec(),
        cwd,
        env,
    });
}

/// Gunicorn's `util.getcwd`: `$PWD` when it is the current directory (it keeps the symlinks a
/// deployment uses, such as `current -> releases/42`), else `getcwd(3)`.
fn start_cwd() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let real = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    match std::env::var_os("PWD").map(PathBuf::from) {
        Some(pwd) if pwd.is_absolute() && same(&pwd, &real) => pwd,
        _ => real,
    }
}

/// `argv[0]` as `execvp(3)` would find it: a name with a slash is a path (made absolute against
/// the start directory, symlinks kept, so a re-pointed symlink picks the new release), a bare
/// name is looked up on `PATH`.
fn resolve_executable(argv0: &Path, cwd: &Path) -> PathBuf {
    if argv0.as_os_str().as_bytes().contains(&b'/') {
        return cwd.join(argv0);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| cwd.join(dir).join(argv0))
        .find(|candidate| is_executable(candidate))
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| argv0.to_path_buf())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The listener fds this process was handed: systemd's first (`sd_listen_fds(3)`), then an old
/// master's `GUNICORN_FD`. `None`: bind `--bind` as usual. Removes the variables it read.
pub fn inherited_fds() -> Option<Vec<RawFd>> {
    let systemd = crate::sock::systemd_fds();
    if !systemd.is_empty() {
        let _ = SOURCE.set(ListenerSource::Systemd);
        return Some(systemd);
    }
    let raw = std::env::var("GUNICORN_FD").ok()?;
    std::env::remove_var("GUNICORN_FD");
    let fds: Vec<RawFd> = raw
        .split(',')
        .filter_map(|fd| fd.trim().parse().ok())
        .collect();
    let _ = SOURCE.set(ListenerSource::OldMaster);
    Some(fds)
}

pub fn listener_source() -> ListenerSource {
    SOURCE.get().copied().unwrap_or(ListenerSource::Bound)
}

/// Is this process a USR2 child that has not been promoted yet?
pub fn is_upgrade_child() -> bool {
    std::env::var_os("GUNICORN_PID").is_some()
}

/// The master's side of the hand-over.
#[derive(Debug, Default)]
pub(super) struct Upgrade {
    /// The new master forked by USR2, until it exits (Gunicorn's `reexec_pid`).
    pub child: Option<Pid>,
    /// The old master that started this one, until promotion (Gunicorn's `master_pid`).
    pub parent: Option<Pid>,
}

impl Upgrade {
    /// Reads (and removes) `GUNICORN_PID`.
    pub fn from_env() -> Upgrade {
        let parent = std::env::var("GUNICORN_PID")
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .map(Pid::from_raw);
        std::env::remove_var("GUNICORN_PID");
        Upgrade {
            child: None,
            parent,
        }
    }

    /// Another master shares the listeners (or systemd holds them): a stop only closes this
    /// process's descriptors — no `shutdown(2)`, no unlink (Gunicorn's `stop`).
    pub fn shares_listeners(&self) -> bool {
        self.child.is_some()
            || self.parent.is_some()
            || listener_source() == ListenerSource::Systemd
    }

    /// `.2` in the process title and the pidfile until promotion.
    pub fn suffix(&self) -> &'static str {
        if self.parent.is_some() {
            ".2"
        } else {
            ""
        }
    }
}

/// Everything the exec needs, built before fork so the child only makes system calls.
struct Exec {
    exe: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: CString,
    fds: Vec<RawFd>,
    systemd: bool,
}

impl Exec {
    fn prepare(ctx: &StartContext, fds: Vec<RawFd>, master: Pid) -> Option<Exec> {
        let c = |bytes: &[u8]| CString::new(bytes).ok();
        let systemd = listener_source() == ListenerSource::Systemd;
        let mut env: Vec<CString> = ctx
            .env
            .iter()
            .map(|(k, v)| c(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<Option<_>>()?;
        env.push(c(format!("GUNICORN_PID={master}").as_bytes())?);
        let fd_list: Vec<String> = fds.iter().map(|fd| fd.to_string()).collect();
        env.push(c(if systemd {
            format!("LISTEN_FDS={}", fds.len())
        } else {
            format!("GUNICORN_FD={}", fd_list.join(","))
        }
        .as_bytes())?);
        Some(Exec {
            exe: c(ctx.exe.as_os_str().as_bytes())?,
            argv: ctx
                .args
                .iter()
                .map(|a| c(a.as_bytes()))
                .collect::<Option<_>>()?,
            env,
            cwd: c(ctx.cwd.as_os_str().as_bytes())?,
            fds,
            systemd,
        })
    }

    /// In the forked child: hand the listeners on and exec. Never returns.
    fn run(mut self, mask: &SigSet) -> ! {
        signals::reset_in_child();
        signals::restore_mask(mask);
        for &fd in &self.fds {
            // SAFETY: F_SETFD on a descriptor this process holds open (a listener).
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        if self.systemd {
            // sd_listen_fds(3): LISTEN_PID must be the pid that reads it, i.e. ours after exec.
            if let Ok(var) = CString::new(format!("LISTEN_PID={}", std::process::id())) {
                self.env.push(var);
            }
        }
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.env.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        // SAFETY: the child of a single-threaded master; every pointer is a NUL-terminated
        // string owned by `self`, and both arrays end with NULL, as execve(2) requires.
        unsafe {
            libc::chdir(self.cwd.as_ptr());
            libc::execve(self.exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
        }
        crate::error!(
            "Cannot exec the new master {:?}: {}",
            self.exe,
            std::io::Error::last_os_error()
        );
        // SAFETY: _exit(2) ends the child without running the master's destructors or atexit
        // handlers (Pitfalls §4: the child never returns into the master's code).
        unsafe { libc::_exit(1) }
    }
}

impl Master<'_> {
    /// USR2: start a new master from the (possibly replaced) executable.
    pub(super) fn reexec(&mut self) {
        if self.upgrade.child.is_some() {
            return crate::warning!("USR2 signal ignored. Child exists.");
        }
        if self.upgrade.parent.is_some() {
            return crate::warning!("USR2 signal ignored. Parent exists.");
        }
        let fds = self.listeners.iter().map(|l| l.raw_fd()).collect();
        let Some(exec) = START
            .get()
            .and_then(|ctx| Exec::prepare(ctx, fds, self.pid))
        else {
            return crate::error!("USR2: the start context (argv, cwd, environment) is unusable");
        };
        let mask = signals::block_all();
        // CPython's fork hooks around the fork, as `os.fork()` in Gunicorn's `reexec`: the
        // child runs the `pre_exec` hook before it execs.
        self.hooks.before_fork();
        // SAFETY: the master is single-threaded (DESIGN §1); the child only runs the
        // `pre_exec` hook and makes system calls on data prepared above, then execs or _exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                self.hooks.after_fork_child();
                self.hooks.pre_exec(&self.view());
                exec.run(&mask)
            }
            Ok(ForkResult::Parent { child }) => {
                self.hooks.after_fork_parent();
                signals::restore_mask(&mask);
                self.upgrade.child = Some(child);
            }
            Err(e) => {
                self.hooks.after_fork_parent();
                signals::restore_mask(&mask);
                crate::error!("Cannot fork the new master: {e}");
            }
        }
    }

    /// The reaped child was the USR2 master (it failed, or was stopped for a rollback): this
    /// master is the only one again and may upgrade again.
    pub(super) fn reexec_child_exited(&mut self, pid: Pid) -> bool {
        if self.upgrade.child != Some(pid) {
            return false;
        }
        self.upgrade.child = None;
        crate::info!("New master (pid:{pid}) exited; this master keeps serving");
        self.notify_main_pid();
        true
    }

    /// Gunicorn's `maybe_promote_master`: the old master is gone when our parent changed.
    pub(super) fn maybe_promote_master(&mut self) {
        let Some(parent) = self.upgrade.parent else {
            return;
        };
        if nix::unistd::getppid() == parent {
            return;
        }
        crate::info!("Master has been promoted.");
        self.upgrade.parent = None;
        if let (Some(pidfile), Some(path)) = (self.pidfile.as_mut(), self.cfg.pidfile.as_ref()) {
            if let Err(e) = pidfile.rename(path) {
                crate::error!("Cannot rename the pidfile to {}: {e}", path.display());
            }
        }
        if let (Some(server), crate::config::ControlSocket::Path(path)) =
            (self.control.as_mut(), &self.cfg.control_socket)
        {
            server.rename(path);
            self.book.control_path = Some(server.path().to_owned());
        }
        crate::proctitle::set(&self.master_title());
        self.notify_main_pid();
    }

    /// `gunicorn-rs: master [NAME]`, `[NAME.2]` for a USR2 child until promotion.
    pub(super) fn master_title(&self) -> String {
        format!(
            "gunicorn-rs: master [{}{}]",
            self.cfg.proc_name(),
            self.upgrade.suffix()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv0_resolves_like_execvp() {
        let cwd = Path::new("/srv/app");
        assert_eq!(
            resolve_executable(Path::new("bin/gunicorn-rs"), cwd),
            PathBuf::from("/srv/app/bin/gunicorn-rs")
        );
        assert_eq!(
            resolve_executable(Path::new("/usr/bin/x"), cwd),
            PathBuf::from("/usr/bin/x")
        );
        // A bare name is searched on PATH: `sh` is always somewhere.
        assert!(resolve_executable(Path::new("sh"), cwd).is_absolute());
    }
}
