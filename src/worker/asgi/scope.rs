//! The ASGI `http` connection scope of a request (ASGI HTTP & WebSocket spec 2.3, "HTTP
//! Connection Scope"), from the head the Rust parser read.

use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::Shared;
use crate::http::{percent_decode, RequestHead};
use crate::worker::conn::Conn;

/// What a connection's scopes share: its two addresses as the spec gives them (`[host,
/// port]`, or `None` on a Unix socket), made once per connection rather than formatted again
/// for every request a kept-alive client sends.
pub(super) struct Addresses {
    client: Py<PyAny>,
    server: Py<PyAny>,
    /// tornado's `remote_ip`: the client's host, "0.0.0.0" for a Unix-socket peer (as
    /// tornado says).
    remote_ip: Py<PyString>,
    /// The worker's `http` template with this connection's `client` and `server` in it:
    /// each of its scopes is a copy, two fields fewer to set per request.
    http_scope: Py<PyDict>,
}

impl Addresses {
    pub(super) fn new(
        py: Python<'_>,
        shared: &Shared,
        conn: &Conn,
        server: Option<SocketAddr>,
    ) -> PyResult<Addresses> {
        let remote_ip = conn
            .peer
            .map_or_else(|| "0.0.0.0".to_string(), |p| p.ip().to_string());
        let client = address(py, conn.peer)?;
        let server = address(py, server)?;
        let http_scope = shared.http_scope.bind(py).copy()?;
        http_scope.set_item(pyo3::intern!(py, "client"), &client)?;
        http_scope.set_item(pyo3::intern!(py, "server"), &server)?;
        Ok(Addresses {
            client,
            server,
            remote_ip: PyString::new(py, &remote_ip).unbind(),
            http_scope: http_scope.unbind(),
        })
    }
}

/// The `http` scope's fields that are the same for every request of the worker, in the
/// order `build_scope` gives them: each scope starts as a copy of it (one allocation of the
/// right size, the keys already hashed), and only the fields of the request are set.
pub(super) fn http_template<'py>(
    py: Python<'py>,
    root_path: &str,
    asgi_info: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = PyDict::new(py);
    scope.set_item(pyo3::intern!(py, "type"), pyo3::intern!(py, "http"))?;
    scope.set_item(pyo3::intern!(py, "method"), pyo3::intern!(py, "GET"))?;
    scope.set_item(pyo3::intern!(py, "extensions"), py.None())?;
    scope.set_item(pyo3::intern!(py, "asgi"), asgi_info)?;
    scope.set_item(pyo3::intern!(py, "http_version"), pyo3::intern!(py, "1.1"))?;
    scope.set_item(pyo3::intern!(py, "scheme"), pyo3::intern!(py, "http"))?;
    scope.set_item(pyo3::intern!(py, "path"), "")?;
    scope.set_item(pyo3::intern!(py, "raw_path"), PyBytes::new(py, b""))?;
    scope.set_item(pyo3::intern!(py, "query_string"), PyBytes::new(py, b""))?;
    scope.set_item(pyo3::intern!(py, "root_path"), root_path)?;
    for key in ["headers", "client", "server", "state"] {
        scope.set_item(key, py.None())?;
    }
    Ok(scope)
}

/// `scope` for `head`, received on `conn`. `state` is the lifespan state: each request gets a
/// shallow copy (the spec: "a copy of the namespace passed into the lifespan").
pub(super) fn build_scope<'py>(
    py: Python<'py>,
    shared: &Shared,
    conn: &Conn,
    addresses: &Addresses,
    head: &RequestHead,
    state: &Bound<'py, PyDict>,
    websocket: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = match &websocket {
        Some(subprotocols) => websocket_start(py, shared, subprotocols)?,
        None => http_start(py, shared, conn, addresses, head)?,
    };
    if websocket.is_some() || head.version == (1, 0) {
        let version = match head.version {
            (1, 0) => "1.0",
            _ => "1.1",
        };
        scope.set_item(pyo3::intern!(py, "http_version"), version)?;
    }
    // A trusted secure-scheme header decides either way; otherwise the listener does.
    let secure = head.secure_scheme.unwrap_or(conn.stream.is_tls());
    let scheme = match (secure, websocket.is_some()) {
        (true, false) => Some("https"),
        // The template's.
        (false, false) => None,
        (true, true) => Some("wss"),
        (false, true) => Some("ws"),
    };
    if let Some(scheme) = scheme {
        scope.set_item(pyo3::intern!(py, "scheme"), scheme)?;
    }
    set_target(py, &scope, head, websocket.is_none(), &shared.root_path)?;
    if websocket.is_some() {
        scope.set_item(pyo3::intern!(py, "root_path"), &shared.root_path)?;
    }
    scope.set_item(pyo3::intern!(py, "headers"), header_list(py, head)?)?;
    match head.told_client() {
        // The ASGI spec's `[host, port]`; a front that gave no port gives 0.
        Some((host, port)) => scope.set_item(
            pyo3::intern!(py, "client"),
            (host, port.unwrap_or(0)).into_pyobject(py)?,
        )?,
        // An `http` scope has the connection's from its template.
        None if websocket.is_none() => {}
        None => scope.set_item(pyo3::intern!(py, "client"), addresses.client.bind(py))?,
    }
    if websocket.is_some() {
        scope.set_item(pyo3::intern!(py, "server"), addresses.server.bind(py))?;
    }
    scope.set_item(pyo3::intern!(py, "state"), state.copy()?)?;
    Ok(scope)
}

