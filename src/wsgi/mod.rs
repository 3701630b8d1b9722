//! The Python bridge (PEP 3333): interpreter start and fork hooks, app loading, environ,
//! `start_response`, `wsgi.input`, response iteration, `wsgi.file_wrapper`, and the server
//! hooks of the config file with the objects they are given ([`hooks`]).
//!
//! Knows pyo3 and `http` heads; not sockets, not fork, not the master. Python objects never
//! leave this module: only bytes, numbers and header pairs cross it. The worker hands in a
//! [`BodyRead`] (the decoded request body) and a [`ResponseSink`] (the framed socket writer).

pub mod app;
pub mod environ;
pub mod errors;
pub mod faulthandler;
pub mod file_wrapper;
pub mod hooks;
pub mod hub;
pub mod input;
pub mod interpreter;
pub mod log_config;
mod logger_class;
mod method;
pub mod modules;
pub mod response;
mod validate;

use std::io;
use std::os::fd::RawFd;

pub use app::{App, LoadError};

use std::sync::atomic::{AtomicBool, Ordering};

/// The worker's waits go through a greenlet hub (gevent, eventlet): the GIL is never released
/// around them, since the hub itself runs on it and a greenlet that released it could not be
/// switched away from (greenlet switches need the GIL).
static COOPERATIVE: AtomicBool = AtomicBool::new(false);

/// Greenlet kinds: from now on, [`blocking`] keeps the GIL.
pub fn set_cooperative() {
    COOPERATIVE.store(true, Ordering::Relaxed);
}

/// Run `f`, which may wait for a client, with the GIL released — except under a greenlet
/// hub, where `f`'s waits yield to the hub instead and the GIL stays.
pub(crate) fn blocking<T, F>(py: pyo3::Python<'_>, f: F) -> T
where
    F: pyo3::marker::Ungil + FnOnce() -> T,
    T: pyo3::marker::Ungil,
{
    if COOPERATIVE.load(Ordering::Relaxed) {
        f()
    } else {
        py.detach(f)
    }
}

/// The peer of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(std::net::SocketAddr),
    /// A Unix-socket peer: `REMOTE_ADDR` is `''` and there is no `REMOTE_PORT`.
    Unix,
}

/// Facts about the connection and the server that the environ needs.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: Peer,
    /// The listener's bound address (TCP): `SERVER_NAME`/`SERVER_PORT` come from it, as in
    /// Gunicorn. `None` for Unix sockets: then they come from the Host header.
    pub server: Option<std::net::SocketAddr>,
    /// The Unix socket path, for `SERVER_NAME` when there is no Host header.
    pub unix_path: Option<String>,
    /// `true` on a TLS listener.
    pub is_tls: bool,
    /// The client's TLS certificate in PEM, when it presented one: `SSL_CLIENT_CERT`, the
    /// name Apache's mod_ssl and nginx (`$ssl_client_cert`) give it.
    pub client_cert: Option<String>,
    pub multiprocess: bool,
    pub multithread: bool,
}

/// Why reading the request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Bad framing in the body (chunk size, terminator, trailers): the answer is a 4xx.
    #[error("{0}")]
    Parse(#[from] crate::http::ParseError),
    /// The client closed the connection before the body was complete.
    #[error("client disconnected before the request body was complete")]
    Disconnected,
    #[error("timed out reading the request body")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The decoded request body, as the worker reads it from the socket. Blocking.
pub trait BodyRead: Send {
    /// Read payload bytes; `Ok(0)` is the end of a complete body.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError>;
}

/// A response header pair as the app gave it (validated: token name, no CR/LF/NUL in value).
pub type HeaderPair = (String, Vec<u8>);

/// Where the response goes. The worker implements it over the socket and owns framing
/// (Content-Length or chunked, HEAD, `Connection`, hop-by-hop headers, Date, Server).
/// The bridge calls `start` once, just before the first non-empty body bytes are written or,
/// for an empty body, at the end (PEP 3333: headers are not sent before the first body bytes).
///
/// `start`, `write` and `finish` never wait for the client: what it does not take at once stays
/// `pending` until `drain`, which the bridge calls with the GIL released. `sendfile` may wait;
/// the bridge calls it without the GIL.
pub trait ResponseSink: Send {
    /// `status` is the validated status line text from the app, e.g. `"200 OK"`;
    /// `content_length` the Content-Length among `headers`, as `start_response` parsed it (the
    /// sink frames by it and need not look for it again).
    fn start(
        &mut self,
        status: &str,
        headers: &[HeaderPair],
        content_length: Option<u64>,
    ) -> io::Result<()>;
    /// An interim response before the final one (`wsgi.early_hints`: 103). Skipped where the
    /// protocol has none (HTTP/1.0) or once the final response began.
    fn interim(&mut self, status: u16, headers: &[HeaderPair]) -> io::Result<()>;
    fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// Send `count` bytes (or to EOF when `None`) of the file `fd` from `offset` with sendfile.
    /// `Err(Unsupported)` means "not here": the bridge then reads and writes instead.
    fn sendfile(&mut self, fd: RawFd, offset: u64, count: Option<u64>) -> io::Result<u64>;
    /// The response is complete (terminal chunk, flush).
    fn finish(&mut self) -> io::Result<()>;
    /// Has `start` been called (the head is on the wire or queued)?
    fn started(&self) -> bool;
    /// Are bytes waiting for the client to take them?
    fn pending(&self) -> bool;
    /// Wait until the client took everything queued (call without the GIL).
    fn drain(&mut self) -> io::Result<()>;
}

/// What went wrong in one call of the app.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The app raised (before or after `start_response`); the formatted traceback.
    #[error("{0}")]
    Exception(String),
    /// The app returned without calling `start_response`.
    #[error("the application did not call start_response")]
    NoStartResponse,
    /// `start_response` got a malformed status or header (PEP 3333; never sent).
    #[error("{0}")]
    InvalidResponse(String),
    /// Reading `wsgi.input` failed; the app's own exception (if any) is secondary.
    #[error("{0}")]
    Body(BodyError),
    /// Writing to the client failed (it went away); `close()` was still called.
    #[error("{0}")]
    ClientGone(io::Error),
    /// The request path does not start with `SCRIPT_NAME` (Gunicorn's `ConfigurationProblem`,
    /// answered with 500). The app was not called.
    #[error("Configuration problem: {0}")]
    Configuration(String),
}

/// The result of one request through the app.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The status code the app set, if `start_response` succeeded.
    pub status: Option<u16>,
    /// The response headers the app set (for `{header}o` access-log atoms).
    pub headers: Vec<HeaderPair>,
    /// Values of the environ keys asked for by the access log (`{key}e`), in order.
    pub environ_values: Vec<Option<String>>,
    pub error: Option<AppError>,
}

/// What to change when an app hands over `str` where PEP 3333 wants bytes — the example app of
/// many tutorials does (`return ["Hello"]`): the fix, said in the error line itself.
pub(crate) fn bytes_hint(kind: &str, encode: &str, literal: &str) -> String {
    match kind {
        "str" => format!(": encode the text (`{encode}`) or give bytes (`{literal}`)"),
        _ => String::new(),
    }
}
