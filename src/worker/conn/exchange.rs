//! One request's exchange with the app, written once for every worker kind: the scoreboard
//! entry of the request, `100 Continue`, the `--request-timeout` watchdog, the app call, the
//! answer to its errors, the access-log line, `max_requests`, and whether the connection may
//! carry another request afterwards (RFC 9112 §9.3).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::answer::{self, is_app_fault, Answer};
use super::batch::{Batch, HOLD_LIMIT};
use super::body::Body;
pub use super::lane::Lane;
use super::service::Service;
use super::sink::Sink;
use super::Conn;
use crate::http::{self, BodyDecoder, RequestHead};
use crate::scoreboard::{RequestLine, WorkerState};
use crate::worker::signals;
use crate::worker::watchdog::{Claim, Fired};
use crate::wsgi::Outcome;

/// What becomes of the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// It carries the next request (kept alive, or pipelined bytes are already here).
    KeepAlive,
    /// Every byte of the request was read and the client said it was its last (or the
    /// client has gone): a plain close loses nothing.
    Close,
    /// Bytes the server did not read may still come: close without an RST destroying the
    /// response in flight (RFC 9112 §9.6).
    Linger,
}

/// The request being served, as the helpers need it.
pub(super) struct Request<'h> {
    pub head: &'h RequestHead,
    pub peer: Option<std::net::SocketAddr>,
    pub started: Instant,
}

impl Request<'_> {
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|a| a.ip())
    }
}

impl Service<'_> {
    /// Serve the request whose head was just read from `conn` (`consumed` bytes of its
    /// buffer). `persist`: the kind and the request allow the connection to carry another.
    pub fn serve(
        &self,
        lane: &mut Lane,
        conn: &mut Conn,
        head: &RequestHead,
        consumed: usize,
        persist: bool,
    ) -> After {
        let req = Request {
            head,
            peer: conn.peer,
            started: Instant::now(),
        };
        let entry = lane.entry.and_then(|e| self.slot.lane(e));
        let last = self.begin(entry, conn, head);
        let persist = persist && !last && signals::is_alive() && !head.must_close;
        let buf = conn.take_buffer();
        let claim = match &self.watchdog {
            Some(w) => {
                let head_request = head.method == "HEAD";
                let fd = conn.stream.raw();
                w.arm(lane.index, lane.entry, fd, req.started, head_request)
            }
            None => Claim::free(),
        };
        let idle = self.cfg.header_timeout;
        let decoder = BodyDecoder::new(head.body, &self.parser);
        let mut body = Body::new(&conn.stream, buf, consumed, decoder, idle);
        let index = lane.index;
        lane.refresh_date();
        let sink = Sink::new(&conn.stream, claim, self.send_timeout(), &mut lane.out)
            .with_sendfile(self.cfg.sendfile);
        let mut sink = sink
            .for_request(head, persist, &lane.date.1)
            .holding(lane.batch.may_hold().then_some(req.started));
        let answer = self.exchange(conn, &req, &mut body, &mut sink, index);
        set_state(entry, WorkerState::Writing);
        let keep = answer.clean && sink.persists() && sink.completed() && body.drain();
        let mut after = after_response(keep, body.nothing_unread() && head.must_close);
        let (buf, used) = body.into_buffer();
        // One clock read for the batch's limit and the latency (each read is ~130
        // instructions; the two were a few instructions apart).
        let elapsed = req.started.elapsed();
        if sink.holds() {
            let pipelined = buf.len() > used;
            after = hold_or_send(&mut sink, &mut lane.batch, after, pipelined, elapsed);
        }
        conn.finish_request(buf, used);
        self.slot.request_finished(entry);
        self.request_ended(answer.response, elapsed);
        set_state(entry, WorkerState::Idle);
        after
    }

    /// The request is on: the scoreboard shows it (in `entry`) and it is counted. `true` when
    /// it is the worker's last (Gunicorn's rule: the request that reaches max_requests is
    /// answered `close`).
    fn begin(
        &self,
        entry: Option<&crate::scoreboard::Lane>,
        conn: &mut Conn,
        head: &RequestHead,
    ) -> bool {
        let line = RequestLine {
            method: head.method.as_bytes(),
            path: head.uri.as_bytes(),
            client: conn.client().as_bytes(),
            version: head.version,
        };
        self.slot.request_started(entry, &line);
        set_state(entry, WorkerState::App);
        self.count_request()
    }

    /// `100 Continue`, the app, the watchdog's verdict, the answer to errors, the log line.
    fn exchange(
        &self,
        conn: &Conn,
        req: &Request<'_>,
        body: &mut Body<'_>,
        sink: &mut Sink<'_>,
        lane: usize,
    ) -> Answer {
        let head = req.head;
        let app = match &self.app {
            Ok(app) => *app,
            Err(traceback) => return answer::load_error(self, sink, req, traceback),
        };
        if head.expect_continue && sink.send(http::response::CONTINUE).is_err() {
            self.disarm(lane);
            return Answer::unclean();
        }
        let info = self.conn_info(conn, req.peer);
        let keys = self.environ_keys();
        let mut outcome = app.call_with_hooks(head, &info, body, sink, keys, Some(self.hooks()));
        match self.disarm(lane) {
            Fired::Answered => {
                // The watchdog answered 504 and logged the stacks and the access line.
                crate::debug!("Request {} {} ended after its 504", head.method, head.uri);
                return Answer::unclean_after(504, is_app_fault(&outcome));
            }
            Fired::Cut => {
                // The watchdog logged the stacks; the interrupt's traceback adds nothing.
                if let Some(error) = outcome.error.take() {
                    crate::debug!("After --request-timeout cut {}: {error}", head.uri);
                }
                let answer = answer::finish(self, req, &outcome, sink);
                return Answer {
                    clean: false,
                    ..answer
                };
            }
            Fired::No => {}
        }
        answer::finish(self, req, &outcome, sink)
    }

    /// A request is over, its response written (or not made: `None`): the one place every
    /// kind records its end — the scoreboard's counters and latency, and statsd's request
    /// metrics (sent here, after the response, so the client never waits on them).
    pub(crate) fn request_ended(&self, response: Option<(u16, bool)>, elapsed: Duration) {
        self.slot.record_latency(elapsed);
        if let Some((status, fault)) = response {
            self.slot.count_response(status, fault);
            crate::statsd::request(status, elapsed);
        }
    }

    /// `{key}e` access-log atoms need these environ values.
    pub(super) fn log_access(
        &self,
        req: &Request<'_>,
        status: u16,
        bytes: Option<u64>,
        outcome: &Outcome,
    ) {
        answer::access_log(self, req, status, bytes, outcome);
    }
}

