//! Answers the server writes itself, in one place for every kind: the error page for a
//! malformed request (with Gunicorn's `Invalid request from ip=` warning), the 500 after an app
//! error, the traceback page while `--reload` waits for a fix, and the access-log line.

use std::net::IpAddr;

use super::exchange::{After, Request};
use super::service::Service;
use super::sink::Sink;
use super::Conn;
use crate::http::{self, ParseError};
use crate::log::access::AccessRecord;
use crate::wsgi::{AppError, BodyError, Outcome, ResponseSink};

/// How a request ended, for the connection's fate and the request's counters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    /// No error of the app, the client or the watchdog: the connection may go on.
    pub clean: bool,
    /// The status answered and whether the app failed; `None` when no response was made.
    pub response: Option<(u16, bool)>,
}

impl Answer {
    pub fn unclean() -> Answer {
        Answer {
            clean: false,
            response: None,
        }
    }

    /// A response was made, but the connection must not carry another request.
    pub fn unclean_after(status: u16, fault: bool) -> Answer {
        Answer {
            clean: false,
            response: Some((status, fault)),
        }
    }
}

/// Gunicorn's warning for every client error, worded as it is.
pub(crate) fn warn_invalid(peer: Option<IpAddr>, error: &ParseError) {
    let ip = peer.map(|ip| ip.to_string()).unwrap_or_default();
    crate::warning!("Invalid request from ip={ip}: {error}");
}

/// A request head that could not be read: answer a malformed one with its error page, close
/// the others quietly. Returns how the connection ends.
pub fn refuse_head(svc: &Service<'_>, conn: &Conn, error: &ParseError) -> After {
    match error.status() {
        Some(_) => {
            warn_invalid(conn.peer.map(|a| a.ip()), error);
            let deadline = std::time::Instant::now() + svc.cfg.header_timeout;
            let _ = conn.stream.write_all(&error.error_page(), deadline);
            After::Linger
        }
        None => {
            crate::debug!("Ignored premature client disconnection. {error}");
            After::Close
        }
    }
}

/// After the app: answer its errors, count the response, log the access line.
pub(super) fn finish(
    svc: &Service<'_>,
    req: &Request<'_>,
    outcome: &Outcome,
    sink: &mut Sink<'_>,
) -> Answer {
    // Asked before an error page may go out: whether the app's own response was whole.
    let clean = leaves_the_connection_usable(outcome, sink.completed());
    let status = answer_error(req, outcome, sink);
    svc.log_access(req, status, Some(sink.body_bytes), outcome);
    Answer {
        clean,
        response: Some((status, is_app_fault(outcome))),
    }
}

/// Whether the connection may carry another request after `outcome`. An app that raised
/// once its response was whole (an iterable's `close()`, PEP 3333) left the connection as
/// framed as any other: the response stands, its head promised persistence (RFC 9112
/// §9.3), and closing now would meet the client's next request with an EOF it cannot tell
/// from a failure (§9.3.1: only idempotent requests may be retried). The error is logged
/// and counted as ever. Any other error (a cut response, a body that failed, a client gone)
/// ends the connection.
fn leaves_the_connection_usable(outcome: &Outcome, response_whole: bool) -> bool {
    match outcome.error {
        None => true,
        Some(AppError::Exception(_)) => response_whole,
        Some(_) => false,
    }
}

/// The status for the access log: the app's, or the error page's we sent instead.
fn answer_error(req: &Request<'_>, outcome: &Outcome, sink: &mut Sink<'_>) -> u16 {
    let Some(error) = &outcome.error else {
        return sink.status;
    };
    let head = req.head;
    match error {
        AppError::Body(BodyError::Parse(e)) => {
            warn_invalid(req.peer_ip(), e);
            return if_unstarted(sink, req, e.status().unwrap_or(400), &e.error_page());
        }
        AppError::Body(e) => crate::debug!("Ignored premature client disconnection. {e}"),
        AppError::ClientGone(e) => crate::debug!("Ignoring EPIPE: {e}"),
        AppError::Exception(tb) => crate::error!(
            "Error handling request {} {}\n{}",
            head.method,
            head.uri,
            tb.trim_end()
        ),
        other => crate::error!(
            "Error handling request {} {}\n{other}",
            head.method,
            head.uri
        ),
    }
    match error {
        AppError::Body(_) | AppError::ClientGone(_) => sink.status,
        _ => {
            let page = http::response::error_page(500, "Internal Server Error", "");
            if_unstarted(sink, req, 500, &page)
        }
    }
}

/// Send an error page if nothing of the response went out yet (without its body to a HEAD
/// request); else the connection is cut (the truncation stays visible to the client).
/// Returns the status that was logged; the page's body is what the access log counts as sent.
fn if_unstarted(sink: &mut Sink<'_>, req: &Request<'_>, status: u16, page: &[u8]) -> u16 {
    if sink.started() {
        return sink.status;
    }
    let page = http::response::for_request(page, &req.head.method);
    if sink.send(page).is_ok() {
        sink.body_bytes = http::response::page_body_len(page);
    }
    status
}

/// `--reload` after a failed import: every request gets a 500 with the traceback, until a
/// change to the app's files replaces this worker (Gunicorn serves the traceback too).
pub(super) fn load_error(
    svc: &Service<'_>,
    sink: &Sink<'_>,
    req: &Request<'_>,
    traceback: &str,
) -> Answer {
    let body = format!("The application failed to load; gunicorn-rs reloads it when its files change.\n\n{traceback}\n");
    let head = format!(
        "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let page = [head.as_bytes(), body.as_bytes()].concat();
    let page = http::response::for_request(&page, &req.head.method);
    let _ = sink.send(page);
    let outcome = Outcome::default();
    let sent = http::response::page_body_len(page);
    svc.log_access(req, 500, Some(sent), &outcome);
    Answer::unclean_after(500, true)
}

/// Did the app fail (raise, skip or botch `start_response`), for the slot's counter?
pub(super) fn is_app_fault(outcome: &Outcome) -> bool {
    matches!(
        outcome.error,
        Some(AppError::Exception(_) | AppError::NoStartResponse | AppError::InvalidResponse(_))
    )
}

pub(super) fn access_log(
    svc: &Service<'_>,
    req: &Request<'_>,
    status: u16,
    bytes: Option<u64>,
    outcome: &Outcome,
) {
    let Some(format) = &svc.access else { return };
    let head = req.head;
    let path_info =
        String::from_utf8_lossy(&http::percent_decode(head.path.as_bytes())).into_owned();
    let told = head.told_client().and_then(|(addr, _)| addr.parse().ok());
    let record = AccessRecord {
        peer: told.or(req.peer_ip()),
        method: &head.method,
        uri: &head.uri,
        path_info: &path_info,
        query: &head.query,
        version: head.version,
        request_headers: &head.headers,
        status,
        bytes,
        response_headers: &outcome.headers,
        duration: req.started.elapsed(),
        environ: &outcome.environ_values,
    };
    crate::log::access(format, &record);
}
