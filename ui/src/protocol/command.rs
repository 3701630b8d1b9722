//! The command language of the control socket, typed.
//!
//! Words and defaults follow Gunicorn 27's `gunicorn/ctl/server.py` (`_execute_command`) and
//! `handlers.py`: `show all|workers|stats|config|listeners`, `worker add [N]`, `worker remove [N]`,
//! `worker kill PID`, `reload`, `reopen`, `shutdown [graceful|quick]`, `help`. gunicorn-rs adds
//! `hello`, `worker restart PID`, `dump PID|all`, `subscribe`, `unsubscribe`, `hold PID`,
//! `release PID`. Words are case-insensitive, as in Gunicorn.

/// What `show` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowTarget {
    All,
    Workers,
    Stats,
    Config,
    Listeners,
}

/// `shutdown graceful` is SIGTERM's meaning, `shutdown quick` SIGINT's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Graceful,
    Quick,
}

/// Whose stacks `dump` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpTarget {
    Pid(i32),
    All,
}

/// The signal `worker kill` sends. Gunicorn sends TERM only; `KILL` is the dashboard's `X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    Term,
    Kill,
}

/// What a `subscribe` asks the server to push (see [`super::Push`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    /// Push a snapshot every this many milliseconds; `None` for no snapshots.
    pub snapshot_ms: Option<u32>,
    pub events: bool,
    pub logs: bool,
}

impl Default for Subscription {
    /// What the dashboard wants: everything, snapshots at 4 Hz.
    fn default() -> Self {
        Subscription {
            snapshot_ms: Some(DEFAULT_SNAPSHOT_MS),
            events: true,
            logs: true,
        }
    }
}

/// 4 Hz: fresh enough for an elapsed-time column, cheap for the master.
pub const DEFAULT_SNAPSHOT_MS: u32 = 250;
/// The server never pushes faster than this, whatever the client asks.
pub const MIN_SNAPSHOT_MS: u32 = 50;

/// One control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Protocol version and capabilities; a client's first request.
    Hello,
    Help,
    Show(ShowTarget),
    WorkerAdd(u32),
    WorkerRemove(u32),
    /// `worker kill PID [TERM|KILL]`: a signal to one worker; the master respawns it. TERM (the
    /// default) is Gunicorn's `worker kill`.
    WorkerKill(i32, KillSignal),
    /// Replace one worker: the new one is up before the old one retires.
    WorkerRestart(i32),
    Reload,
    Reopen,
    Shutdown(ShutdownMode),
    Dump(DumpTarget),
    Subscribe(Subscription),
    Unsubscribe,
    /// Turn the timeout off for this worker while someone debugs it.
    Hold(i32),
    Release(i32),
}

impl Command {
    /// Parses command words (`["worker", "add", "2"]`). The error is the text of the error reply.
    pub fn parse(words: &[String]) -> Result<Command, String> {
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let w: Vec<&str> = lower.iter().map(String::as_str).collect();
        match w.as_slice() {
            [] => Err("Empty command".into()),
            ["hello", ..] => Ok(Command::Hello),
            ["help", ..] => Ok(Command::Help),
            ["show", rest @ ..] => parse_show(rest),
            ["worker", rest @ ..] => parse_worker(rest),
            ["reload", ..] => Ok(Command::Reload),
            ["reopen", ..] => Ok(Command::Reopen),
            ["shutdown"] | ["shutdown", "graceful", ..] => {
                Ok(Command::Shutdown(ShutdownMode::Graceful))
            }
            ["shutdown", "quick", ..] => Ok(Command::Shutdown(ShutdownMode::Quick)),
            ["shutdown", other, ..] => Err(format!(
                "Invalid argument: shutdown mode {other:?} (graceful|quick)"
            )),
            ["dump", "all"] => Ok(Command::Dump(DumpTarget::All)),
            ["dump", pid] => Ok(Command::Dump(DumpTarget::Pid(parse_pid(pid)?))),
            ["dump", ..] => Err("Invalid argument: dump PID|all".into()),
            ["subscribe", opts @ ..] => parse_subscribe(opts).map(Command::Subscribe),
            ["unsubscribe", ..] => Ok(Command::Unsubscribe),
            ["hold", pid] => Ok(Command::Hold(parse_pid(pid)?)),
            ["release", pid] => Ok(Command::Release(parse_pid(pid)?)),
            [cmd @ ("hold" | "release"), ..] => Err(format!("Invalid argument: {cmd} PID")),
            [cmd, ..] => Err(format!("Unknown command: {cmd}")),
        }
    }

