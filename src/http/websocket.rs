//! The WebSocket protocol (RFC 6455) as a server speaks it: the opening handshake's accept
//! key, client frames read as their bytes arrive (masked, fragmented, interleaved with control
//! frames), messages assembled under a size limit with their UTF-8 checked as they grow,
//! server frames.
//!
//! Frames are decoded in a stream, not whole: a frame's payload is unmasked into its message
//! as each read brings it, so a large message is copied once and never waits in a frame
//! buffer, and a text message that turns invalid fails at the byte that makes it so (RFC 6455
//! §8.1: "fail the WebSocket connection" as soon as invalid UTF-8 is found — Autobahn 6.4.*
//! check that this happens before the rest of the message arrives).

use base64::Engine;
use sha1::{Digest, Sha1};

use super::permessage_deflate::{InflateError, Inflater};

mod server_frames;
pub use server_frames::{server_header, write_close, write_frame, COMPRESSED};

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

/// RFC 6455 §5.5: a control frame's payload is at most 125 bytes.
const MAX_CONTROL: u64 = 125;

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

impl From<InflateError> for WsError {
    /// RFC 7692 names no close code for data that does not inflate: it is the peer's protocol
    /// error (1002); a message that inflates past the limit is too big (1009).
    fn from(e: InflateError) -> WsError {
        match e {
            InflateError::Corrupt => WsError::Protocol,
            InflateError::TooBig => WsError::TooBig,
        }
    }
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

/// Close codes a peer may send (RFC 6455 §7.4.1–7.4.2 and IANA's WebSocket Close Code
/// registry, which adds 1012–1014): 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be set
/// as a status code in a Close control frame by an endpoint", the rest of 1000–2999 is kept
/// for the protocol's future, 3000–4999 are for libraries and apps. Any other code fails
/// the connection (§7.4.2 leaves it to the endpoint; 1002 is what the reference servers do).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The frame being read, once its header is whole.
#[derive(Debug, Clone, Copy)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Payload bytes not read yet.
    left: u64,
    /// Payload bytes read so far (where the mask stands).
    done: usize,
}

/// A data message so far: its frames' payloads, unmasked (and inflated, if it came
/// compressed).
#[derive(Debug)]
struct Message {
    text: bool,
    /// RSV1 on its first frame: the payload is compressed (RFC 7692 §6).
    compressed: bool,
    bytes: Vec<u8>,
    /// For text, `bytes[..valid]` is known to be UTF-8; what follows is at most the start of
    /// one character whose other bytes have not arrived.
    valid: usize,
}

impl Message {
    /// Check the bytes added since the last check (RFC 6455 §8.1: fail fast). A character cut
    /// by a read or a fragment boundary waits for its remaining bytes.
    fn check_utf8(&mut self) -> Result<(), WsError> {
        if !self.text {
            return Ok(());
        }
        match std::str::from_utf8(&self.bytes[self.valid..]) {
            Ok(_) => self.valid = self.bytes.len(),
            // `error_len() == None`: the bytes end inside a character that may still complete.
            Err(e) if e.error_len().is_none() => self.valid += e.valid_up_to(),
            Err(_) => return Err(WsError::InvalidUtf8),
        }
        Ok(())
    }

    fn finish(self) -> Result<Event, WsError> {
        if !self.text {
            return Ok(Event::Binary(self.bytes));
        }
        if self.valid != self.bytes.len() {
            // The message ended inside a character.
            return Err(WsError::InvalidUtf8);
        }
        String::from_utf8(self.bytes)
            .map(Event::Text)
            .map_err(|_| WsError::InvalidUtf8)
    }
}

/// Reads client frames into messages, from bytes as they come.
#[derive(Debug)]
pub struct Reader {
    max_message: usize,
    frame: Option<Frame>,
    message: Option<Message>,
    /// The payload of the control frame being read (≤ 125 bytes).
    control: Vec<u8>,
    /// permessage-deflate was agreed: messages may come compressed.
    inflater: Option<Inflater>,
    /// A compressed payload's bytes, unmasked, on their way to the inflater.
    compressed: Vec<u8>,
}

