//! One connection of the sync worker: read the head, run the app, answer its errors, write
//! the access-log line, close. The accept loop around it is in `mod.rs`.

use super::{Request, SyncWorker};
use crate::config::Config;
use crate::http::{self, BodyDecoder, PeerTrust, RequestHead};
use crate::log::access::AccessRecord;
use crate::scoreboard::{RequestLine, WorkerState};
use crate::sock::{Accepted, Bound, Listener};
use crate::worker::conn::{self, Body, HeadError, Stream};
use crate::worker::sink::Sink;
use crate::worker::watchdog::{Fired, Watchdog};
use crate::wsgi::{App, AppError, BodyError, ConnInfo, Outcome, Peer};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

impl SyncWorker<'_> {
    /// One connection: read the head, run the app, answer, close.
    pub(super) fn handle(&mut self, accepted: Accepted, listener: &Listener) {
        let started = Instant::now();
        self.slot.set_state(WorkerState::Reading);
        let send_timeout = self.cfg.timeout.unwrap_or(Duration::from_secs(30));
        let stream = Stream::new(accepted.fd, send_timeout);
        let peer_ip = accepted.peer.map(|a| a.ip());
        let trust = PeerTrust {
            forwarded: self.cfg.forwarded_allow_ips.allows(peer_ip),
            proxy: self.cfg.proxy_allow_ips.allows(peer_ip),
        };
        let deadline = started + self.cfg.header_timeout;
        let (head, buf, consumed) = match conn::read_head(&stream, &self.parser, trust, deadline) {
            Ok(parts) => parts,
            Err(e) => return self.head_failed(e, stream, peer_ip),
        };
        let mut client = [0u8; 64];
        self.slot.request_started(&RequestLine {
            method: head.method.as_bytes(),
            path: head.uri.as_bytes(),
            client: format_peer(accepted.peer, &mut client),
            version: head.version,
        });
        self.slot.set_state(WorkerState::App);
        let request = Request {
            head: &head,
            peer: accepted.peer,
            started,
        };
        let clean = match &self.app {
            _ if head.expect_continue && stream.write_all(http::response::CONTINUE).is_err() => {
                true
            }
            Ok(app) => self.serve(app, &stream, &request, listener, buf, consumed),
            Err(traceback) => self.answer_load_error(&stream, &request, &traceback.clone()),
        };
        if clean {
            drop(stream);
        } else {
            stream.lingering_close();
        }
        self.slot.request_finished();
        self.slot.record_latency(started.elapsed());
        self.slot.set_state(WorkerState::Idle);
        self.count_request();
    }

    /// Run the app for one request; `true` when the request's bytes were all read (a plain
    /// close is then safe).
    fn serve(
        &mut self,
        app: &App,
        stream: &Stream,
        req: &Request<'_>,
        listener: &Listener,
        buf: Vec<u8>,
        consumed: usize,
    ) -> bool {
        let head = req.head;
        let info = conn_info(self.cfg, listener, req.peer);
        let decoder = BodyDecoder::new(head.body, &self.parser);
        let mut body = Body::new(stream, buf, consumed, decoder, self.cfg.header_timeout);
        let mut sink = Sink::new(stream, head.version, head.method == "HEAD", self.date());
        if let Some(watchdog) = &self.watchdog {
            watchdog.arm(stream.as_fd().as_raw_fd(), req.started);
        }
        let mut outcome = app.call_with_hooks(
            head,
            &info,
            &mut body,
            &mut sink,
            &self.environ_keys,
            Some(self.hooks),
        );
        let fired = self.watchdog.as_ref().map_or(Fired::No, Watchdog::disarm);
        self.slot.set_state(WorkerState::Writing);
        if fired == Fired::Answered {
            // The watchdog answered 504 and logged the stacks and the access line.
            crate::debug!("Request {} {} ended after its 504", head.method, head.uri);
            self.slot.count_response(504, is_app_fault(&outcome));
            return body.is_consumed();
        }
        if fired == Fired::Cut {
            // The watchdog logged the stacks; the interrupt's traceback adds nothing.
            if let Some(error) = outcome.error.take() {
                crate::debug!("After --request-timeout cut {}: {error}", head.uri);
            }
        }
        let peer_ip = req.peer.map(|a| a.ip());
        let status = self.finish_response(head, &outcome, stream, &mut sink, peer_ip);
        self.slot.count_response(status, is_app_fault(&outcome));
        let bytes = Some(sink.body_bytes);
        self.access_log(
            head,
            peer_ip,
            status,
            bytes,
            &outcome,
            req.started.elapsed(),
        );
        body.is_consumed()
    }

    /// `--reload` after a failed import: every request gets a 500 with the traceback, until a
    /// change to the app's files replaces this worker (Gunicorn serves the traceback too).
    fn answer_load_error(&self, stream: &Stream, req: &Request<'_>, traceback: &str) -> bool {
        let body = format!("The application failed to load; gunicorn-rs reloads it when its files change.\n\n{traceback}\n");
        let head = format!(
            "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&[head.as_bytes(), body.as_bytes()].concat());
        let outcome = Outcome::default();
        self.slot.count_response(500, true);
        let peer_ip = req.peer.map(|a| a.ip());
        self.access_log(
            req.head,
            peer_ip,
            500,
            Some(body.len() as u64),
            &outcome,
            req.started.elapsed(),
        );
        false
    }

    /// After the app: answer its errors. Returns the status for the access log.
    fn finish_response(
        &self,
        head: &RequestHead,
        outcome: &Outcome,
        stream: &Stream,
        sink: &mut Sink<'_>,
        peer: Option<std::net::IpAddr>,
    ) -> u16 {
        let Some(error) = &outcome.error else {
            return sink.status;
        };
        match error {
            AppError::Body(BodyError::Parse(e)) => {
                crate::warning!(
                    "Invalid request from ip={}: {e}",
                    peer.map(|ip| ip.to_string()).unwrap_or_default()
                );
                return answer_if_unstarted(
                    sink,
                    stream,
                    e.status().unwrap_or(400),
                    &e.error_page(),
                );
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
            _ => answer_if_unstarted(
                sink,
                stream,
                500,
                &http::response::error_page(500, "Internal Server Error", ""),
            ),
        }
    }

    fn head_failed(&self, error: HeadError, stream: Stream, peer: Option<std::net::IpAddr>) {
        match error {
            HeadError::Parse(e) => {
                let ip = peer.map(|ip| ip.to_string()).unwrap_or_default();
                match e.status() {
                    Some(_) => {
                        crate::warning!("Invalid request from ip={ip}: {e}");
                        let _ = stream.write_all(&e.error_page());
                        stream.lingering_close();
                    }
                    None => crate::debug!("Ignored premature client disconnection. {e}"),
                }
            }
            HeadError::Closed => crate::debug!("Ignored premature client disconnection."),
            HeadError::TimedOut => crate::debug!(
                "Closing connection: no complete request head within {:?}",
                self.cfg.header_timeout
            ),
            HeadError::Io(e) => crate::debug!("Socket error reading the request head: {e}"),
        }
        self.slot.set_state(WorkerState::Idle);
    }

    fn access_log(
        &self,
        head: &RequestHead,
        peer: Option<std::net::IpAddr>,
        status: u16,
        bytes: Option<u64>,
        outcome: &Outcome,
        duration: Duration,
    ) {
        let Some(format) = &self.access else { return };
        let path_info =
            String::from_utf8_lossy(&http::percent_decode(head.path.as_bytes())).into_owned();
        let record = AccessRecord {
            peer,
            method: &head.method,
            uri: &head.uri,
            path_info: &path_info,
            query: &head.query,
            version: head.version,
            request_headers: &head.headers,
            status,
            bytes,
            response_headers: &outcome.headers,
            duration,
            environ: &outcome.environ_values,
        };
        crate::log::write_access(&format.render(&record));
    }
}

/// Send an error page if nothing of the response went out yet; else the connection is cut
/// (the truncation stays visible to the client). Returns the status that was logged.
fn answer_if_unstarted(sink: &Sink<'_>, stream: &Stream, status: u16, page: &[u8]) -> u16 {
    use crate::wsgi::ResponseSink;
    if sink.started() {
        return sink.status;
    }
    let _ = stream.write_all(page);
    status
}

/// Did the app fail (raise, skip or botch `start_response`), for the slot's counter?
fn is_app_fault(outcome: &Outcome) -> bool {
    matches!(
        outcome.error,
        Some(AppError::Exception(_) | AppError::NoStartResponse | AppError::InvalidResponse(_))
    )
}

/// `ip:port` into `buf`, without allocating; empty for a Unix-socket peer.
fn format_peer(peer: Option<std::net::SocketAddr>, buf: &mut [u8; 64]) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if let Some(peer) = peer {
        let _ = write!(cursor, "{peer}");
    }
    let n = cursor.position() as usize;
    &buf[..n]
}

fn conn_info(cfg: &Config, listener: &Listener, peer: Option<std::net::SocketAddr>) -> ConnInfo {
    let (server, unix_path) = match &listener.bound {
        Bound::Tcp(sa) => (Some(*sa), None),
        Bound::Unix(p) => (None, Some(p.display().to_string())),
    };
    ConnInfo {
        peer: peer.map_or(Peer::Unix, Peer::Tcp),
        server,
        unix_path,
        is_tls: false,
        multiprocess: cfg.workers > 1,
        multithread: false,
    }
}
