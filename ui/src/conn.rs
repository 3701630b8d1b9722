//! The dashboard's socket client: one thread that connects, says hello, subscribes, and turns
//! every frame into an [`Event`] on the dashboard's channel; when the server goes away it
//! reports [`Event::Disconnected`] and retries with backoff until the server comes back
//! (tokio-console's `conn.rs` does the same: the backoff lives in the state).
//!
//! Commands are written from the UI thread through [`Conn::send`]; the reader thread matches
//! each reply to its command by id. Threads are fine here: this is the client process, never
//! the master (DESIGN §1).

use std::collections::HashMap;
use std::io::Read;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::app::Event;
use crate::protocol::{
    read_frame, write_frame, Command, Hello, LogLine, LogStream, Push, Request, ServerMessage,
    Subscription,
};

const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where the reader thread is. The backoff to wait before the next attempt is part of the
/// disconnected state, so it cannot be forgotten on reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Connected,
    Disconnected(Duration),
}

impl ConnState {
    /// The state after a failed attempt or a lost connection.
    pub fn after_failure(self) -> ConnState {
        match self {
            ConnState::Connected => ConnState::Disconnected(BACKOFF_FIRST),
            ConnState::Disconnected(b) => ConnState::Disconnected((b * 2).min(BACKOFF_MAX)),
        }
    }
}

/// How a session ended: a failed connect keeps backing off; a lost connection starts over.
enum Lost {
    BeforeConnect(String),
    AfterConnect(String),
}

/// Shared between the UI thread (writes) and the reader thread.
pub struct Conn {
    path: PathBuf,
    subscription: Subscription,
    writer: Mutex<Option<UnixStream>>,
    pending: Mutex<HashMap<u64, Command>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in the other thread must not take the dashboard down with a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Conn {
    /// Starts the reader thread; events go to `tx` until it is dropped or [`Conn::stop`].
    pub fn spawn(path: PathBuf, subscription: Subscription, tx: Sender<Event>) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            path,
            subscription,
            writer: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
        });
        let worker = Arc::clone(&conn);
        thread::Builder::new()
            .name("gunicorn-rs-conn".into())
            .spawn(move || worker.run(&tx))
            .map_err(|e| eprintln!("gunicorn-rs: cannot start the socket thread: {e}"))
            .ok();
        conn
    }

    /// Sends a command; its reply arrives later as an [`Event`].
    pub fn send(&self, command: Command) -> Result<(), String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut writer = lock(&self.writer);
        let stream = writer.as_mut().ok_or(crate::app::NOT_CONNECTED)?;
        lock(&self.pending).insert(id, command.clone());
        write_frame(stream, &Request::new(id, &command)).map_err(|e| e.to_string())
    }

    /// Ends the reader thread: it is blocked in `read`, so the socket is shut down under it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(stream) = lock(&self.writer).take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn run(&self, tx: &Sender<Event>) {
        let mut state = ConnState::Disconnected(BACKOFF_FIRST);
        while !self.stopping.load(Ordering::SeqCst) {
            let error = match self.session(tx) {
                Ok(()) => return,
                Err(Lost::BeforeConnect(e)) => e,
                Err(Lost::AfterConnect(e)) => {
                    state = ConnState::Connected;
                    e
                }
            };
            if self.stopping.load(Ordering::SeqCst) || tx.send(Event::Disconnected(error)).is_err()
            {
                return;
            }
            state = state.after_failure();
            if let ConnState::Disconnected(backoff) = state {
                thread::sleep(backoff);
            }
        }
    }

    /// One connection, from connect to the error that ended it. `Ok` only when the dashboard
    /// went away (its channel closed).
    fn session(&self, tx: &Sender<Event>) -> Result<(), Lost> {
        let before = |e: std::io::Error| Lost::BeforeConnect(e.to_string());
        let mut stream = UnixStream::connect(&self.path).map_err(before)?;
        *lock(&self.writer) = Some(stream.try_clone().map_err(before)?);
        let result = self
            .send(Command::Hello)
            .and_then(|()| self.send(Command::Subscribe(self.subscription)))
            .and_then(|()| self.read_loop(&mut stream, tx))
            .map_err(Lost::AfterConnect);
        lock(&self.writer).take();
        // Commands sent on this connection will never be answered.
        for (_, command) in lock(&self.pending).drain() {
            let _ = tx.send(Event::Reply {
                command,
                result: Err("connection lost".into()),
            });
        }
        result
    }

    fn read_loop(&self, stream: &mut impl Read, tx: &Sender<Event>) -> Result<(), String> {
        loop {
            let payload = read_frame(stream).map_err(|e| e.to_string())?;
            let message =
                ServerMessage::from_payload(&payload).map_err(|e| format!("bad message: {e}"))?;
            let event = match message {
                ServerMessage::Push(push) => push_event(push),
                ServerMessage::Reply(reply) => {
                    let Some(command) = lock(&self.pending).remove(&reply.id) else {
                        continue;
                    };
                    match reply_event(command, reply.result) {
                        Some(event) => event,
                        None => continue,
                    }
                }
            };
            if tx.send(event).is_err() {
                return Ok(());
            }
        }
    }
}