impl Reader {
    pub fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            frame: None,
            message: None,
            control: Vec::new(),
            inflater: None,
            compressed: Vec::new(),
        }
    }

    /// Take compressed messages from now on (permessage-deflate was agreed, RFC 7692).
    pub fn inflate(&mut self) {
        self.inflater = Some(Inflater::default());
    }

    /// Take what `buf` holds of the current frame: the bytes used (all of them, unless a
    /// header is cut short or the frame ends before `buf` does), and the event the frame
    /// completed, if it did (a fragment completes nothing yet). `(0, None)`: more bytes are
    /// needed before anything can be used.
    pub fn next(&mut self, buf: &[u8]) -> Result<(usize, Option<Event>), WsError> {
        let (mut frame, mut used) = match self.frame {
            Some(frame) => (frame, 0),
            None => match self.header(buf)? {
                Some(started) => started,
                None => return Ok((0, None)),
            },
        };
        let take =
            usize::try_from(frame.left).map_or(buf.len() - used, |left| left.min(buf.len() - used));
        self.payload(&frame, &buf[used..used + take])?;
        frame.left -= take as u64;
        frame.done += take;
        used += take;
        if frame.left > 0 {
            self.frame = Some(frame);
            return Ok((used, None));
        }
        self.frame = None;
        Ok((used, self.complete(&frame)?))
    }

    /// A frame's header at the start of `buf`, checked against what may come now: the frame
    /// and the header's length, or `None` until the header is whole.
    fn header(&mut self, buf: &[u8]) -> Result<Option<(Frame, usize)>, WsError> {
        let Some((header, len, fin, opcode)) = frame_header(buf)? else {
            return Ok(None);
        };
        if header + 4 > buf.len() {
            return Ok(None);
        }
        // RFC 7692 §6: with permessage-deflate, RSV1 marks a compressed message, on its first
        // frame only; control frames are never compressed. Otherwise RSV1 fails (§5.2).
        let rsv1 = buf[0] & 0x40 != 0;
        if rsv1 && (self.inflater.is_none() || !matches!(opcode, TEXT | BINARY)) {
            return Err(WsError::Protocol);
        }
        if opcode >= CLOSE {
            // §5.5: control frames are never fragmented and carry at most 125 bytes.
            if !fin || len > MAX_CONTROL {
                return Err(WsError::Protocol);
            }
            self.control.clear();
        } else {
            self.start_data(opcode, len, rsv1)?;
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&buf[header..header + 4]);
        let frame = Frame {
            fin,
            opcode,
            mask,
            left: len,
            done: 0,
        };
        Ok(Some((frame, header + 4)))
    }

    /// A data frame's header: a new message, or the next fragment of the one under way
    /// (§5.4: only continuation frames may follow an unfinished message, and a continuation
    /// needs one), within `--websocket-max-message-size`.
    fn start_data(&mut self, opcode: u8, len: u64, compressed: bool) -> Result<(), WsError> {
        let so_far = match (&self.message, opcode) {
            (None, TEXT | BINARY) => 0,
            (Some(m), CONTINUATION) => m.bytes.len(),
            _ => return Err(WsError::Protocol),
        };
        let fits = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(so_far))
            .is_some_and(|total| total <= self.max_message);
        if !fits {
            return Err(WsError::TooBig);
        }
        if self.message.is_none() {
            self.message = Some(Message {
                text: opcode == TEXT,
                compressed,
                bytes: Vec::new(),
                valid: 0,
            });
        }
        Ok(())
    }

    /// Payload bytes of `frame`, unmasked into their message (its UTF-8 checked) or into the
    /// control frame's payload.
    fn payload(&mut self, frame: &Frame, data: &[u8]) -> Result<(), WsError> {
        if frame.opcode >= CLOSE {
            unmask_into(&mut self.control, data, frame.mask, frame.done);
            return Ok(());
        }
        let Some(message) = self.message.as_mut() else {
            return Err(WsError::Protocol);
        };
        match (message.compressed, self.inflater.as_mut()) {
            (true, Some(inflater)) => {
                self.compressed.clear();
                unmask_into(&mut self.compressed, data, frame.mask, frame.done);
                let inflated =
                    inflater.inflate(&self.compressed, &mut message.bytes, self.max_message);
                inflated.map_err(WsError::from)?;
            }
            _ => unmask_into(&mut message.bytes, data, frame.mask, frame.done),
        }
        message.check_utf8()
    }

    /// The event a frame completes: a control frame's, or a message's at its last fragment.
    fn complete(&mut self, frame: &Frame) -> Result<Option<Event>, WsError> {
        match frame.opcode {
            PING => Ok(Some(Event::Ping(std::mem::take(&mut self.control)))),
            PONG => Ok(Some(Event::Pong)),
            CLOSE => close_event(&self.control).map(Some),
            _ if !frame.fin => Ok(None),
            _ => match self.message.take() {
                Some(mut message) => {
                    if let (true, Some(inflater)) = (message.compressed, self.inflater.as_mut()) {
                        inflater
                            .finish(&mut message.bytes, self.max_message)
                            .map_err(WsError::from)?;
                        message.check_utf8()?;
                    }
                    message.finish().map(Some)
                }
                None => Err(WsError::Protocol),
            },
        }
    }
}

/// Append `data` to `out`, unmasked (§5.3: byte `i` of the payload is XORed with byte `i % 4`
/// of the mask), `offset` being the position of `data[0]` in the payload. Sixteen bytes at a
/// time, with the mask laid out to match, so the compiler makes it vector XORs.
fn unmask_into(out: &mut Vec<u8>, data: &[u8], mask: [u8; 4], offset: usize) {
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = mask[(offset + i) % 4];
    }
    let start = out.len();
    out.extend_from_slice(data);
    let mut chunks = out[start..].chunks_exact_mut(16);
    for chunk in &mut chunks {
        for (b, k) in chunk.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

/// A frame's header: its length before the mask, the payload length, FIN, the opcode. Client
/// frames must be masked (§5.1) and use no reserved bit or opcode (§5.2) but RSV1, which
/// permessage-deflate gives a meaning ([`Reader::header`] checks it).
fn frame_header(buf: &[u8]) -> Result<Option<(usize, u64, bool, u8)>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 || b1 & 0x80 == 0 {
        return Err(WsError::Protocol);
    }
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG) {
        return Err(WsError::Protocol);
    }
    let (header, len) = match (b1 & 0x7F, buf) {
        (126, [_, _, a, b, ..]) => (4, u64::from(u16::from_be_bytes([*a, *b]))),
        (127, [_, _, rest @ ..]) if rest.len() >= 8 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&rest[..8]);
            (10, u64::from_be_bytes(n))
        }
        (126 | 127, _) => return Ok(None),
        (n, _) => (2, u64::from(n)),
    };
    // §5.2: "the most significant bit MUST be 0".
    if len >> 63 != 0 {
        return Err(WsError::Protocol);
    }
    Ok(Some((header, len, fin, opcode)))
}

/// §5.5.1: a close payload is empty, or a 2-byte code and a UTF-8 reason.
fn close_event(payload: &[u8]) -> Result<Event, WsError> {
    match payload {
        [] => Ok(Event::Close(None, String::new())),
        [_] => Err(WsError::Protocol),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !valid_close_code(code) {
                return Err(WsError::Protocol);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Event::Close(Some(code), reason.to_string()))
        }
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
