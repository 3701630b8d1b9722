//! The WSGI environ (PEP 3333 "environ Variables"), key for key as Gunicorn 27's
//! `gunicorn.http.wsgi.create` builds it (reference/gunicorn.md §6 "WSGI environ").
//!
//! Strings are latin-1 decoded bytes (PEP 3333 "Unicode Issues"). `SERVER_NAME`/`SERVER_PORT`
//! come from the bound socket, not the Host header (apps use `HTTP_HOST`), except on Unix
//! sockets where Host is all there is.

use std::collections::HashMap;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{interpreter, AppError, ConnInfo, Peer};
use crate::http::RequestHead;

/// `SERVER_SOFTWARE`. Gunicorn says `gunicorn/27.0.1`; we say what we are.
pub const SERVER_SOFTWARE: &str = concat!("gunicorn-rs/", env!("CARGO_PKG_VERSION"));

/// The per-request Python objects the environ points at.
pub(crate) struct Streams<'a, 'py> {
    pub input: &'a Bound<'py, PyAny>,
    pub errors: &'a Bound<'py, PyAny>,
    pub file_wrapper: &'a Bound<'py, PyAny>,
    /// `wsgi.early_hints(headers)` (Gunicorn 25+): a `103 Early Hints` before the response.
    pub early_hints: &'a Bound<'py, PyAny>,
}

/// What the header fields contribute, after Gunicorn's special cases.
#[derive(Default)]
struct Fields {
    host: Option<String>,
    script_name: Option<String>,
    content_type: Option<String>,
    content_length: Option<String>,
    /// `HTTP_*` variables in first-seen order, repeated fields joined with `,`.
    http: Vec<(String, String)>,
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn collect_fields(head: &RequestHead) -> Fields {
    let mut fields = Fields::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (name, value) in &head.headers {
        let value = latin1(value);
        match name.as_str() {
            // CGI names, not HTTP_* (RFC 3875 §4.1.2, §4.1.3).
            "CONTENT-TYPE" => {
                fields.content_type = Some(value);
                continue;
            }
            "CONTENT-LENGTH" => {
                fields.content_length = Some(value);
                continue;
            }
            // These two also land in HTTP_HOST / HTTP_SCRIPT_NAME, as in Gunicorn.
            "HOST" => fields.host = Some(value.clone()),
            // Only present when a trusted forwarder sent it (the parser drops it otherwise).
            "SCRIPT_NAME" => fields.script_name = Some(value.clone()),
            _ => {}
        }
        let key = format!("HTTP_{}", name.replace('-', "_"));
        match index.get(&key) {
            Some(&i) => {
                fields.http[i].1.push(',');
                fields.http[i].1.push_str(&value);
            }
            None => {
                index.insert(key.clone(), fields.http.len());
                fields.http.push((key, value));
            }
        }
    }
    fields
}

/// `unquote_to_bytes` of a `&str` path (the parser keeps targets ASCII).
fn percent_decode(path: &str) -> Vec<u8> {
    crate::http::percent_decode(path.as_bytes())
}

/// `PATH_INFO`: the raw path minus `SCRIPT_NAME`, then percent-decoded and latin-1 decoded.
fn path_info(path: &str, script_name: &str) -> Result<String, AppError> {
    let rest = path.strip_prefix(script_name).ok_or_else(|| {
        AppError::Configuration(format!(
            "Request path '{path}' does not start with SCRIPT_NAME '{script_name}'"
        ))
    })?;
    Ok(latin1(&percent_decode(rest)))
}

/// `SERVER_NAME`/`SERVER_PORT`: the bound TCP address; for a Unix socket the Host header
/// (port by scheme when absent), else the socket path and `''`.
fn server_name_port(conn: &ConnInfo, host: Option<&str>, https: bool) -> (String, String) {
    if let Some(addr) = conn.server {
        return (addr.ip().to_string(), addr.port().to_string());
    }
    let path = conn.unix_path.clone().unwrap_or_default();
    let split = |s: &str| -> Option<(String, String)> {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default().to_owned();
        parts.next().map(|port| (name, port.to_owned()))
    };
    if let Some(pair) = split(&path) {
        return pair;
    }
    match host.filter(|h| !h.is_empty()) {
        Some(host) => split(host)
            .unwrap_or_else(|| (host.to_owned(), if https { "443" } else { "80" }.to_owned())),
        None => (path, String::new()),
    }
}

/// Build the environ for one request. The app has not been called yet; an `Err` is answered
/// by the worker (500).
pub(crate) fn build<'py>(
    py: Python<'py>,
    head: &RequestHead,
    conn: &ConnInfo,
    streams: &Streams<'_, 'py>,
) -> Result<Bound<'py, PyDict>, AppError> {
    let fields = collect_fields(head);
    let env_script_name = std::env::var_os("SCRIPT_NAME").map(|s| s.to_string_lossy().into_owned());
    let script_name = fields
        .script_name
        .clone()
        .or(env_script_name)
        .unwrap_or_default();
    let path_info = path_info(&head.path, &script_name)?;
    let environ = PyDict::new(py);
    fill(&environ, head, conn, streams, &fields)
        .and_then(|()| {
            environ.set_item(intern!(py, "PATH_INFO"), path_info)?;
            environ.set_item(intern!(py, "SCRIPT_NAME"), script_name)
        })
        .and_then(|()| proxy(&environ, head))
        .map_err(|err| AppError::Exception(interpreter::format_exception(py, &err)))?;
    Ok(environ)
}

