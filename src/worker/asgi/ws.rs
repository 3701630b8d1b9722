//! A WebSocket session on an asgi connection (ASGI `websocket` scope, RFC 6455): the opening
//! handshake's answer or its denial, client frames turned into ASGI events (pings answered,
//! the peer's close echoed, protocol errors failing the connection with their close code),
//! the app's messages framed.

use crate::http::permessage_deflate::{self, Deflater};
use crate::http::response::{self, Framing};
use crate::http::websocket::{self, Event, Reader, WsError};
use crate::http::{Protocol, RequestHead};
use crate::worker::conn::Conn;
use std::cell::RefCell;
use std::io::IoSlice;

/// How much one read asks for while a message is under way.
const READ_CHUNK: usize = 64 * 1024;

/// How much one `next` reads at most before it lets the loop's other connections have their
/// turn: a 16 MiB message then takes a few turns of the loop, not one long one.
const READ_TURN: usize = 1024 * 1024;

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The handshake is not answered yet.
    Connecting,
    Open,
    /// A close frame went out (ours, or our echo of the peer's).
    Closed,
}

/// What the app is told next.
pub(super) enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    /// `websocket.disconnect` with this code.
    Disconnect(u16),
    /// The socket ended (or failed) with no close frame.
    Gone,
}

pub(super) struct Session {
    reader: Reader,
    pub phase: Phase,
    /// permessage-deflate may be agreed (`--no-websocket-per-message-deflate` says no).
    may_deflate: bool,
    /// It was: the server's messages go out compressed.
    deflater: Option<Deflater>,
    /// A message's compressed bytes on their way out.
    compressed: Vec<u8>,
}