    /// The canonical `(command, args)` our clients send: the verb words, then the arguments.
    pub fn to_words(&self) -> (String, Vec<String>) {
        let s = |x: &str| x.to_string();
        let (cmd, args): (&str, Vec<String>) = match self {
            Command::Hello => ("hello", vec![]),
            Command::Help => ("help", vec![]),
            Command::Show(t) => (show_words(*t), vec![]),
            Command::WorkerAdd(n) => ("worker add", vec![n.to_string()]),
            Command::WorkerRemove(n) => ("worker remove", vec![n.to_string()]),
            Command::WorkerKill(pid, KillSignal::Term) => ("worker kill", vec![pid.to_string()]),
            Command::WorkerKill(pid, KillSignal::Kill) => {
                ("worker kill", vec![pid.to_string(), s("KILL")])
            }
            Command::WorkerRestart(pid) => ("worker restart", vec![pid.to_string()]),
            Command::Reload => ("reload", vec![]),
            Command::Reopen => ("reopen", vec![]),
            Command::Shutdown(ShutdownMode::Graceful) => ("shutdown", vec![s("graceful")]),
            Command::Shutdown(ShutdownMode::Quick) => ("shutdown", vec![s("quick")]),
            Command::Dump(DumpTarget::All) => ("dump", vec![s("all")]),
            Command::Dump(DumpTarget::Pid(pid)) => ("dump", vec![pid.to_string()]),
            Command::Subscribe(sub) => ("subscribe", subscribe_words(sub)),
            Command::Unsubscribe => ("unsubscribe", vec![]),
            Command::Hold(pid) => ("hold", vec![pid.to_string()]),
            Command::Release(pid) => ("release", vec![pid.to_string()]),
        };
        (cmd.to_string(), args)
    }

    /// True for the commands that only read: a read-only socket (tui.md row 33, v2) allows these.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::Hello
                | Command::Help
                | Command::Show(_)
                | Command::Subscribe(_)
                | Command::Unsubscribe
        )
    }
}

fn show_words(t: ShowTarget) -> &'static str {
    match t {
        ShowTarget::All => "show all",
        ShowTarget::Workers => "show workers",
        ShowTarget::Stats => "show stats",
        ShowTarget::Config => "show config",
        ShowTarget::Listeners => "show listeners",
    }
}

fn parse_show(rest: &[&str]) -> Result<Command, String> {
    let target = match rest.first() {
        None => {
            return Err(
                "Invalid argument: Missing show target (all|workers|config|stats|listeners)".into(),
            )
        }
        Some(&"all") => ShowTarget::All,
        Some(&"workers") => ShowTarget::Workers,
        Some(&"stats") => ShowTarget::Stats,
        Some(&"config") => ShowTarget::Config,
        Some(&"listeners") => ShowTarget::Listeners,
        Some(other) => return Err(format!("Invalid argument: Unknown show target: {other}")),
    };
    Ok(Command::Show(target))
}

fn parse_worker(rest: &[&str]) -> Result<Command, String> {
    match rest {
        ["add"] => Ok(Command::WorkerAdd(1)),
        ["add", n, ..] => Ok(Command::WorkerAdd(parse_count(n)?)),
        ["remove"] => Ok(Command::WorkerRemove(1)),
        ["remove", n, ..] => Ok(Command::WorkerRemove(parse_count(n)?)),
        ["kill", pid] => Ok(Command::WorkerKill(parse_pid(pid)?, KillSignal::Term)),
        ["kill", pid, sig] => Ok(Command::WorkerKill(
            parse_pid(pid)?,
            parse_kill_signal(sig)?,
        )),
        ["restart", pid, ..] => Ok(Command::WorkerRestart(parse_pid(pid)?)),
        ["kill" | "restart"] => Err("Invalid argument: Missing PID".into()),
        _ => Err("Invalid argument: worker add [N]|remove [N]|kill PID|restart PID".into()),
    }
}

fn parse_kill_signal(word: &str) -> Result<KillSignal, String> {
    match word.trim_start_matches("sig") {
        "term" | "15" => Ok(KillSignal::Term),
        "kill" | "9" => Ok(KillSignal::Kill),
        _ => Err(format!("Invalid argument: signal {word:?} (TERM|KILL)")),
    }
}

/// Gunicorn clamps a count to at least 1 (`max(1, int(count))`).
fn parse_count(word: &str) -> Result<u32, String> {
    let n: i64 = word
        .parse()
        .map_err(|_| format!("Invalid argument: not a count: {word:?}"))?;
    Ok(n.clamp(1, i64::from(u32::MAX)) as u32)
}

fn parse_pid(word: &str) -> Result<i32, String> {
    match word.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("Invalid argument: not a pid: {word:?}")),
    }
}

/// `subscribe [snapshots[=MS]] [events] [logs] [none]`; no words means [`Subscription::default`].
/// Naming any kind subscribes to just those named; `none` alone subscribes to nothing.
fn parse_subscribe(opts: &[&str]) -> Result<Subscription, String> {
    if opts.is_empty() {
        return Ok(Subscription::default());
    }
    let mut sub = Subscription {
        snapshot_ms: None,
        events: false,
        logs: false,
    };
    for opt in opts {
        match *opt {
            "snapshots" => sub.snapshot_ms = Some(DEFAULT_SNAPSHOT_MS),
            "events" => sub.events = true,
            "logs" => sub.logs = true,
            "none" => {}
            other => match other.strip_prefix("snapshots=").map(str::parse::<u32>) {
                Some(Ok(ms)) => sub.snapshot_ms = Some(ms.max(MIN_SNAPSHOT_MS)),
                _ => return Err(format!("Invalid argument: subscribe option {other:?}")),
            },
        }
    }
    Ok(sub)
}

fn subscribe_words(sub: &Subscription) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(ms) = sub.snapshot_ms {
        words.push(format!("snapshots={ms}"));
    }
    if sub.events {
        words.push("events".into());
    }
    if sub.logs {
        words.push("logs".into());
    }
    if words.is_empty() {
        words.push("none".into());
    }
    words
}
