//! `gunicorn-rs --tui [OPTIONS] APP`: this process becomes the dashboard and runs the real
//! server — itself, headless — as its child (DESIGN §1, reference/tui.md §2.3 "Why the TUI
//! spawns the master"): the master stays single-threaded and never touches the terminal, and
//! the dashboard is just a client of its control socket, as `attach` is.
//!
//! The child is `gunicorn-rs` again with the same arguments minus `--tui`, plus `--no-tui` (which
//! beats a `--tui` from GUNICORN_CMD_ARGS or the config file) and `--control-socket`: the path the
//! user gave, so other terminals can `ctl` and `attach` it there, or else one in a private
//! runtime directory `<socket dir>/tui-<our pid>/`. It gets:
//! - stdin /dev/null, stdout and stderr appended to `output.log` in that directory, which the log
//!   pane tails (see `tail.rs` for why a file and not a pipe);
//! - a new session (`setsid`): the terminal's SIGHUP and SIGINT never reach it — SIGHUP would
//!   mean "reload" to a master — and it has no controlling terminal to lose on detach;
//! - the lifeline pipe (`master::lifeline`): EOF stops it gracefully, so a dashboard that quits,
//!   panics, is killed (even with SIGKILL) or loses its terminal takes its dev server with it;
//!   after a detach the master has been told `D` first and runs on headless.
//!
//! A discoverable symlink `<socket dir>/<name>-<master pid>.sock` points at the private socket,
//! so a detached server is found by `attach` and `ctl` without arguments.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gunicorn_rs::config::Config;
use gunicorn_rs::master::lifeline;
use ui::dashboard::{self, Exit, Options, Ownership, SocketPath};
use ui::discovery;

use super::tail::{ExitSlot, Tail};

/// Beyond `graceful_timeout`: how long the stopping master gets before its process group is
/// killed (it kills late workers itself at `graceful_timeout`).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of output repeated on the terminal when the server ends badly: the log pane is gone.
const TAIL_LINES: usize = 20;

/// The private runtime directory and what lives in it.
struct Runtime {
    dir: PathBuf,
    /// `<dir>/control.sock`: the master's socket, or a link to the path the user gave (so the
    /// sweep below sees a detached master's directory as served and keeps its output file).
    socket: PathBuf,
    /// Where the master binds: `socket`, or the user's `--control-socket PATH`.
    bind: PathBuf,
    output: PathBuf,
    /// The discoverable name, once the master's pid is known.
    link: Option<PathBuf>,
}

