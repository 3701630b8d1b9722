//! Gunicorn's request hooks and the access log's `{key}e` atoms for a connection of the asgi
//! (and tornado) worker, as Gunicorn 27's asgi worker gives them: `pre_request(worker, req)`
//! before the app sees an HTTP request (not a WebSocket session), `post_request(worker, req,
//! environ, resp)` once it is answered. An ASGI app has no environ, so both the hook's and the
//! log's is the small one Gunicorn's asgi worker builds for logging (method, URIs, protocol,
//! client address, `HTTP_*` headers); a WSGI app under tornado has a real one, and that one is
//! used.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::wire::{Exchange, Wire};
use super::with_service;
use crate::http::RequestHead;
use crate::wsgi::interpreter::format_exception;
use crate::wsgi::response::{SentResponse, Status};

/// Where a request stands with the request hooks.
pub(super) enum Hooked {
    /// No request hook is set (or the request is a WebSocket session).
    Not,
    /// `pre_request` ran: its `req`, for `post_request`.
    Admitted(Py<PyAny>),
    /// `pre_request` raised: the app never ran (`post_request` gets no response).
    Refused(Py<PyAny>),
}

impl Wire {
    /// `pre_request` for the request whose head was just read, and the text to log when it
    /// raised (the request then fails with a 500, as when the app raises).
    pub(super) fn pre_request(
        &self,
        py: Python<'_>,
        head: &RequestHead,
    ) -> (Hooked, Option<String>) {
        let Some(conn) = self.conn.as_ref() else {
            return (Hooked::Not, None);
        };
        let called = with_service(|svc| {
            if !svc.hooks().wants_request() {
                // Gunicorn's default pre_request: a DEBUG line, and nothing to build.
                crate::debug!("{} {}", head.method, head.path);
                return (None, Ok(()));
            }
            let info = svc.conn_info(conn, conn.peer);
            svc.hooks().pre_request(py, head, &info)
        });
        match called {
            Some((req, Ok(()))) => (
                req.map_or(Hooked::Not, |r| Hooked::Admitted(r.unbind())),
                None,
            ),
            Some((req, Err(err))) => (
                req.map_or(Hooked::Not, |r| Hooked::Refused(r.unbind())),
                Some(format!(
                    "Error handling request {} {}\n{}",
                    head.method,
                    head.uri,
                    format_exception(py, &err)
                )),
            ),
            None => (Hooked::Not, None),
        }
    }
}

/// `post_request` for a request that ended (`ex`), when `pre_request` made its `req`.
pub(super) fn post_request(py: Python<'_>, ex: &Exchange, peer: Option<std::net::SocketAddr>) {
    let (req, environ, resp) = match &ex.hooked {
        Hooked::Not => return,
        // As under the WSGI kinds: an empty environ and no response.
        Hooked::Refused(req) => (req, None, None),
        Hooked::Admitted(req) => {
            let environ = match &ex.environ {
                Some(environ) => Some(environ.bind(py).clone()),
                None => log_environ(py, &ex.head, peer).ok(),
            };
            (req, environ, Some(sent_response(ex)))
        }
    };
    with_service(|svc| {
        svc.hooks()
            .post_request(py, Some(req.bind(py)), environ.as_ref(), resp)
    });
}

/// The `{key}e` values the access-log format asks for, in its order.
pub(super) fn environ_values(
    py: Python<'_>,
    keys: &[String],
    ex: &Exchange,
    peer: Option<std::net::SocketAddr>,
) -> Vec<Option<String>> {
    match &ex.environ {
        Some(environ) => {
            let environ = environ.bind(py);
            keys.iter()
                .map(|key| crate::wsgi::app::environ_item(environ, key))
                .collect()
        }
        // The CGI keys, whatever case the format wrote them in (as Gunicorn looks them up).
        None => keys
            .iter()
            .map(|key| log_value(&ex.head, peer, &key.to_ascii_uppercase()))
            .collect(),
    }
}

/// Gunicorn's asgi worker's environ for logging, as a dict (`post_request`'s `environ`).
fn log_environ<'py>(
    py: Python<'py>,
    head: &RequestHead,
    peer: Option<std::net::SocketAddr>,
) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    for key in [
        "REQUEST_METHOD",
        "RAW_URI",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_PROTOCOL",
    ] {
        environ.set_item(key, log_value(head, peer, key))?;
    }
    environ.set_item("REMOTE_ADDR", log_value(head, peer, "REMOTE_ADDR"))?;
    for (name, value) in &head.headers {
        let value: String = value.iter().map(|&b| char::from(b)).collect();
        environ.set_item(format!("HTTP_{}", name.replace('-', "_")), value)?;
    }
    Ok(environ)
}

/// One key of that environ; `None` when it has no such key.
fn log_value(head: &RequestHead, peer: Option<std::net::SocketAddr>, key: &str) -> Option<String> {
    match key {
        "REQUEST_METHOD" => Some(head.method.clone()),
        "RAW_URI" => Some(head.uri.clone()),
        // Decoded, as every WSGI kind's environ has it (PEP 3333: latin-1 text of the bytes).
        "PATH_INFO" => {
            let decoded = crate::http::percent_decode(head.path.as_bytes());
            Some(decoded.iter().map(|&b| char::from(b)).collect())
        }
        "QUERY_STRING" => Some(head.query.clone()),
        "SERVER_PROTOCOL" => Some(format!("HTTP/{}.{}", head.version.0, head.version.1)),
        // The client as the scope's `client` gives it: the PROXY protocol's source when one
        // was sent, else the socket's peer ("-" on a Unix socket, as Gunicorn logs it).
        "REMOTE_ADDR" => Some(match head.told_client() {
            Some((addr, _)) => addr.to_string(),
            None => peer.map_or_else(|| "-".to_string(), |p| p.ip().to_string()),
        }),
        _ => {
            let name = key.strip_prefix("HTTP_")?;
            // Header names are upper-case here; `_` stands for `-` in the key.
            let (_, value) = head
                .headers
                .iter()
                .find(|(n, _)| n.len() == name.len() && n.replace('-', "_") == name)?;
            Some(value.iter().map(|&b| char::from(b)).collect())
        }
    }
}

/// The response as it went out (`post_request`'s `resp`).
fn sent_response(ex: &Exchange) -> SentResponse {
    let status = (ex.status != 0).then(|| Status {
        line: format!(
            "{} {}",
            ex.status,
            ex.reason
                .as_deref()
                .unwrap_or(crate::http::response::registered_reason(ex.status))
        ),
        code: ex.status,
    });
    SentResponse {
        status,
        headers: ex.headers.clone(),
        sent: ex.sent,
        content_length: super::wire_response::declared_length(&ex.headers),
        headers_sent: ex.framing.is_some(),
    }
}
