//! The WSGI bridge without a server: `App::call` with an in-memory body and a recording sink,
//! against `tests/apps/validator_app.py` (wsgiref's validator) and `tests/apps/wsgi_features.py`.
//!
//! Tests run as threads of one process sharing one interpreter, so each attaches on its own
//! and probes are tagged per test rather than counted.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::PathBuf;
use std::sync::Once;

use gunicorn_rs::http::{BodyKind, ParseError, Protocol, RequestHead};
use gunicorn_rs::wsgi::{
    interpreter, App, AppError, BodyError, BodyRead, ConnInfo, HeaderPair, LoadError, Outcome,
    Peer, ResponseSink,
};
use pyo3::prelude::*;

static INIT: Once = Once::new();

fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

fn setup() {
    INIT.call_once(|| {
        interpreter::initialize().expect("the interpreter starts");
        interpreter::add_sys_path(&[apps_dir()]).expect("sys.path accepts the apps dir");
    });
}

fn load(uri: &str) -> Result<App, LoadError> {
    setup();
    App::load(uri)
}

/// A body served from memory in pieces of at most `max_chunk`, optionally failing at the end.
struct MemBody {
    data: Vec<u8>,
    pos: usize,
    max_chunk: usize,
    fail: Option<fn() -> BodyError>,
}

impl MemBody {
    fn new(data: &[u8]) -> MemBody {
        MemBody {
            data: data.to_vec(),
            pos: 0,
            max_chunk: usize::MAX,
            fail: None,
        }
    }
}

impl BodyRead for MemBody {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        if self.pos == self.data.len() {
            return self.fail.take().map_or(Ok(0), |fail| Err(fail()));
        }
        let n = buf
            .len()
            .min(self.max_chunk)
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A generated body of `remaining` bytes that is never stored.
struct Zeros {
    remaining: u64,
}

impl BodyRead for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        buf[..n].fill(0);
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct Sink {
    head: Option<(String, Vec<HeaderPair>)>,
    body: Vec<u8>,
    writes: usize,
    finished: bool,
    fail_writes: bool,
    no_sendfile: bool,
    sendfiles: Vec<(u64, Option<u64>)>,
    /// Interim responses (`wsgi.early_hints`): status and fields.
    interims: Vec<(u16, Vec<HeaderPair>)>,
}

impl ResponseSink for Sink {
    fn interim(&mut self, status: u16, headers: &[HeaderPair]) -> io::Result<()> {
        assert!(self.head.is_none(), "interim after the head");
        self.interims.push((status, headers.to_vec()));
        Ok(())
    }

    fn start(
        &mut self,
        status: &str,
        headers: &[HeaderPair],
        _content_length: Option<u64>,
    ) -> io::Result<()> {
        assert!(self.head.is_none(), "start called twice");
        self.head = Some((status.to_owned(), headers.to_vec()));
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        assert!(self.head.is_some(), "body before head");
        assert!(!data.is_empty(), "empty write");
        if self.fail_writes {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.writes += 1;
        self.body.extend_from_slice(data);
        Ok(())
    }

    fn sendfile(&mut self, fd: RawFd, offset: u64, count: Option<u64>) -> io::Result<u64> {
        assert!(self.head.is_some(), "sendfile before head");
        if self.no_sendfile {
            return Err(io::ErrorKind::Unsupported.into());
        }
        self.sendfiles.push((offset, count));
        // SAFETY (test): the bridge keeps the file open for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut buf = vec![0; count.unwrap_or(1 << 20) as usize];
        let n = nix::sys::uio::pread(fd, &mut buf, offset as i64)?;
        self.body.extend_from_slice(&buf[..n]);
        Ok(n as u64)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        Ok(())
    }

    fn started(&self) -> bool {
        self.head.is_some()
    }

    fn pending(&self) -> bool {
        false
    }

    fn drain(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn status(&self) -> &str {
        self.head.as_ref().map_or("", |(s, _)| s.as_str())
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        let (_, headers) = self.head.as_ref()?;
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn request(method: &str, target: &str, headers: &[(&str, &[u8])]) -> RequestHead {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut all: Vec<(String, Vec<u8>)> = vec![("HOST".into(), b"localhost:8000".to_vec())];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_vec())));
    let length = all.iter().find(|(n, _)| n == "CONTENT-LENGTH");
    let body = length.map_or(BodyKind::Empty, |(_, v)| {
        BodyKind::Length(String::from_utf8_lossy(v).parse().unwrap())
    });
    RequestHead {
        method: method.into(),
        uri: target.into(),
        path: path.into(),
        query: query.into(),
        fragment: String::new(),
        version: (1, 1),
        headers: all,
        body,
        expect_continue: false,
        must_close: false,
        secure_scheme: None,
        proxy: None,
        remote: None,
        protocol: Protocol::Http,
    }
}

fn tcp_conn() -> ConnInfo {
    ConnInfo {
        peer: Peer::Tcp("127.0.0.1:50123".parse().unwrap()),
        server: Some("0.0.0.0:8000".parse::<SocketAddr>().unwrap()),
        unix_path: None,
        is_tls: false,
        client_cert: None,
        multiprocess: true,
        multithread: false,
    }
}

struct Run {
    outcome: Outcome,
    sink: Sink,
}

fn call_with(
    app: &App,
    head: &RequestHead,
    conn: &ConnInfo,
    body: &mut dyn BodyRead,
    mut sink: Sink,
) -> Run {
    let outcome = app.call(head, conn, body, &mut sink, &[]);
    Run { outcome, sink }
}

fn validator() -> App {
    load("validator_app").expect("validator_app loads")
}

fn features() -> App {
    load("wsgi_features:app").expect("wsgi_features loads")
}

fn get(app: &App, target: &str) -> Run {
    call_with(
        app,
        &request("GET", target, &[]),
        &tcp_conn(),
        &mut MemBody::new(b""),
        Sink::default(),
    )
}

fn post(app: &App, target: &str, body: &[u8]) -> Run {
    let len = body.len().to_string();
    let head = request(
        "POST",
        target,
        &[
            ("CONTENT-LENGTH", len.as_bytes()),
            ("CONTENT-TYPE", b"text/plain"),
        ],
    );
    let mut body = MemBody {
        max_chunk: 5,
        ..MemBody::new(body)
    };
    call_with(app, &head, &tcp_conn(), &mut body, Sink::default())
}

fn closed_tags() -> Vec<String> {
    Python::attach(|py| {
        let module = py.import("wsgi_features").unwrap();
        module
            .getattr("CLOSED")
            .unwrap()
            .extract::<Vec<Option<String>>>()
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    })
}

fn body_text(run: &Run) -> String {
    String::from_utf8_lossy(&run.sink.body).into_owned()
}

fn assert_clean(run: &Run) {
    assert!(
        run.outcome.error.is_none(),
        "unexpected error: {:?}",
        run.outcome.error
    );
    assert!(run.sink.finished, "response not finished");
}

mod load;

mod environ;

mod input;

mod response;

/// Interpreter start-up and fork hooks need a fresh process: the test binary re-runs itself
/// for one `child_*` test with `GUNICORN_RS_BRIDGE_CHILD` set (the child tests do nothing
/// otherwise) and checks what it printed.
mod interp;
