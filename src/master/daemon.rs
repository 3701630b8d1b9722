//! `-D/--daemon` and the workers' user and group (`-u`, `-g`, `--initgroups`).
//!
//! Daemonizing is Gunicorn's `util.daemonize`: fork (the parent exits), `setsid(2)`, fork
//! again (so the daemon can never reacquire a terminal), `umask(0o22)`, then stdio to
//! `/dev/null` — all three, or with `-R/--enable-stdio-inheritance` only stdin and the streams
//! still on a terminal. A USR2 child (`GUNICORN_FD` set) never daemonizes again. No thread is
//! started: the daemon is the single-threaded master.

use super::ForkHooks;
use nix::unistd::{fork, ForkResult, Gid, Uid};
use std::os::fd::AsRawFd;

/// Detach from the terminal and the session. Returns in the daemon (the grandchild) only.
pub fn daemonize(inherit_stdio: bool, hooks: &dyn ForkHooks) -> std::io::Result<()> {
    if super::upgrade::is_upgrade_child() || std::env::var_os("GUNICORN_FD").is_some() {
        return Ok(());
    }
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        crate::log::stderr_line(
            "Warning: you shouldn't specify `daemon = True` when launching by systemd with \
             `Type = notify`",
        );
    }
    fork_and_leave_parent(hooks)?;
    nix::unistd::setsid()?;
    fork_and_leave_parent(hooks)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    redirect_stdio(inherit_stdio)
}

/// Fork; the parent exits at once, the child returns.
fn fork_and_leave_parent(hooks: &dyn ForkHooks) -> std::io::Result<()> {
    hooks.before_fork();
    // SAFETY: the process is single-threaded here (before the master starts; DESIGN §1);
    // the parent only calls _exit(2), the child carries on as the process.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            // SAFETY: _exit(2) leaves at once, running no destructors or atexit handlers that
            // belong to the process that lives on in the child.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Child) => {
            hooks.after_fork_child();
            Ok(())
        }
        Err(e) => {
            hooks.after_fork_parent();
            Err(e.into())
        }
    }
}

fn redirect_stdio(inherit_stdio: bool) -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let null = null.as_raw_fd();
    // stdin never stays (Gunicorn closes it either way); stdout/stderr stay with `-R` unless
    // they are a terminal the daemon just left.
    for fd in 0..3 {
        // SAFETY: isatty(3) only inspects the descriptor.
        let tty = unsafe { libc::isatty(fd) } == 1;
        if fd == 0 || !inherit_stdio || tty {
            // SAFETY: dup2(2) onto a standard descriptor; `null` is open for the call.
            if unsafe { libc::dup2(null, fd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Gunicorn's `util.set_owner_process`, in a new worker before it loads the app: groups first
/// (while still allowed), then the user. A gid or uid of 0 is left alone, as Gunicorn does.
/// Beyond Gunicorn: without `--initgroups` the supplementary groups become just `gid` (Gunicorn
/// leaves root's, group 0 included, to the worker), and with it the primary group is set too.
pub fn set_owner_process(uid: u32, gid: u32, initgroups: bool) -> nix::Result<()> {
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    if gid.as_raw() != 0 {
        let user = initgroups
            .then(|| nix::unistd::User::from_uid(uid).ok().flatten())
            .flatten()
            .and_then(|u| std::ffi::CString::new(u.name).ok());
        let root = nix::unistd::geteuid().is_root();
        match user {
            Some(name) => nix::unistd::initgroups(&name, gid)?,
            None if root => nix::unistd::setgroups(&[gid])?,
            None => {}
        }
        if gid != nix::unistd::getgid() {
            nix::unistd::setgid(gid)?;
        }
    }
    if uid.as_raw() != 0 && uid != nix::unistd::getuid() {
        nix::unistd::setuid(uid)?;
    }
    Ok(())
}

/// Gunicorn chowns what workers must reach after dropping privileges: Unix socket files (so
/// `--user` clients can connect) and log files (so USR1 can reopen them).
pub fn chown_for_workers(paths: &[&std::path::Path], uid: u32, gid: u32) {
    if nix::unistd::geteuid().as_raw() != 0 {
        return;
    }
    for path in paths {
        let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        if let Err(e) = nix::unistd::chown(*path, owner.0, owner.1) {
            crate::warning!("Cannot chown {} to {uid}:{gid}: {e}", path.display());
        }
    }
}
