//! Framing of the control socket: a 4-byte big-endian length, then that many bytes of UTF-8
//! JSON. This is Gunicorn 27's `gunicorn/ctl/protocol.py` framing, byte for byte, so `gunicornc`
//! can talk to gunicorn-rs and `gunicorn-rs ctl` can talk to Gunicorn.
//!
//! Two readers: [`read_frame`] for blocking clients (ctl, the dashboard's socket thread) and
//! [`FrameDecoder`] for the master's non-blocking poll loop, which is fed whatever bytes arrived.
//! Nothing here panics on bad input: every length and every byte is checked.

use std::fmt;
use std::io::{self, Read, Write};

/// Gunicorn's `MAX_MESSAGE_SIZE` (16 MiB). A length above it is refused before any payload is
/// read, so a garbage prefix cannot make us allocate gigabytes.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// Why a frame could not be read or decoded.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection cleanly between two frames.
    Closed,
    /// The peer closed the connection in the middle of a frame.
    Truncated,
    /// The length prefix is above [`MAX_FRAME`]; the stream cannot be resynchronised.
    TooLarge(usize),
    /// The payload is not UTF-8 JSON of the expected shape.
    Json(serde_json::Error),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::Truncated => write!(f, "connection closed in the middle of a message"),
            FrameError::TooLarge(n) => write!(f, "message too large: {n} bytes (max {MAX_FRAME})"),
            FrameError::Json(e) => write!(f, "invalid JSON: {e}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl From<serde_json::Error> for FrameError {
    fn from(e: serde_json::Error) -> Self {
        FrameError::Json(e)
    }
}

/// Serializes `msg` as one frame (prefix + JSON).
pub fn encode<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0; PREFIX];
    serde_json::to_writer(&mut out, msg)?;
    let len = out.len() - PREFIX;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    // `len <= MAX_FRAME < u32::MAX`, so the cast is exact.
    out[..PREFIX].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Parses one payload (without its prefix) as JSON of type `T`.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(payload)?)
}

/// Writes one frame and flushes.
pub fn write_frame<W: Write, T: serde::Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame's payload, blocking. A clean EOF before the first prefix byte is
/// [`FrameError::Closed`]; EOF anywhere later is [`FrameError::Truncated`].
pub fn read_frame<R: Read>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; PREFIX];
    let got = read_full(r, &mut prefix)?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < PREFIX {
        return Err(FrameError::Truncated);
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len];
    if read_full(r, &mut payload)? < len {
        return Err(FrameError::Truncated);
    }
    Ok(payload)
}

/// Reads until `buf` is full or EOF; returns the bytes read. Retries EINTR.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Incremental decoder for a non-blocking reader: [`push`](Self::push) the bytes that arrived,
/// then take complete payloads with [`next_frame`](Self::next_frame) until it returns `None`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete payload, `None` if more bytes are needed. An oversize prefix is an error
    /// as soon as the prefix is complete, before the payload arrives: the caller replies with an
    /// error and closes the connection, because the stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(prefix) = self.buf.get(..PREFIX) else {
            return Ok(None);
        };
        let mut be = [0u8; PREFIX];
        be.copy_from_slice(prefix);
        let len = u32::from_be_bytes(be) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < PREFIX + len {
            return Ok(None);
        }
        let payload = self.buf[PREFIX..PREFIX + len].to_vec();
        self.buf.drain(..PREFIX + len);
        Ok(Some(payload))
    }
}
