//! `gunicorn-rs ctl`: one-shot and interactive control commands, with `gunicornc`'s options
//! (`-s SOCKET`, `-c COMMAND`, `-j` for JSON, an interactive prompt without `-c`), so scripts
//! written for Gunicorn 27 keep working. gunicorn-rs also takes the socket and the command as
//! plain arguments: `gunicorn-rs ctl [SOCKET] show workers`.
//!
//! Without a socket, the only running server of this user is used (see [`crate::discovery`]).

mod format;

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::discovery;
use crate::protocol::{
    read_frame, write_frame, Command, FrameError, Reply, Request, ServerMessage,
};

/// gunicornc's socket timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: gunicorn-rs ctl [-s SOCKET] [-c COMMAND] [-j] [SOCKET] [COMMAND...]

Sends control commands to a running gunicorn-rs (or Gunicorn) server.
Without a command, opens an interactive prompt.

  -s, --socket PATH    control socket (default: the only running server of this user)
  -c, --command CMD    run one command and exit
  -j, --json           print replies as JSON
  -h, --help           this help
  -v, --version        print the version

Commands: show workers|stats|config|listeners|all, worker add [N], worker remove [N],
worker kill PID [KILL], worker restart PID, reload, reopen, shutdown [graceful|quick],
dump PID|all, hold PID, release PID, subscribe [snapshots=MS] [events] [logs], hello, help";

/// Parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub socket: Option<PathBuf>,
    pub command: Option<String>,
    pub json: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
    Version,
}

/// Parses `args` (without the program name and the `ctl` word).
pub fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut out = Args::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-v" | "--version" => return Ok(Parsed::Version),
            "-j" | "--json" => out.json = true,
            "-s" | "--socket" => {
                out.socket = Some(it.next().ok_or("-s needs a socket path")?.into())
            }
            "-c" | "--command" => {
                out.command = Some(it.next().ok_or("-c needs a command")?.clone())
            }
            other if other.starts_with("--socket=") => {
                out.socket = Some(other["--socket=".len()..].into())
            }
            other if other.starts_with("--command=") => {
                out.command = Some(other["--command=".len()..].into())
            }
            other
                if other.starts_with('-')
                    && other.len() > 1
                    && !other[1..].starts_with(char::is_numeric) =>
            {
                return Err(format!("unknown option {other}"))
            }
            _ => rest.push(arg.clone()),
        }
    }
    // A first plain argument that names a socket file is the socket, as in `ctl SOCKET COMMAND`.
    if out.socket.is_none()
        && rest
            .first()
            .is_some_and(|a| a.contains('/') || a.ends_with(".sock"))
    {
        out.socket = Some(rest.remove(0).into());
    }
    if !rest.is_empty() {
        if out.command.is_some() {
            return Err("give the command either with -c or as arguments, not both".into());
        }
        out.command = Some(rest.join(" "));
    }
    Ok(Parsed::Run(out))
}

/// `gunicorn-rs ctl ARGS…`; returns the exit status (0 ok, 1 error, 2 usage, as gunicornc).
pub fn main(args: Vec<String>) -> i32 {
    let args = match parse_args(&args) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return 0;
        }
        Ok(Parsed::Version) => {
            println!("gunicorn-rs ctl {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(e) => {
            eprintln!("gunicorn-rs ctl: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let socket = match args.socket.clone() {
        Some(path) => path,
        None => match discovery::find_default() {
            Ok(found) => found.0,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
    };
    let out = &mut io::stdout();
    match &args.command {
        Some(line) => run_command(&socket, line, args.json, out),
        None => run_interactive(&socket, args.json, &mut io::stdin().lock(), out),
    }
}

/// A connection to the control socket.
pub struct Client {
    stream: UnixStream,
    next_id: u64,
    /// Pushes that arrived while waiting for a reply, for [`Client::next_message`].
    early: VecDeque<ServerMessage>,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, String> {
        let stream = UnixStream::connect(path)
            .map_err(|e| format!("Failed to connect to {}: {e}", path.display()))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream,
            next_id: 0,
            early: VecDeque::new(),
        })
    }

    /// Sends one command line as typed (the server parses it, like gunicornc) and waits for the
    /// reply with its id; pushes that arrive meanwhile are kept for [`Client::next_message`].
    pub fn request(&mut self, line: &str) -> Result<Reply, String> {
        self.next_id += 1;
        let request = Request {
            id: self.next_id,
            command: line.trim().to_string(),
            args: Vec::new(),
        };
        write_frame(&mut self.stream, &request).map_err(|e| format!("Communication error: {e}"))?;
        loop {
            match self.read_message()? {
                ServerMessage::Reply(reply) if reply.id == self.next_id => return Ok(reply),
                // A late reply to an earlier request that timed out: nobody waits for it.
                ServerMessage::Reply(_) => continue,
                push => self.early.push_back(push),
            }
        }
    }

    /// The next message from the server, reply or push.
    pub fn next_message(&mut self) -> Result<ServerMessage, String> {
        match self.early.pop_front() {
            Some(message) => Ok(message),
            None => self.read_message(),
        }
    }

    fn read_message(&mut self) -> Result<ServerMessage, String> {
        let payload = read_frame(&mut self.stream).map_err(|e| match e {
            FrameError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                "Communication error: timed out".into()
            }
            e => format!("Communication error: {e}"),
        })?;
        ServerMessage::from_payload(&payload).map_err(|e| format!("Communication error: {e}"))
    }
}

/// Runs one command line and prints its result; returns the exit status.
pub fn run_command(socket: &Path, line: &str, json: bool, out: &mut dyn Write) -> i32 {
    let mut client = match Client::connect(socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    match execute(&mut client, line, json, out) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

/// Sends `line`, prints the reply; `subscribe` then prints pushes, one JSON line each, until
/// the server closes the connection.
fn execute(client: &mut Client, line: &str, json: bool, out: &mut dyn Write) -> Result<(), String> {
    let reply = client.request(line)?;
    let data = reply.result?;
    let words: Vec<String> = line.split_whitespace().map(String::from).collect();
    let command = Command::parse(&words).ok();
    let text = if json {
        format::json(&data)
    } else {
        format::text(command.as_ref(), &data)
    };
    writeln!(out, "{text}").map_err(|e| e.to_string())?;
    if let Some(Command::Subscribe(_)) = command {
        loop {
            let ServerMessage::Push(push) = client.next_message()? else {
                continue;
            };
            let line = serde_json::to_string(&push).map_err(|e| e.to_string())?;
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The prompt: one command per line until `quit`, `exit`, `q` or end of input.
pub fn run_interactive(
    socket: &Path,
    json: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> i32 {
    let mut client = match Client::connect(socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let _ = writeln!(
        out,
        "Connected to {}\nType 'help' for available commands, 'quit' to exit.\n",
        socket.display()
    );
    let mut line = String::new();
    loop {
        let _ = write!(out, "gunicorn-rs> ");
        let _ = out.flush();
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return 0,
            Ok(_) => {}
        }
        match line.trim() {
            "" => continue,
            "quit" | "exit" | "q" => return 0,
            cmd => {
                if let Err(e) = execute(&mut client, cmd, json, out) {
                    let _ = writeln!(out, "Error: {e}");
                    // gunicornc reconnects after an error; the server may have restarted.
                    match Client::connect(socket) {
                        Ok(c) => client = c,
                        Err(_) => {
                            let _ = writeln!(out, "Connection lost. Exiting.");
                            return 1;
                        }
                    }
                }
                let _ = writeln!(out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