impl Runtime {
    /// `given`: the user's `--control-socket PATH`, if any.
    fn create(given: Option<&Path>) -> Result<Runtime, String> {
        let base = discovery::socket_dir();
        let dir = base.join(format!("tui-{}", std::process::id()));
        for d in [&base, &dir] {
            discovery::ensure_private_dir(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        sweep(&base);
        let socket = dir.join("control.sock");
        let bind = match given {
            Some(path) => {
                std::os::unix::fs::symlink(path, &socket)
                    .map_err(|e| format!("cannot create {}: {e}", socket.display()))?;
                path.to_path_buf()
            }
            None => socket.clone(),
        };
        Ok(Runtime {
            socket,
            bind,
            output: dir.join("output.log"),
            dir,
            link: None,
        })
    }

    /// Links `<name>-<pid>.sock` to the private socket; without the link the dashboard still
    /// works (by the private path) and only discovery misses this server.
    fn link(&mut self, name: &str, pid: u32) -> PathBuf {
        let link = discovery::default_socket_path(name, pid);
        let _ = fs::remove_file(&link);
        match std::os::unix::fs::symlink(&self.socket, &link) {
            Ok(()) => {
                self.link = Some(link.clone());
                link
            }
            Err(_) => self.socket.clone(),
        }
    }

    fn remove(&self) {
        if let Some(link) = &self.link {
            let _ = fs::remove_file(link);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes what dashboards killed before cleaning up left behind: `tui-<pid>` directories whose
/// dashboard is gone and whose socket nobody serves (a detached master still serves its own),
/// and links to them named after a master that is gone.
fn sweep(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let dead = |pid: u32| !Path::new(&format!("/proc/{pid}")).exists();
        if let Some(pid) = name.strip_prefix("tui-").and_then(|p| p.parse().ok()) {
            let served = UnixStream::connect(path.join("control.sock")).is_ok();
            if dead(pid) && !served {
                let _ = fs::remove_dir_all(&path);
            }
        } else if let Some((_, pid)) = discovery::parse_socket_name(&name) {
            let dangling = fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink())
                && fs::metadata(&path).is_err();
            if dangling && dead(pid) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Runs the dashboard over a server it starts; returns the process exit code.
pub fn run(args: &[OsString], cfg: &Config) -> i32 {
    if cfg.daemon {
        eprintln!("Error: --tui and --daemon cannot be combined");
        return 1;
    }
    // The dashboard is a client of the control socket; without one it would show nothing.
    if cfg.control_socket == gunicorn_rs::config::ControlSocket::Off {
        eprintln!("Error: --tui and --no-control-socket cannot be combined");
        return 1;
    }
    if !std::io::stdout().is_terminal() {
        eprintln!("Error: --tui needs a terminal (run without it for a headless server)");
        return 1;
    }
    let given = match &cfg.control_socket {
        gunicorn_rs::config::ControlSocket::Path(path) => Some(path.as_path()),
        _ => None,
    };
    // The master would log the clash and run without a socket: a dashboard with nothing to show.
    if let Some(path) = given.filter(|p| UnixStream::connect(p).is_ok()) {
        eprintln!(
            "Error: --control-socket {} is in use by another server",
            path.display()
        );
        return 1;
    }
    // Before any thread starts: they all inherit the blocked mask (see `exit_on_signals`).
    super::exit_on_signals();
    let mut rt = match Runtime::create(given) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let (child, lifeline) = match spawn_master(args, &rt) {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("Error: cannot start the server: {e}");
            rt.remove();
            return 1;
        }
    };
    let pid = child.id();
    let link = rt.link(cfg.proc_name(), pid);
    // The path the user named is the one `Q` tells them to attach to.
    let socket = given.map_or(link, Path::to_path_buf);
    let exited = wait_in_background(child);
    let result = show_dashboard(&rt, socket, &exited);
    match result {
        Ok(Exit::Detached) => detach(lifeline, &rt),
        Ok(Exit::Quit) => stop(lifeline, pid, &exited, cfg, &rt),
        Err(e) => {
            eprintln!("Error: {e}");
            stop(lifeline, pid, &exited, cfg, &rt).max(1)
        }
    }
}

/// The dashboard, owning the server, with the server's output file in its log pane.
fn show_dashboard(rt: &Runtime, socket: PathBuf, exited: &ExitSlot) -> Result<Exit, String> {
    let file =
        File::open(&rt.output).map_err(|e| format!("cannot read {}: {e}", rt.output.display()))?;
    let opts = Options {
        ownership: Ownership::Owned,
        master_output: Some(Box::new(Tail::new(file, Arc::clone(exited)))),
        mouse: true,
    };
    dashboard::run(SocketPath(socket), opts).map_err(|e| e.to_string())
}

/// Starts `gunicorn-rs` headless; returns it and the lifeline's write end.
fn spawn_master(args: &[OsString], rt: &Runtime) -> std::io::Result<(Child, File)> {
    let exe = std::env::current_exe()?;
    let output = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&rt.output)?;
    // Both ends close on exec; the child clears the flag on its end alone (below), so the
    // write end stays with this process and EOF means this process is gone.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let read_fd = read.as_raw_fd();
    let mut command = Command::new(exe);
    command
        .args(args.iter().skip(1).filter(|a| a.as_os_str() != "--tui"))
        .arg("--no-tui")
        .arg("--control-socket")
        .arg(&rt.bind)
        .env(lifeline::ENV, read_fd.to_string())
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    // The dashboard blocks TERM/HUP/INT/QUIT for its signal thread; a blocked mask survives
    // exec, and the master must get those signals.
    let unblocked = nix::sys::signal::SigSet::empty();
    // SAFETY: between fork and exec only async-signal-safe calls: sigprocmask(2), setsid(2)
    // and fcntl(2); the set was built before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::sigprocmask(libc::SIG_SETMASK, unblocked.as_ref(), std::ptr::null_mut()) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(read_fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop::<OwnedFd>(read);
    Ok((child, File::from(write)))
}

/// A thread owns the child and records its exit code (signals as 128 + N, as shells do), so
/// the log pane can say the server ended and `q` can wait with a deadline.
fn wait_in_background(mut child: Child) -> ExitSlot {
    let exited: ExitSlot = Arc::default();
    let slot = Arc::clone(&exited);
    let wait = move || {
        use std::os::unix::process::ExitStatusExt;
        let code = match child.wait() {
            Ok(status) => status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1),
            Err(_) => 1,
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
    };
    if let Err(e) = std::thread::Builder::new()
        .name("gunicorn-rs-wait".into())
        .spawn(wait)
    {
        eprintln!("gunicorn-rs: cannot watch the server: {e}");
    }
    exited
}

/// The user detached: tell the master first, so the EOF that follows at our exit is not taken
/// for "the dashboard died". `dashboard::run` already printed the `attach` command.
fn detach(mut lifeline: File, rt: &Runtime) -> i32 {
    if let Err(e) = lifeline.write_all(&[lifeline::DETACH]) {
        eprintln!("Error: could not hand the server over ({e}); it is stopping");
        return 1;
    }
    eprintln!("Its output goes to {}", rt.output.display());
    0
}

/// `q` (or a dashboard error): closing the lifeline stops the master gracefully even when the
/// control socket never connected; then wait for it, with a deadline.
fn stop(lifeline: File, pid: u32, exited: &ExitSlot, cfg: &Config, rt: &Runtime) -> i32 {
    drop(lifeline);
    eprintln!("Stopping the server (pid {pid})…");
    let deadline = Instant::now() + cfg.graceful_timeout + STOP_GRACE;
    let code = loop {
        if let Some(code) = *exited.lock().unwrap_or_else(|e| e.into_inner()) {
            break code;
        }
        if Instant::now() >= deadline {
            eprintln!("The server did not stop in time; killing it and its workers");
            // The master leads its own process group (setsid), and its workers are in it.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            break 137;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if code != 0 {
        print_tail(rt);
    }
    rt.remove();
    code
}

/// The last lines of the server's output, when it ended badly: the log pane that showed them
/// is gone with the alternate screen.
fn print_tail(rt: &Runtime) {
    let Ok(text) = fs::read(&rt.output) else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("Last lines of the server's output:");
    for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
        eprintln!("  {line}");
    }
}