fn fill(
    env: &Bound<'_, PyDict>,
    head: &RequestHead,
    conn: &ConnInfo,
    streams: &Streams<'_, '_>,
    fields: &Fields,
) -> PyResult<()> {
    let py = env.py();
    env.set_item(intern!(py, "wsgi.errors"), streams.errors)?;
    env.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    env.set_item(intern!(py, "wsgi.multithread"), conn.multithread)?;
    env.set_item(intern!(py, "wsgi.multiprocess"), conn.multiprocess)?;
    env.set_item(intern!(py, "wsgi.run_once"), false)?;
    env.set_item(intern!(py, "wsgi.file_wrapper"), streams.file_wrapper)?;
    env.set_item(intern!(py, "wsgi.early_hints"), streams.early_hints)?;
    env.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    env.set_item(intern!(py, "SERVER_SOFTWARE"), SERVER_SOFTWARE)?;
    env.set_item(intern!(py, "wsgi.input"), streams.input)?;
    env.set_item(intern!(py, "REQUEST_METHOD"), &head.method)?;
    env.set_item(intern!(py, "QUERY_STRING"), &head.query)?;
    env.set_item(intern!(py, "RAW_URI"), &head.uri)?;
    let (major, minor) = head.version;
    env.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        format!("HTTP/{major}.{minor}"),
    )?;
    if let Some(value) = &fields.content_type {
        env.set_item(intern!(py, "CONTENT_TYPE"), value)?;
    }
    if let Some(value) = &fields.content_length {
        env.set_item(intern!(py, "CONTENT_LENGTH"), value)?;
    }
    // Not interned: the names come from clients, and interned strings live forever.
    for (key, value) in &fields.http {
        env.set_item(key, value)?;
    }
    // A trusted secure-scheme header decides either way; otherwise the listener does.
    let https = head.secure_scheme.unwrap_or(conn.is_tls);
    env.set_item(
        intern!(py, "wsgi.url_scheme"),
        if https { "https" } else { "http" },
    )?;
    match conn.peer {
        Peer::Tcp(addr) => {
            env.set_item(intern!(py, "REMOTE_ADDR"), addr.ip().to_string())?;
            env.set_item(intern!(py, "REMOTE_PORT"), addr.port().to_string())?;
        }
        Peer::Unix => env.set_item(intern!(py, "REMOTE_ADDR"), "")?,
    }
    let (name, port) = server_name_port(conn, fields.host.as_deref(), https);
    env.set_item(intern!(py, "SERVER_NAME"), name)?;
    env.set_item(intern!(py, "SERVER_PORT"), port)
}

/// A PROXY protocol header overrides the peer (gunicorn `proxy_environ`).
fn proxy(env: &Bound<'_, PyDict>, head: &RequestHead) -> PyResult<()> {
    let Some(info) = &head.proxy else {
        return Ok(());
    };
    let py = env.py();
    env.set_item(intern!(py, "PROXY_PROTOCOL"), &info.protocol)?;
    env.set_item(intern!(py, "REMOTE_ADDR"), &info.client_addr)?;
    env.set_item(intern!(py, "REMOTE_PORT"), info.client_port.to_string())?;
    env.set_item(intern!(py, "PROXY_ADDR"), &info.proxy_addr)?;
    env.set_item(intern!(py, "PROXY_PORT"), info.proxy_port.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_matches_unquote_to_bytes() {
        assert_eq!(percent_decode("/a%20b%2Fc"), b"/a b/c");
        assert_eq!(percent_decode("/%e9%zz%4"), b"/\xe9%zz%4");
        assert_eq!(latin1(&percent_decode("/caf%C3%A9")), "/caf\u{c3}\u{a9}");
    }

    #[test]
    fn script_name_is_stripped_or_refused() {
        assert_eq!(
            path_info("/app/x%20y", "/app").ok(),
            Some("/x y".to_owned())
        );
        assert!(matches!(
            path_info("/other", "/app"),
            Err(AppError::Configuration(_))
        ));
    }
}
