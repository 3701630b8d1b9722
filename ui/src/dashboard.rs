//! The dashboard's entry point and loop: `gunicorn-rs --tui` (the dashboard launched the server
//! and owns it) and `gunicorn-rs attach` (it did not). The loop is only
//! `event → app.update(event) → perform effects → draw`; every decision is in `App::update`.
//!
//! Threads feed one channel: keyboard/mouse input, the socket client ([`crate::conn`]), and the
//! master's own output when the caller hands it over. The loop is generic over the terminal
//! backend and the command sink, so tests run it with `TestBackend` and a fake server.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self as term_event, Event as TermEvent};
use ratatui::backend::Backend;
use ratatui::Terminal;

pub use crate::app::Ownership;
use crate::app::{App, Effect, Event, ProcSample};
pub use crate::discovery::SocketPath;
use crate::procstat::ProcSampler;
use crate::protocol::{Command, Subscription};
use crate::{conn::Conn, term::TermGuard, view};

/// How often the loop ticks without other events: the elapsed and countdown columns are
/// interpolated by the server's snapshots, the tick drives timers and the banner's counter.
const TICK: Duration = Duration::from_millis(250);

/// How the dashboard ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `q`: an owned server was asked to stop gracefully; the caller waits for it.
    Quit,
    /// `Q`: the server keeps running; the `attach` command was printed.
    Detached,
}

#[derive(Debug)]
pub enum Error {
    /// The terminal could not be set up or drawn to.
    Terminal(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Terminal(e) => write!(f, "terminal: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// What the caller tells the dashboard.
pub struct Options {
    pub ownership: Ownership,
    /// The master's stdout/stderr pipe (`--tui`): its lines go to the log pane.
    pub master_output: Option<Box<dyn Read + Send>>,
    /// Mouse capture (click to select, wheel to scroll); off lets the terminal select text.
    pub mouse: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ownership: Ownership::Attached,
            master_output: None,
            mouse: true,
        }
    }
}

/// Where the loop sends commands: the socket client, or a fake in tests.
pub trait CommandSink {
    fn send(&self, command: Command) -> Result<(), String>;
}

impl CommandSink for Conn {
    fn send(&self, command: Command) -> Result<(), String> {
        Conn::send(self, command)
    }
}

/// Runs the dashboard on the server at `source` until the user quits or detaches.
pub fn run(source: SocketPath, opts: Options) -> Result<Exit, Error> {
    let (tx, rx) = mpsc::channel();
    let conn = Conn::spawn(source.0.clone(), Subscription::default(), tx.clone());
    if let Some(output) = opts.master_output {
        spawn_output_reader(output, tx.clone());
    }
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input_reader(tx, Arc::clone(&stop_input));
    let result = {
        let mut guard = TermGuard::enter(opts.mouse).map_err(Error::Terminal)?;
        let mut app = App::new(opts.ownership, source.display().to_string());
        app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let size = guard.terminal.size().map_err(Error::Terminal)?;
        app.size = (size.width, size.height);
        let mut sampler = ProcSampler::default();
        event_loop(
            &mut guard.terminal,
            &mut app,
            &rx,
            conn.as_ref(),
            &mut |pids| sampler.sample(pids),
        )
    };
    conn.stop();
    stop_input.store(true, Ordering::SeqCst);
    let _ = input.map(|h| h.join());
    let exit = result.map_err(Error::Terminal)?;
    if exit == Exit::Detached {
        eprintln!(
            "Detached; the server keeps running. Attach again with:\n  gunicorn-rs attach {}",
            source.display()
        );
    }
    Ok(exit)
}

/// Puts the terminal back (raw mode off, main screen, cursor shown) from outside the loop:
/// the caller's signal thread calls it before exiting on SIGTERM/SIGHUP, which would otherwise
/// leave the shell in raw mode on the alternate screen. Harmless when the terminal is normal.
pub fn restore_terminal() {
    crate::term::restore();
}

/// The loop. `sample_procs` reads /proc (injected so tests stay deterministic).
pub fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &Receiver<Event>,
    sink: &dyn CommandSink,
    sample_procs: &mut dyn FnMut(&[i32]) -> HashMap<i32, ProcSample>,
) -> io::Result<Exit> {
    let start = Instant::now();
    let mut last_tick = start;
    loop {
        terminal.draw(|frame| view::render(frame, app))?;
        let first = match rx.recv_timeout(TICK) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(Exit::Quit),
        };
        // Take everything already queued before drawing again: a burst of log lines is one frame.
        let mut events: Vec<Event> = first.into_iter().chain(rx.try_iter()).collect();
        if last_tick.elapsed() >= TICK || events.is_empty() {
            last_tick = Instant::now();
            events.push(Event::Tick(start.elapsed()));
        }
        for event in events {
            if let Some(exit) = dispatch(app, event, sink, sample_procs) {
                return Ok(exit);
            }
        }
    }
}