/// Is `head` an opening handshake (RFC 6455 §4.2.1) this server takes?
pub(super) fn is_upgrade(head: &RequestHead) -> bool {
    let has_token = |name: &str, token: &str| {
        head.headers.iter().any(|(n, v)| {
            n == name
                && String::from_utf8_lossy(v)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    // Behind uwsgi the front relays no upgrade (nginx's uwsgi module has no tunnel).
    head.method == "GET"
        && head.version >= (1, 1)
        && head.protocol == Protocol::Http
        && has_token("UPGRADE", "websocket")
        && has_token("CONNECTION", "upgrade")
        && head.header("SEC-WEBSOCKET-KEY").is_some()
        && head.header("SEC-WEBSOCKET-VERSION") == Some(b"13".as_slice())
}

/// The subprotocols the client offers (`Sec-WebSocket-Protocol`, in order).
pub(super) fn subprotocols(head: &RequestHead) -> Vec<String> {
    head.headers
        .iter()
        .filter(|(n, _)| n == "SEC-WEBSOCKET-PROTOCOL")
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

impl Session {
    pub fn new(max_message: usize, may_deflate: bool) -> Session {
        Session {
            reader: Reader::new(max_message),
            phase: Phase::Connecting,
            may_deflate,
            deflater: None,
            compressed: Vec::new(),
        }
    }

    /// The client's permessage-deflate offers (RFC 7692 §5), unless the app answers them
    /// itself with a `Sec-WebSocket-Extensions` of its own: the answer's value, if the server
    /// takes one, and from then on both directions may be compressed.
    fn agree_deflate(
        &mut self,
        head: &RequestHead,
        headers: &[(String, Vec<u8>)],
    ) -> Option<String> {
        let apps_own = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"));
        if !self.may_deflate || apps_own {
            return None;
        }
        let offers = head
            .headers
            .iter()
            .filter(|(n, _)| n == "SEC-WEBSOCKET-EXTENSIONS")
            .map(|(_, v)| v.as_slice());
        let agreed = permessage_deflate::negotiate(offers)?;
        self.reader.inflate();
        self.deflater = Some(Deflater::new(&agreed));
        Some(agreed.response())
    }

    /// `websocket.accept`: the 101 answer (RFC 6455 §4.2.2).
    pub fn accept(
        &mut self,
        out: &mut Vec<u8>,
        head: &RequestHead,
        subprotocol: Option<&str>,
        headers: &[(String, Vec<u8>)],
        date: &str,
    ) {
        let key = head.header("SEC-WEBSOCKET-KEY").unwrap_or_default();
        // Written here, not by `write_head`: `Upgrade` is hop-by-hop, which that drops from
        // an app's headers, and here it is the server's own.
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nServer: gunicorn-rs\r\nDate: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(
            b"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ",
        );
        out.extend_from_slice(websocket::accept_key(key).as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut field = |name: &[u8], value: &[u8]| {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        if let Some(p) = subprotocol {
            field(b"Sec-WebSocket-Protocol", p.as_bytes());
        }
        if let Some(extensions) = self.agree_deflate(head, headers) {
            field(b"Sec-WebSocket-Extensions", extensions.as_bytes());
        }
        for (name, value) in headers {
            if !response::is_hop_by_hop(name) {
                field(name.as_bytes(), value);
            }
        }
        out.extend_from_slice(b"\r\n");
        self.phase = Phase::Open;
    }

    /// A close before the handshake was answered: the HTTP denial (ASGI: 403).
    pub fn deny(&mut self, out: &mut Vec<u8>, date: &str) {
        let fields = [("Content-Length".to_string(), b"0".to_vec())];
        let status = "403 Forbidden";
        response::write_head(out, (1, 1), status, date, "close", Framing::NoBody, &fields);
        self.phase = Phase::Closed;
    }

    /// `websocket.send`.
    pub fn send(&mut self, out: &mut Vec<u8>, text: Option<&str>, bytes: Option<&[u8]>) {
        if let Some((opcode, payload)) = message(text, bytes) {
            let (header, len, payload) = self.frame(opcode, payload);
            out.extend_from_slice(&header[..len]);
            out.extend_from_slice(payload);
        }
    }

    /// A message's frame: its header (and the header's length) and its payload, compressed
    /// if permessage-deflate was agreed (RFC 7692 §6: RSV1 set, one frame).
    fn frame<'p>(&'p mut self, opcode: u8, payload: &'p [u8]) -> ([u8; 10], usize, &'p [u8]) {
        let Some(deflater) = self.deflater.as_mut() else {
            let (header, len) = websocket::server_header(opcode, payload.len());
            return (header, len, payload);
        };
        self.compressed.clear();
        deflater.deflate(payload, &mut self.compressed);
        let (mut header, len) = websocket::server_header(opcode, self.compressed.len());
        header[0] |= websocket::COMPRESSED;
        (header, len, &self.compressed)
    }

    /// `websocket.send` with nothing queued before it: the frame goes to the socket straight
    /// from the app's buffer (one writev of header and payload), and only what the socket
    /// does not take now is copied into `out`. A 16 MiB echo is then not copied whole first.
    pub fn send_now(
        &mut self,
        conn: &Conn,
        out: &mut Vec<u8>,
        text: Option<&str>,
        bytes: Option<&[u8]>,
    ) -> std::io::Result<()> {
        let Some((opcode, payload)) = message(text, bytes) else {
            return Ok(());
        };
        let (header, len, payload) = self.frame(opcode, payload);
        let header = &header[..len];
        let parts = [IoSlice::new(header), IoSlice::new(payload)];
        let taken = conn.stream.writev_now(&parts)?;
        if let Some(rest) = header.get(taken..) {
            out.extend_from_slice(rest);
            out.extend_from_slice(payload);
        } else {
            out.extend_from_slice(&payload[taken - header.len()..]);
        }
        Ok(())
    }

    /// `websocket.close` (after the handshake).
    pub fn close(&mut self, out: &mut Vec<u8>, code: u16, reason: &str) {
        if self.phase == Phase::Open {
            websocket::write_close(out, code, reason);
            self.phase = Phase::Closed;
        }
    }

    /// The next event from `buf`, read further from `conn` while the socket has bytes and no
    /// event is complete; `None` when the socket is drained (or `READ_TURN` read) first,
    /// `Gone` at its end.
    ///
    /// Reading here rather than once per wake-up of the loop is what makes a large message
    /// cheap: the loop's round trip (the readiness callback, a future, the task's step) is
    /// paid once per turn, not once per 16 KiB. What is read is decoded into the message at
    /// once, so `buf` keeps about one read's bytes whatever the message's size, and the
    /// message itself is bounded by `--websocket-max-message-size`.
    pub fn next_reading(
        &mut self,
        conn: Option<&Conn>,
        buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Option<Incoming> {
        let (mut read, mut drained) = (0, false);
        loop {
            let mut used = 0;
            let incoming = self.next(buf, &mut used, out);
            // What the session used is gone (unmasked into its message); what stays is at
            // most a cut header or the frames behind the one that made an event.
            buf.drain(..used);
            if incoming.is_some() || drained || read >= READ_TURN {
                return incoming;
            }
            match conn.and_then(|conn| read_into(conn, buf)) {
                None => return Some(Incoming::Gone),
                Some(0) => return None,
                // A read shorter than asked took all the socket had: asking again would
                // most likely only hear "nothing yet", and the loop watches the socket
                // (level-triggered) for what comes after.
                Some(got) => (read, drained) = (read + got, got < READ_CHUNK),
            }
        }
    }

    /// The next event from `buf[*used..]`; control frames are answered into `out`.
    pub fn next(&mut self, buf: &[u8], used: &mut usize, out: &mut Vec<u8>) -> Option<Incoming> {
        loop {
            match self.reader.next(&buf[*used..]) {
                Ok((0, None)) => return None,
                Ok((n, event)) => {
                    *used += n;
                    if let Some(incoming) = self.event(event, out) {
                        return Some(incoming);
                    }
                }
                Err(e) => return Some(self.fail(e, out)),
            }
        }
    }

    fn event(&mut self, event: Option<Event>, out: &mut Vec<u8>) -> Option<Incoming> {
        match event? {
            Event::Text(t) => Some(Incoming::Text(t)),
            Event::Binary(b) => Some(Incoming::Binary(b)),
            Event::Ping(p) => {
                if self.phase == Phase::Open {
                    websocket::write_frame(out, websocket::PONG, &p);
                }
                None
            }
            Event::Pong => None,
            Event::Close(code, _) => {
                // RFC 6455 §5.5.1: answer a close with a close, echoing its code.
                self.close(out, code.unwrap_or(1000), "");
                Some(Incoming::Disconnect(code.unwrap_or(1005)))
            }
        }
    }

    fn fail(&mut self, e: WsError, out: &mut Vec<u8>) -> Incoming {
        self.close(out, e.close_code(), "");
        Incoming::Disconnect(e.close_code())
    }
}

/// A `websocket.send`'s frame: its opcode and payload (ASGI: `text` wins when both are given;
/// neither: nothing to send).
fn message<'a>(text: Option<&'a str>, bytes: Option<&'a [u8]>) -> Option<(u8, &'a [u8])> {
    match (text, bytes) {
        (Some(t), _) => Some((websocket::TEXT, t.as_bytes())),
        (None, Some(b)) => Some((websocket::BINARY, b)),
        (None, None) => None,
    }
}

thread_local! {
    /// Where `read_into` reads: zeroed once per worker, not once per read (a message that
    /// trickles in 64-byte pieces would otherwise clear 64 KiB for each of them).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Append what the socket has now (up to `READ_CHUNK`) to `buf`: the bytes read (0: none
/// yet), `None` at the client's end or on an error (a reset: gone all the same).
fn read_into(conn: &Conn, buf: &mut Vec<u8>) -> Option<usize> {
    SCRATCH.with_borrow_mut(|scratch| match conn.stream.recv_now(scratch) {
        Ok(Some(0)) | Err(_) => None,
        Ok(Some(n)) => {
            buf.extend_from_slice(&scratch[..n]);
            Some(n)
        }
        Ok(None) => Some(0),
    })
}
