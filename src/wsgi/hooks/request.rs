//! `req` and `resp` of `pre_request` / `post_request`: Gunicorn's `http.Request` and
//! `http.wsgi.Response` attribute names over the parsed head and the response as sent.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::http::RequestHead;
use crate::wsgi::response::SentResponse;
use crate::wsgi::{ConnInfo, Peer};

/// The request (Gunicorn's `Request`): `method`, `uri`, `path`, `query`, `fragment`,
/// `version` as a tuple, `headers` as `(NAME, value)` pairs with upper-case names, `scheme`.
#[pyclass(frozen, module = "gunicorn_rs", name = "Request")]
pub struct Request {
    #[pyo3(get)]
    method: String,
    #[pyo3(get)]
    uri: String,
    #[pyo3(get)]
    path: String,
    #[pyo3(get)]
    query: String,
    #[pyo3(get)]
    fragment: String,
    #[pyo3(get)]
    version: (u8, u8),
    #[pyo3(get)]
    headers: Py<PyList>,
    #[pyo3(get)]
    scheme: &'static str,
    /// The request body is read by the app through `wsgi.input`; not offered here.
    #[pyo3(get)]
    body: Option<()>,
    /// The socket peer: `(host, port)` on TCP, the socket path on a Unix socket (Gunicorn's
    /// `peer_addr`).
    #[pyo3(get)]
    peer_addr: Py<PyAny>,
    /// The client: the PROXY protocol's source when one was sent, else `peer_addr`.
    #[pyo3(get)]
    remote_addr: Py<PyAny>,
}

impl Request {
    pub(super) fn new(py: Python<'_>, head: &RequestHead, conn: &ConnInfo) -> PyResult<Request> {
        let is_tls = conn.is_tls;
        let peer_addr = match &conn.peer {
            Peer::Tcp(addr) => (addr.ip().to_string(), addr.port())
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            Peer::Unix => conn
                .unix_path
                .clone()
                .unwrap_or_default()
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        };
        let remote_addr = match head.told_client() {
            Some((addr, port)) => (addr, port.unwrap_or(0))
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            None => peer_addr.clone_ref(py),
        };
        Ok(Request {
            peer_addr,
            remote_addr,
            method: head.method.clone(),
            uri: head.uri.clone(),
            path: head.path.clone(),
            query: head.query.clone(),
            fragment: head.fragment.clone(),
            version: head.version,
            headers: pairs(py, &head.headers)?,
            scheme: if is_tls || head.secure_scheme == Some(true) {
                "https"
            } else {
                "http"
            },
            body: None,
        })
    }
}

#[pymethods]
impl Request {
    fn __repr__(&self) -> String {
        format!("<Request {} {}>", self.method, self.uri)
    }
}

/// The response (Gunicorn's `Response`): `status` as the app gave it (`"200 OK"`, `None` if
/// `start_response` never succeeded), `status_code`, `headers`, `sent` body bytes,
/// `response_length` (the app's Content-Length), `headers_sent`.
#[pyclass(frozen, module = "gunicorn_rs", name = "Response")]
pub struct Response {
    #[pyo3(get)]
    status: Option<String>,
    #[pyo3(get)]
    status_code: Option<u16>,
    #[pyo3(get)]
    headers: Py<PyList>,
    #[pyo3(get)]
    sent: u64,
    #[pyo3(get)]
    response_length: Option<u64>,
    #[pyo3(get)]
    headers_sent: bool,
}

impl Response {
    pub(super) fn new(py: Python<'_>, sent: SentResponse) -> PyResult<Response> {
        Ok(Response {
            status_code: sent.status.as_ref().map(|s| s.code),
            status: sent.status.map(|s| s.line),
            headers: pairs(py, &sent.headers)?,
            sent: sent.sent,
            response_length: sent.content_length,
            headers_sent: sent.headers_sent,
        })
    }
}

/// Header pairs as a list of `(str, str)` tuples; values decoded as latin-1 (PEP 3333).
fn pairs(py: Python<'_>, headers: &[(String, Vec<u8>)]) -> PyResult<Py<PyList>> {
    let items = headers
        .iter()
        .map(|(name, value)| {
            let value: String = value.iter().map(|&b| char::from(b)).collect();
            PyTuple::new(py, [name.as_str(), value.as_str()])
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.unbind())
}
