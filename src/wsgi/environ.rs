//! The WSGI environ (PEP 3333 "environ Variables"), key for key as Gunicorn 27's
//! `gunicorn.http.wsgi.create` builds it (reference/gunicorn.md §6 "WSGI environ").
//!
//! Strings are latin-1 decoded bytes (PEP 3333 "Unicode Issues"). `SERVER_NAME`/`SERVER_PORT`
//! come from the bound socket, not the Host header (apps use `HTTP_HOST`), except on Unix
//! sockets where Host is all there is.
//!
//! Speed: what is the same for every request of a listener (the `wsgi.*` constants, the
//! server's name and port, `SCRIPT_NAME` from the environment) is a template dict built once
//! and copied per request (a copy of a small dict is one allocation and a memcpy); header keys
//! (`HTTP_USER_AGENT`…) are made once and reused with their hash.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::{interpreter, AppError, ConnInfo, Peer};
use crate::http::RequestHead;

mod values;
use values::{
    common_header_key, decimal, ip_text, joined, latin1, method, path_info, protocol, scheme,
    unix_server_name,
};

/// `SERVER_SOFTWARE`. Gunicorn says `gunicorn/27.0.1`; we say what we are.
pub const SERVER_SOFTWARE: &str = concat!("gunicorn-rs/", env!("CARGO_PKG_VERSION"));

/// How many distinct `HTTP_*` keys are kept; names past it (a client inventing headers) are
/// made per request instead, so the cache cannot grow without bound.
const HEADER_KEYS: usize = 512;

/// The per-request Python objects the environ points at.
pub(crate) struct Streams<'a, 'py> {
    pub input: &'a Bound<'py, PyAny>,
    pub errors: &'a Bound<'py, PyAny>,
    pub file_wrapper: &'a Bound<'py, PyAny>,
    /// `wsgi.early_hints(headers)` (Gunicorn 25+): a `103 Early Hints` before the response.
    pub early_hints: &'a Bound<'py, PyAny>,
}

/// What a template depends on: the listener and the worker, not the request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateKey {
    server: Option<std::net::SocketAddr>,
    unix_path: Option<String>,
    is_tls: bool,
    tcp_peer: bool,
    multiprocess: bool,
    multithread: bool,
}

impl TemplateKey {
    fn of(conn: &ConnInfo) -> TemplateKey {
        TemplateKey {
            server: conn.server,
            unix_path: conn.unix_path.clone(),
            is_tls: conn.is_tls,
            tcp_peer: matches!(conn.peer, Peer::Tcp(_)),
            multiprocess: conn.multiprocess,
            multithread: conn.multithread,
        }
    }

    /// Is this the key of `conn` (compared in place: no clone of the path per request)?
    fn fits(&self, conn: &ConnInfo) -> bool {
        self.server == conn.server
            && self.unix_path == conn.unix_path
            && self.is_tls == conn.is_tls
            && self.tcp_peer == matches!(conn.peer, Peer::Tcp(_))
            && self.multiprocess == conn.multiprocess
            && self.multithread == conn.multithread
    }
}

/// The worker's templates and header keys. One per app; any lane may use it (with the GIL).
///
/// The locks are never held across a call into Python: any Python call may run a finalizer
/// and hand the GIL to another lane, which would then wait for the lock while this lane waits
/// for the GIL (seen as a deadlock under load). Only lookups and inserts happen under them.
#[derive(Default)]
pub(crate) struct EnvironCache {
    templates: Mutex<Vec<(TemplateKey, Py<PyDict>)>>,
    /// `SCRIPT_NAME` from the process environment, read at the first request (as the
    /// template's value).
    env_script_name: std::sync::OnceLock<String>,
    header_keys: Mutex<HashMap<String, Py<PyString>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EnvironCache {
    /// A fresh copy of the template for this connection's listener.
    fn template<'py>(
        &self,
        py: Python<'py>,
        conn: &ConnInfo,
        streams: &Streams<'_, 'py>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = lock(&self.templates)
            .iter()
            .find(|(k, _)| k.fits(conn))
            .map(|(_, dict)| dict.clone_ref(py));
        if let Some(dict) = found {
            return dict.bind(py).copy();
        }
        let dict = constants(py, conn, streams, self.env_script_name())?;
        let copy = dict.copy()?;
        lock(&self.templates).push((TemplateKey::of(conn), dict.unbind()));
        Ok(copy)
    }