fn push_event(push: Push) -> Event {
    match push {
        Push::Snapshot(snap) => Event::Snapshot(snap),
        Push::Event(ev) => Event::ServerEvent(ev),
        Push::Logs(lines) => Event::LogLines(lines),
        Push::Lagged(n) => Event::LogLines(vec![LogLine {
            stream: LogStream::Master,
            line: format!("[dashboard] {n} updates dropped: the dashboard read too slowly"),
            ..Default::default()
        }]),
    }
}

/// The event for a reply, if the app cares. A server without `hello` (Gunicorn itself) still
/// counts as connected.
fn reply_event(command: Command, result: Result<serde_json::Value, String>) -> Option<Event> {
    match (&command, result) {
        (Command::Hello, Ok(data)) => Some(Event::Connected(
            serde_json::from_value(data).unwrap_or_default(),
        )),
        (Command::Hello, Err(_)) => Some(Event::Connected(Hello::default())),
        (Command::Subscribe(_), Ok(_)) => None,
        (_, result) => Some(Event::Reply { command, result }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets_on_connect() {
        let mut s = ConnState::Connected.after_failure();
        assert_eq!(s, ConnState::Disconnected(BACKOFF_FIRST));
        for _ in 0..10 {
            s = s.after_failure();
        }
        assert_eq!(s, ConnState::Disconnected(BACKOFF_MAX));
    }

    /// A server that answers hello and subscribe, pushes one snapshot, then hangs up.
    fn serve_once(listener: &std::os::unix::net::UnixListener) {
        use crate::protocol::{decode_request, Reply, Snapshot};
        let (mut stream, _) = listener.accept().unwrap();
        for _ in 0..2 {
            let req = decode_request(&read_frame(&mut stream).unwrap()).unwrap();
            write_frame(
                &mut stream,
                &Reply::ok(
                    req.id,
                    &Hello {
                        pid: 7,
                        ..Default::default()
                    },
                ),
            )
            .unwrap();
        }
        write_frame(&mut stream, &Push::Snapshot(Box::<Snapshot>::default())).unwrap();
    }

    #[test]
    fn connects_subscribes_and_reconnects_after_the_server_goes_away() {
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let conn = Conn::spawn(path.clone(), Subscription::default(), tx);
        let next = || rx.recv_timeout(Duration::from_secs(5)).unwrap();
        serve_once(&listener);
        assert!(matches!(next(), Event::Connected(h) if h.pid == 7));
        assert!(matches!(next(), Event::Snapshot(_)));
        assert!(
            matches!(next(), Event::Disconnected(_)),
            "the server hung up"
        );
        serve_once(&listener);
        assert!(matches!(next(), Event::Connected(_)), "and came back");
        conn.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gunicorn_without_hello_still_connects() {
        let ev = reply_event(Command::Hello, Err("Unknown command: hello".into()));
        assert_eq!(ev, Some(Event::Connected(Hello::default())));
    }
}