/// The `websocket` scope's own fields: no method; the subprotocols the client offers.
fn websocket_start<'py>(
    py: Python<'py>,
    shared: &Shared,
    subprotocols: &[String],
) -> PyResult<Bound<'py, PyDict>> {
    let scope = PyDict::new(py);
    scope.set_item(pyo3::intern!(py, "type"), "websocket")?;
    scope.set_item("subprotocols", subprotocols)?;
    // The app may answer the handshake with an HTTP response (wire_ws.rs).
    let extensions = PyDict::new(py);
    extensions.set_item("websocket.http.response", PyDict::new(py))?;
    scope.set_item(pyo3::intern!(py, "extensions"), extensions)?;
    scope.set_item(pyo3::intern!(py, "asgi"), shared.asgi_info.bind(py))?;
    Ok(scope)
}

/// The `http` scope from the connection's template: the method when not GET, the extensions
/// (TLS's when the connection has it).
fn http_start<'py>(
    py: Python<'py>,
    shared: &Shared,
    conn: &Conn,
    addresses: &Addresses,
    head: &RequestHead,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = addresses.http_scope.bind(py).copy()?;
    if head.method != "GET" {
        scope.set_item(pyo3::intern!(py, "method"), method(py, &head.method))?;
    }
    let extensions = shared.extensions.bind(py).copy()?;
    if let Some(info) = conn.stream.tls_info() {
        extensions.set_item("tls", tls_extension(py, &info)?)?;
    }
    scope.set_item(pyo3::intern!(py, "extensions"), extensions)?;
    Ok(scope)
}

/// The request method as a Python string: the common ones are interned (made once), any
/// other is made for the request.
fn method<'py>(py: Python<'py>, method: &str) -> Bound<'py, PyString> {
    let known = match method {
        "GET" => pyo3::intern!(py, "GET"),
        "POST" => pyo3::intern!(py, "POST"),
        "HEAD" => pyo3::intern!(py, "HEAD"),
        "PUT" => pyo3::intern!(py, "PUT"),
        "DELETE" => pyo3::intern!(py, "DELETE"),
        "PATCH" => pyo3::intern!(py, "PATCH"),
        "OPTIONS" => pyo3::intern!(py, "OPTIONS"),
        _ => return PyString::new(py, method),
    };
    known.clone()
}

/// `path`: percent-decoded, as UTF-8 text; `raw_path`: the bytes as sent; `query_string`.
/// CONNECT's authority-form target (RFC 9112 §3.2.3) has no path: the authority stands for
/// it. `templated`: the scope is a copy of the template, which has an empty query already.
///
/// `path` includes `root_path` (ASGI HTTP spec 2.5, WSGI compatibility: PATH_INFO is `path`
/// with `root_path` stripped; Starlette and Django route and build URLs so): a target that
/// does not start with `--root-path` (a front that stripped the prefix, the usual setup) gets
/// it prepended, to `raw_path` too, as uvicorn does; one that does is left as it came (where
/// uvicorn would double it).
fn set_target(
    py: Python<'_>,
    scope: &Bound<'_, PyDict>,
    head: &RequestHead,
    templated: bool,
    root_path: &str,
) -> PyResult<()> {
    let target = match head.method.as_str() {
        "CONNECT" => head.uri.as_str(),
        _ => head.path.as_str(),
    };
    let prefixed;
    let path = match is_under(target, root_path) || !target.starts_with('/') {
        true => target,
        false => {
            prefixed = format!("{root_path}{target}");
            prefixed.as_str()
        }
    };
    // Without a `%` the decoded path is the path itself (already UTF-8): no copy to make.
    let decoded = match path.contains('%') {
        true => PyString::new(
            py,
            &String::from_utf8_lossy(&percent_decode(path.as_bytes())),
        ),
        false => PyString::new(py, path),
    };
    scope.set_item(pyo3::intern!(py, "path"), decoded)?;
    scope.set_item(
        pyo3::intern!(py, "raw_path"),
        PyBytes::new(py, path.as_bytes()),
    )?;
    if !(templated && head.query.is_empty()) {
        scope.set_item(
            pyo3::intern!(py, "query_string"),
            PyBytes::new(py, head.query.as_bytes()),
        )?;
    }
    Ok(())
}