    /// The environment's `SCRIPT_NAME`: read once, when the app has been imported (an app
    /// may set it at import time; Gunicorn reads it per request).
    fn env_script_name(&self) -> &str {
        self.env_script_name.get_or_init(|| {
            std::env::var_os("SCRIPT_NAME")
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    /// `HTTP_<NAME>` with `-` as `_`, for an upper-cased field name.
    fn header_key<'py>(&self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        if let Some(key) = lock(&self.header_keys).get(name) {
            return key.bind(py).clone();
        }
        let text = format!("HTTP_{}", name.replace('-', "_"));
        let key = PyString::new(py, &text);
        let mut keys = lock(&self.header_keys);
        if keys.len() < HEADER_KEYS {
            keys.insert(name.to_owned(), key.clone().unbind());
        }
        key
    }
}

/// The keys every request has (`fill` and `build`). The template holds them, so that a request
/// replaces values in place instead of inserting keys: as `None`, or with the value most
/// requests give them, which `fill` then sets only when the request's differs (a set of an
/// existing key is a lookup and a swap, about a hundred instructions, for the same value).
const PER_REQUEST: [(&str, Option<&str>); 8] = [
    ("wsgi.input", None),
    ("wsgi.early_hints", None),
    ("REQUEST_METHOD", Some("GET")),
    ("QUERY_STRING", Some("")),
    ("RAW_URI", None),
    ("SERVER_PROTOCOL", Some("HTTP/1.1")),
    ("PATH_INFO", None),
    ("REMOTE_ADDR", None),
];

/// Entries a template has seen before it is copied: one past the 21 usable entries of a
/// 32-slot CPython dict (3.11–3.13: two thirds of the slots), so the table has grown to 64
/// slots (42 usable) and each copy has room for some 20 header keys without a resize.
const ROOM: usize = 22;

/// The environ entries every request of one listener shares, in a dict sized for a request.
///
/// Built with `PyDict_New` and string keys, not presized: CPython's presized dicts take the
/// general key layout (24 bytes an entry against 16) and this one would need 128 slots, a
/// 2.2 KB table that glibc serves from its slow path on every copy (and consolidates for);
/// the compact 64-slot table is 768 bytes, within malloc's per-thread cache.
fn constants<'py>(
    py: Python<'py>,
    conn: &ConnInfo,
    streams: &Streams<'_, 'py>,
    script_name: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    env.set_item(intern!(py, "wsgi.errors"), streams.errors)?;
    env.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    env.set_item(intern!(py, "wsgi.multithread"), conn.multithread)?;
    env.set_item(intern!(py, "wsgi.multiprocess"), conn.multiprocess)?;
    env.set_item(intern!(py, "wsgi.run_once"), false)?;
    env.set_item(intern!(py, "wsgi.file_wrapper"), streams.file_wrapper)?;
    env.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    env.set_item(intern!(py, "SERVER_SOFTWARE"), SERVER_SOFTWARE)?;
    env.set_item(intern!(py, "wsgi.url_scheme"), scheme(py, conn.is_tls))?;
    env.set_item(intern!(py, "SCRIPT_NAME"), script_name)?;
    let mut per_request = PER_REQUEST.to_vec();
    match conn.server {
        Some(addr) => {
            env.set_item(intern!(py, "SERVER_NAME"), addr.ip().to_string())?;
            env.set_item(intern!(py, "SERVER_PORT"), addr.port().to_string())?;
        }
        None => per_request.extend([("SERVER_NAME", None), ("SERVER_PORT", None)]),
    }
    if matches!(conn.peer, Peer::Tcp(_)) {
        per_request.push(("REMOTE_PORT", None));
    }
    for (key, usual) in per_request {
        // Interned, as `intern!` makes the per-request keys: the request's set then finds its
        // entry by identity, without comparing text.
        let value = usual.map(|text| PyString::intern(py, text).into_any());
        env.set_item(PyString::intern(py, key), value)?;
    }
    make_room(&env)?;
    Ok(env)
}

