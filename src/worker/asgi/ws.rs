//! A WebSocket session on an asgi connection (ASGI `websocket` scope, RFC 6455): the opening
//! handshake's answer or its denial, client frames turned into ASGI events (pings answered,
//! the peer's close echoed, protocol errors failing the connection with their close code),
//! the app's messages framed.

use crate::http::response::{self, Framing};
use crate::http::websocket::{self, Event, Reader, WsError};
use crate::http::{Protocol, RequestHead};

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
}

pub(super) struct Session {
    reader: Reader,
    pub phase: Phase,
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
    pub fn new(max_message: usize) -> Session {
        Session {
            reader: Reader::new(max_message),
            phase: Phase::Connecting,
        }
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
        match (text, bytes) {
            (Some(t), _) => websocket::write_frame(out, websocket::TEXT, t.as_bytes()),
            (None, Some(b)) => websocket::write_frame(out, websocket::BINARY, b),
            (None, None) => {}
        }
    }

    /// `websocket.close` (after the handshake).
    pub fn close(&mut self, out: &mut Vec<u8>, code: u16, reason: &str) {
        if self.phase == Phase::Open {
            websocket::write_close(out, code, reason);
            self.phase = Phase::Closed;
        }
    }

    /// The next event from `buf[*used..]`; control frames are answered into `out`.
    pub fn next(&mut self, buf: &[u8], used: &mut usize, out: &mut Vec<u8>) -> Option<Incoming> {
        loop {
            match self.reader.next(&buf[*used..]) {
                Ok(None) => return None,
                Ok(Some((n, event))) => {
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
