//! The modes of `gunicorn-rs` besides serving (DESIGN §1): `ctl` (one-shot control commands),
//! `attach [SOCKET]` (the dashboard on a running server) and `--tui` (the dashboard launching
//! its own server, in [`tui`]). The dashboard and `ctl` themselves live in the `ui` crate; this
//! module only turns the command line into their calls and owns the process around them.

mod tail;
mod tui;

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use nix::sys::signal::{SigSet, Signal};
use ui::dashboard::{self, Exit, Options, Ownership, SocketPath};
use ui::discovery::{self, ServerSocket};

pub use tui::run as tui;

const ATTACH_USAGE: &str = "usage: gunicorn-rs attach [SOCKET]

Opens the dashboard on a running gunicorn-rs server. Without SOCKET, finds this user's
servers; when several run, asks which one.";

/// `gunicorn-rs ctl …` and `gunicorn-rs attach …`, recognised by the first argument alone:
/// these words are not Python module names anyone serves (`ctl:app` still is one), and
/// deciding before the configuration is loaded keeps Python out of these modes.
pub fn subcommand(args: &[OsString]) -> Option<i32> {
    let word = args.get(1)?.to_str()?;
    let rest: Vec<String> = args
        .iter()
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match word {
        "ctl" => Some(ui::ctl::main(rest)),
        "attach" => Some(attach(&rest)),
        _ => None,
    }
}

fn attach(args: &[String]) -> i32 {
    let socket = match args {
        [] => match choose_server() {
            Ok(path) => path,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{ATTACH_USAGE}");
            return 0;
        }
        [path] if !path.starts_with('-') => PathBuf::from(path),
        _ => {
            eprintln!("{ATTACH_USAGE}");
            return 2;
        }
    };
    if !std::io::stdout().is_terminal() {
        eprintln!("Error: the dashboard needs a terminal (use `gunicorn-rs ctl` in scripts)");
        return 1;
    }
    exit_on_signals();
    let opts = Options {
        ownership: Ownership::Attached,
        ..Options::default()
    };
    match dashboard::run(SocketPath(socket), opts) {
        Ok(Exit::Quit | Exit::Detached) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

/// The only running server, or the one the user picks from a numbered list.
fn choose_server() -> Result<PathBuf, String> {
    let servers = discovery::list_servers();
    match servers.as_slice() {
        [] => Err(format!(
            "no running gunicorn-rs server found in {} (give the socket path: gunicorn-rs attach SOCKET)",
            discovery::socket_dir().display()
        )),
        [one] => Ok(one.path.clone()),
        many if std::io::stdin().is_terminal() => pick(many),
        _ => discovery::find_default().map(|s| s.0),
    }
}

fn pick(servers: &[ServerSocket]) -> Result<PathBuf, String> {
    let mut out = std::io::stderr();
    let _ = writeln!(out, "Several gunicorn-rs servers are running:");
    for (i, s) in servers.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}) {} (pid {})  {}",
            i + 1,
            s.name,
            s.pid,
            s.path.display()
        );
    }
    let _ = write!(out, "Attach to which one? [1-{}] ", servers.len());
    let _ = out.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    line.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| servers.get(i))
        .map(|s| s.path.clone())
        .ok_or_else(|| format!("no server numbered {:?}", line.trim()))
}

/// SIGTERM, SIGHUP (the terminal went away), SIGINT and SIGQUIT end the dashboard with the
/// terminal restored. They are blocked in this thread before the dashboard starts its own, so
/// every thread inherits the mask and only the waiting thread below ever receives them. For
/// `--tui`, exiting closes the lifeline and the server stops gracefully (`master::lifeline`).
/// Threads are fine here: this process is the dashboard, never the master.
fn exit_on_signals() {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
    ] {
        set.add(sig);
    }
    if set.thread_block().is_err() {
        return;
    }
    let wait = move || {
        if let Ok(sig) = set.wait() {
            dashboard::restore_terminal();
            std::process::exit(128 + sig as i32);
        }
    };
    let _ = std::thread::Builder::new()
        .name("gunicorn-rs-signals".into())
        .spawn(wait);
}