/// Take `env` past [`ROOM`] entries with spare keys, then delete them: a dict never shrinks on
/// delete, and a copy keeps the table (CPython copies a dict's table as it is while at most a
/// third of its entries are deleted ones).
fn make_room(env: &Bound<'_, PyDict>) -> PyResult<()> {
    let spare: Vec<String> = (env.len()..ROOM).map(|n| format!("\0room{n}")).collect();
    for key in &spare {
        env.set_item(key, env.py().None())?;
    }
    for key in &spare {
        env.del_item(key)?;
    }
    Ok(())
}

impl EnvironCache {
    /// Build the environ for one request. The app has not been called yet; an `Err` is
    /// answered by the worker (500).
    pub(crate) fn build<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        conn: &ConnInfo,
        streams: &Streams<'_, 'py>,
    ) -> Result<Bound<'py, PyDict>, AppError> {
        let failed = |err: PyErr| AppError::Exception(interpreter::format_exception(py, &err));
        let env = self.template(py, conn, streams).map_err(failed)?;
        let script_name: std::borrow::Cow<'_, str> = match head.header("SCRIPT_NAME") {
            // Only present when a trusted forwarder sent it (the parser drops it otherwise).
            Some(value) => value.iter().map(|&b| char::from(b)).collect(),
            None => self.env_script_name().into(),
        };
        let raw_uri = PyString::new(py, &head.uri);
        // The usual `/path` with no query, no `%` and no SCRIPT_NAME is its own PATH_INFO: the
        // same text, so the same (immutable) str, not a decode of a second copy.
        let plain = script_name.is_empty()
            && head.uri == head.path
            && head.uri.bytes().all(|b| b.is_ascii() && b != b'%');
        let path_info = match plain {
            true => None,
            false => Some(path_info(&head.path, &script_name)?),
        };
        self.fill(&env, head, conn, streams, &raw_uri)
            .and_then(|()| {
                let path_info = match &path_info {
                    Some(bytes) => latin1(py, bytes)?,
                    None => raw_uri.into_any(),
                };
                env.set_item(intern!(py, "PATH_INFO"), path_info)?;
                if head.header("SCRIPT_NAME").is_some() {
                    env.set_item(intern!(py, "SCRIPT_NAME"), script_name.as_ref())?;
                }
                proxy(&env, head)?;
                remote(&env, head)
            })
            .map_err(failed)?;
        Ok(env)
    }

    fn fill(
        &self,
        env: &Bound<'_, PyDict>,
        head: &RequestHead,
        conn: &ConnInfo,
        streams: &Streams<'_, '_>,
        raw_uri: &Bound<'_, PyString>,
    ) -> PyResult<()> {
        let py = env.py();
        env.set_item(intern!(py, "wsgi.input"), streams.input)?;
        env.set_item(intern!(py, "wsgi.early_hints"), streams.early_hints)?;
        // The template has the usual values (`PER_REQUEST`): only others are set.
        if head.method != "GET" {
            env.set_item(intern!(py, "REQUEST_METHOD"), method(py, &head.method))?;
        }
        if !head.query.is_empty() {
            env.set_item(intern!(py, "QUERY_STRING"), &head.query)?;
        }
        if head.version != (1, 1) {
            env.set_item(intern!(py, "SERVER_PROTOCOL"), protocol(py, head.version))?;
        }
        env.set_item(intern!(py, "RAW_URI"), raw_uri)?;
        self.fill_headers(env, head)?;
        if let Some(pem) = &conn.client_cert {
            env.set_item(intern!(py, "SSL_CLIENT_CERT"), pem)?;
        }
        // A trusted secure-scheme header decides either way; otherwise the listener does.
        let https = head.secure_scheme.unwrap_or(conn.is_tls);
        if head.secure_scheme.is_some() {
            env.set_item(intern!(py, "wsgi.url_scheme"), scheme(py, https))?;
        }
        match conn.peer {
            Peer::Tcp(addr) => {
                let mut buf = [0u8; 64];
                let ip = latin1(py, ip_text(&mut buf, addr.ip()))?;
                env.set_item(intern!(py, "REMOTE_ADDR"), ip)?;
                let port = latin1(py, decimal(&mut buf, addr.port().into()))?;
                env.set_item(intern!(py, "REMOTE_PORT"), port)?;
            }
            Peer::Unix => env.set_item(intern!(py, "REMOTE_ADDR"), intern!(py, ""))?,
        }
        if conn.server.is_none() {
            let path = conn.unix_path.as_deref().unwrap_or_default();
            let (name, port) = unix_server_name(path, head.header("HOST"), https);
            env.set_item(intern!(py, "SERVER_NAME"), name)?;
            env.set_item(intern!(py, "SERVER_PORT"), port)?;
        }
        Ok(())
    }

    /// `CONTENT_TYPE`, `CONTENT_LENGTH` (CGI names, RFC 3875 §4.1.2–3) and one `HTTP_*` per
    /// field name in first-seen order, repeated fields joined with `,` (as Gunicorn). `HOST`
    /// and a trusted `SCRIPT_NAME` also land in `HTTP_*`, as in Gunicorn.
    fn fill_headers(&self, env: &Bound<'_, PyDict>, head: &RequestHead) -> PyResult<()> {
        let py = env.py();
        for (i, (name, value)) in head.headers.iter().enumerate() {
            if head.headers[..i].iter().any(|(n, _)| n == name) {
                continue; // joined when its first occurrence was set
            }
            let repeated = head.headers[i + 1..].iter().any(|(n, _)| n == name);
            let joined_value;
            let value: &[u8] = match repeated {
                true => {
                    joined_value = joined(head, i);
                    &joined_value
                }
                false => value,
            };
            let key = match name.as_str() {
                "CONTENT-TYPE" => intern!(py, "CONTENT_TYPE").clone(),
                "CONTENT-LENGTH" => intern!(py, "CONTENT_LENGTH").clone(),
                _ => match common_header_key(py, name) {
                    Some(key) => key,
                    None => self.header_key(py, name),
                },
            };
            env.set_item(key, latin1(py, value)?)?;
        }
        Ok(())
    }
}