/// Updates the app with one event and performs its effects (which may produce more events).
fn dispatch(
    app: &mut App,
    event: Event,
    sink: &dyn CommandSink,
    sample_procs: &mut dyn FnMut(&[i32]) -> HashMap<i32, ProcSample>,
) -> Option<Exit> {
    let mut queue = vec![event];
    while let Some(event) = queue.pop() {
        for effect in app.update(event) {
            match effect {
                Effect::Send(command) => {
                    if let Err(e) = sink.send(command.clone()) {
                        queue.push(Event::Reply {
                            command,
                            result: Err(e),
                        });
                    }
                }
                Effect::SampleProcs(pids) => queue.push(Event::ProcStats(sample_procs(&pids))),
                Effect::Quit => return Some(Exit::Quit),
                Effect::Detach => return Some(Exit::Detached),
            }
        }
    }
    None
}

fn spawn_input_reader(tx: Sender<Event>, stop: Arc<AtomicBool>) -> Option<thread::JoinHandle<()>> {
    let read = move || {
        while !stop.load(Ordering::SeqCst) {
            // Poll with a timeout so the thread notices `stop` and the terminal is released.
            match term_event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => return,
            }
            let event = match term_event::read() {
                Ok(TermEvent::Key(key)) => Event::Key(key),
                Ok(TermEvent::Mouse(mouse)) => Event::Mouse(mouse),
                Ok(TermEvent::Resize(w, h)) => Event::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    };
    thread::Builder::new()
        .name("gunicorn-rs-input".into())
        .spawn(read)
        .ok()
}

fn spawn_output_reader(output: Box<dyn Read + Send>, tx: Sender<Event>) {
    let read = move || {
        let mut reader = BufReader::new(output);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            // Bytes, not `lines()`: one non-UTF-8 byte from an app must not end the pane.
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            if tx.send(Event::OutputLines(vec![text])).is_err() {
                return;
            }
        }
    };
    let _ = thread::Builder::new()
        .name("gunicorn-rs-output".into())
        .spawn(read);
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use ratatui::backend::TestBackend;

    use super::*;
    use crate::protocol::ShutdownMode;
    use crate::testing::{self, key};

    /// Records what the loop would have sent to the server.
    #[derive(Default)]
    struct FakeSink(RefCell<Vec<Command>>);

    impl CommandSink for FakeSink {
        fn send(&self, command: Command) -> Result<(), String> {
            self.0.borrow_mut().push(command);
            Ok(())
        }
    }

    #[test]
    fn the_loop_draws_performs_effects_and_quits() {
        let (tx, rx) = mpsc::channel();
        for event in [
            testing::hello(),
            testing::logs(),
            testing::snapshot(10, vec![testing::idle(0, 4101, 1)]),
        ] {
            tx.send(event).unwrap();
        }
        tx.send(key('+')).unwrap();
        tx.send(key('q')).unwrap();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let mut app = testing::app(80, 24);
        let sink = FakeSink::default();
        let mut sampled = Vec::new();
        let exit = event_loop(&mut terminal, &mut app, &rx, &sink, &mut |pids| {
            sampled.extend_from_slice(pids);
            HashMap::new()
        });
        assert_eq!(exit.unwrap(), Exit::Quit);
        assert_eq!(
            *sink.0.borrow(),
            [
                Command::WorkerAdd(1),
                Command::Shutdown(ShutdownMode::Graceful)
            ]
        );
        assert!(terminal.backend().to_string().contains("shop"));
    }
}