/// A complete response still queued: the lane's batch keeps it if the connection is kept
/// alive with nothing pipelined (the next request is the client's answer to this response)
/// and the request, `close()` and hooks included, stayed under the limit; otherwise it goes
/// now.
fn hold_or_send(
    sink: &mut Sink<'_>,
    batch: &mut Batch,
    after: After,
    pipelined: bool,
    elapsed: Duration,
) -> After {
    if after == After::KeepAlive && !pipelined && elapsed < HOLD_LIMIT {
        batch.hold(sink.unsent());
        return after;
    }
    match sink.release() {
        Ok(()) => after,
        Err(e) => {
            crate::debug!("Ignoring EPIPE: {e}");
            match after {
                After::KeepAlive => After::Close,
                other => other,
            }
        }
    }
}

/// What the connection does after a response: `keep` it (the response whole, the body read
/// or drained), or close — at once when the client said this request was its last and sent
/// nothing more (`client_done`), else lingering.
fn after_response(keep: bool, client_done: bool) -> After {
    match (keep, client_done) {
        (true, _) => After::KeepAlive,
        (false, true) => After::Close,
        // RFC 9112 §9.6: a client that did not say this request is its last may have sent
        // the next one already (pipelined, or crossing our `Connection: close`); a plain
        // close would answer its bytes with an RST that can destroy this response in flight.
        (false, false) => After::Linger,
    }
}

fn set_state(lane: Option<&crate::scoreboard::Lane>, state: WorkerState) {
    if let Some(lane) = lane {
        lane.set_state(state);
    }
}