/// A PROXY protocol header overrides the peer (gunicorn `proxy_environ`). One without
/// addresses — v2 `LOCAL` (a health check), `UNKNOWN` — leaves the peer: proxy-protocol.txt
/// §2.1–2.2 has the receiver use the real connection's endpoints then (Gunicorn sets `None`).
fn proxy(env: &Bound<'_, PyDict>, head: &RequestHead) -> PyResult<()> {
    let Some(info) = &head.proxy else {
        return Ok(());
    };
    let py = env.py();
    env.set_item(intern!(py, "PROXY_PROTOCOL"), &info.protocol)?;
    if info.client_addr.is_empty() {
        return Ok(());
    }
    env.set_item(intern!(py, "REMOTE_ADDR"), &info.client_addr)?;
    env.set_item(intern!(py, "REMOTE_PORT"), info.client_port.to_string())?;
    env.set_item(intern!(py, "PROXY_ADDR"), &info.proxy_addr)?;
    env.set_item(intern!(py, "PROXY_PORT"), info.proxy_port.to_string())
}

/// A uwsgi front's `REMOTE_ADDR`/`REMOTE_PORT` stand for the peer, which is the front (uWSGI
/// puts the front's vars in the environ as they are).
fn remote(env: &Bound<'_, PyDict>, head: &RequestHead) -> PyResult<()> {
    let Some(remote) = &head.remote else {
        return Ok(());
    };
    let py = env.py();
    env.set_item(intern!(py, "REMOTE_ADDR"), &remote.addr)?;
    match remote.port {
        Some(port) => env.set_item(intern!(py, "REMOTE_PORT"), port.to_string()),
        // Not the front's own port: none at all, as for a Unix-socket peer.
        None if env.contains(intern!(py, "REMOTE_PORT"))? => {
            env.del_item(intern!(py, "REMOTE_PORT"))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "environ_tests.rs"]
mod tests;