/// Is `path` at or below `root` (segment by segment: `/api` is not under `/ap`)? An empty
/// root holds every path.
fn is_under(path: &str, root: &str) -> bool {
    match path.strip_prefix(root) {
        Some(rest) => root.is_empty() || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The header fields as the spec wants them: `[name, value]` byte pairs, names lower-cased,
/// in the order received.
fn header_list<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
    let pairs = head.headers.iter().map(|(name, value)| {
        // Lower-cased straight into the Python object: no string in between.
        let name = PyBytes::new_with(py, name.len(), |out| {
            for (o, b) in out.iter_mut().zip(name.bytes()) {
                *o = b.to_ascii_lowercase();
            }
            Ok(())
        })?;
        PyTuple::new(py, [name, PyBytes::new(py, value)])
    });
    let pairs = pairs.collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, pairs)
}

/// The ASGI TLS extension (asgiref `specs/tls.rst`): what was negotiated and the client's
/// chain and name; the server's own certificate is not given (`None`, as the spec allows).
fn tls_extension<'py>(
    py: Python<'py>,
    info: &crate::worker::conn::TlsInfo,
) -> PyResult<Bound<'py, PyDict>> {
    let tls = PyDict::new(py);
    tls.set_item("server_cert", py.None())?;
    tls.set_item("client_cert_chain", &info.client_chain)?;
    tls.set_item("client_cert_name", &info.client_name)?;
    tls.set_item("client_cert_error", py.None())?;
    tls.set_item("tls_version", info.version)?;
    tls.set_item("cipher_suite", info.cipher_suite)?;
    Ok(tls)
}

/// `[host, port]`, or `None` for a Unix socket.
fn address(py: Python<'_>, addr: Option<SocketAddr>) -> PyResult<Py<PyAny>> {
    match addr {
        Some(a) => Ok(PyTuple::new(
            py,
            [
                a.ip().to_string().into_pyobject(py)?.into_any(),
                a.port().into_pyobject(py)?.into_any(),
            ],
        )?
        .into_any()
        .unbind()),
        None => Ok(py.None()),
    }
}

/// A request for the tornado kind, in the pieces tornado's `HTTPMessageDelegate` takes: the
/// request line as text (tornado's `RequestStartLine`), the header fields as received (names
/// in their case, values decoded as ISO-8859-1 as tornado's own parser does), and what its
/// `_HTTPRequestContext` holds (`remote_ip`: "0.0.0.0" for a Unix-socket peer, as tornado
/// says; `protocol`). `path` and `query_string` are there for the dump's request line.
pub(super) fn tornado_request<'py>(
    py: Python<'py>,
    conn: &Conn,
    addresses: &Addresses,
    head: &RequestHead,
) -> PyResult<Bound<'py, PyDict>> {
    let request = PyDict::new(py);
    request.set_item(pyo3::intern!(py, "type"), pyo3::intern!(py, "http"))?;
    request.set_item(pyo3::intern!(py, "method"), method(py, &head.method))?;
    request.set_item(pyo3::intern!(py, "uri"), &head.uri)?;
    let version = match head.version {
        (1, 0) => pyo3::intern!(py, "HTTP/1.0"),
        _ => pyo3::intern!(py, "HTTP/1.1"),
    };
    request.set_item(pyo3::intern!(py, "version"), version)?;
    let headers = PyList::empty(py);
    for (name, value) in &head.headers {
        let value: String = value.iter().map(|&b| b as char).collect();
        headers.append((name.as_str(), value))?;
    }
    request.set_item(pyo3::intern!(py, "headers"), headers)?;
    match head.told_client() {
        Some((host, _)) => request.set_item(pyo3::intern!(py, "remote_ip"), host)?,
        None => request.set_item(pyo3::intern!(py, "remote_ip"), addresses.remote_ip.bind(py))?,
    }
    request.set_item(pyo3::intern!(py, "address"), addresses.client.bind(py))?;
    let protocol = match head.secure_scheme.unwrap_or(conn.stream.is_tls()) {
        true => "https",
        false => "http",
    };
    request.set_item(pyo3::intern!(py, "protocol"), protocol)?;
    request.set_item(pyo3::intern!(py, "path"), &head.path)?;
    request.set_item(
        pyo3::intern!(py, "query_string"),
        PyBytes::new(py, head.query.as_bytes()),
    )?;
    Ok(request)
}
