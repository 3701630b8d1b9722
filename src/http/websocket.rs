//! The WebSocket protocol (RFC 6455) as a server speaks it: the opening handshake's accept
//! key, client frames read incrementally (masked, fragmented, interleaved with control
//! frames), messages assembled under a size limit with their UTF-8 checked, server frames.

use base64::Engine;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: the GUID appended to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
const CONTINUATION: u8 = 0x0;

/// What a complete frame means to the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    /// The peer's close: its code (none given: `None`) and reason.
    Close(Option<u16>, String),
}

/// Why the connection must fail, with the close code to send (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("protocol error")]
    Protocol,
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    #[error("message too big")]
    TooBig,
}

impl WsError {
    pub fn close_code(self) -> u16 {
        match self {
            WsError::Protocol => 1002,
            WsError::InvalidUtf8 => 1007,
            WsError::TooBig => 1009,
        }
    }
}

/// Reads client frames into messages.
#[derive(Debug)]
pub struct Reader {
    max_message: usize,
    /// A fragmented message so far: text or not, and its bytes.
    partial: Option<(bool, Vec<u8>)>,
}

/// Close codes an endpoint may send (RFC 6455 §7.4.1–7.4.2; 1004–1006 and 1015 are never
/// sent, 1012–2999 are reserved for the protocol's own extensions).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl Reader {
    pub fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            partial: None,
        }
    }

    /// The next frame at the start of `buf`: `Ok(None)` until it is whole, else the bytes it
    /// took and what it completed (a fragment completes nothing yet).
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<(usize, Option<Event>)>, WsError> {
        let Some((header, len, fin, opcode)) = frame_header(buf)? else {
            return Ok(None);
        };
        if opcode >= CLOSE && (!fin || len > 125) {
            return Err(WsError::Protocol);
        }
        let budget = self.partial.as_ref().map_or(0, |(_, b)| b.len());
        if opcode < CLOSE && (len as usize).saturating_add(budget) > self.max_message {
            return Err(WsError::TooBig);
        }
        let total = header + 4 + len as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let mask = [
            buf[header],
            buf[header + 1],
            buf[header + 2],
            buf[header + 3],
        ];
        let payload: Vec<u8> = buf[header + 4..total]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        let event = self.frame(opcode, fin, payload)?;
        Ok(Some((total, event)))
    }

    fn frame(&mut self, opcode: u8, fin: bool, payload: Vec<u8>) -> Result<Option<Event>, WsError> {
        match opcode {
            PING => Ok(Some(Event::Ping(payload))),
            PONG => Ok(Some(Event::Pong)),
            CLOSE => close_event(&payload).map(Some),
            TEXT | BINARY if self.partial.is_none() => {
                self.partial = Some((opcode == TEXT, payload));
                self.complete(fin)
            }
            CONTINUATION if self.partial.is_some() => {
                if let Some((_, bytes)) = self.partial.as_mut() {
                    bytes.extend_from_slice(&payload);
                }
                self.complete(fin)
            }
            _ => Err(WsError::Protocol),
        }
    }

    fn complete(&mut self, fin: bool) -> Result<Option<Event>, WsError> {
        if !fin {
            return Ok(None);
        }
        match self.partial.take() {
            Some((true, bytes)) => String::from_utf8(bytes)
                .map(|t| Some(Event::Text(t)))
                .map_err(|_| WsError::InvalidUtf8),
            Some((false, bytes)) => Ok(Some(Event::Binary(bytes))),
            None => Ok(None),
        }
    }
}

/// A frame's header: its length, the payload length, FIN, the opcode. Client frames must be
/// masked and use no reserved bits (no extension is negotiated).
fn frame_header(buf: &[u8]) -> Result<Option<(usize, u64, bool, u8)>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 || b1 & 0x80 == 0 {
        return Err(WsError::Protocol);
    }
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(WsError::Protocol);
    }
    let (header, len) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (4, u64::from(u16::from_be_bytes([buf[2], buf[3]]))),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (10, u64::from_be_bytes(n))
        }
        126 | 127 => return Ok(None),
        n => (2, u64::from(n)),
    };
    if len >> 63 != 0 {
        return Err(WsError::Protocol);
    }
    Ok(Some((header, len, fin, opcode)))
}

fn close_event(payload: &[u8]) -> Result<Event, WsError> {
    match payload.len() {
        0 => Ok(Event::Close(None, String::new())),
        1 => Err(WsError::Protocol),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !valid_close_code(code) {
                return Err(WsError::Protocol);
            }
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Event::Close(Some(code), reason.to_string()))
        }
    }
}

/// A server frame (unmasked, RFC 6455 §5.1), whole (FIN set).
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// A close frame with `code` and `reason` (the reason cut to fit a control frame's 125 bytes).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    write_frame(out, CLOSE, &payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut f = vec![opcode_byte, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn accept_key_is_rfc6455s_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn fragments_make_one_message_around_a_ping() {
        let mut r = Reader::new(1024);
        let a = masked(0x01, b"Hel");
        assert_eq!(r.next(&a), Ok(Some((a.len(), None))));
        let p = masked(0x89, b"hi");
        assert_eq!(
            r.next(&p),
            Ok(Some((p.len(), Some(Event::Ping(b"hi".to_vec())))))
        );
        let b = masked(0x80, b"lo");
        assert_eq!(
            r.next(&b),
            Ok(Some((b.len(), Some(Event::Text("Hello".into())))))
        );
        assert_eq!(r.next(&b[..3]), Ok(None));
    }

    #[test]
    fn bad_frames_fail_with_their_codes() {
        let mut r = Reader::new(4);
        assert_eq!(r.next(&masked(0x81, b"toolong")), Err(WsError::TooBig));
        let mut r = Reader::new(64);
        assert_eq!(
            r.next(&masked(0x81, &[0xff, 0xfe])),
            Err(WsError::InvalidUtf8)
        );
        assert_eq!(r.next(&[0x81, 0x00]), Err(WsError::Protocol), "unmasked");
        assert_eq!(r.next(&masked(0xC1, b"x")), Err(WsError::Protocol), "RSV1");
        assert_eq!(
            r.next(&masked(0x80, b"x")),
            Err(WsError::Protocol),
            "no message"
        );
        assert_eq!(
            r.next(&masked(0x09, b"x")),
            Err(WsError::Protocol),
            "fragmented ping"
        );
        assert_eq!(
            r.next(&masked(0x88, &[0x03, 0xED])),
            Err(WsError::Protocol),
            "1005"
        );
        let close = masked(0x88, &[0x03, 0xE8, b'o', b'k']);
        assert_eq!(
            r.next(&close),
            Ok(Some((
                close.len(),
                Some(Event::Close(Some(1000), "ok".into()))
            )))
        );
    }

    #[test]
    fn server_frames_use_the_shortest_length() {
        let mut out = Vec::new();
        write_frame(&mut out, TEXT, b"hi");
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        let mut out = Vec::new();
        write_frame(&mut out, BINARY, &[0u8; 300]);
        assert_eq!(&out[..4], &[0x82, 126, 1, 44]);
    }
}
