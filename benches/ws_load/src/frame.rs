//! WebSocket frames as a client sends and receives them (RFC 6455 §5.2), for the lean engine.

use std::io::{self, Read};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Larger frames than this from a server are refused (the benchmark's are 1 KiB).
const MAX_FRAME: u64 = 64 << 20;

/// A frame's shape: its payload is `[header..len]` of the bytes it was parsed from.
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub header: usize,
    pub len: usize,
}

/// The header of the frame at the start of `buf`, once the whole frame is there.
pub fn parse(buf: &[u8]) -> Result<Option<Frame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err("a reserved bit is set (no extension was agreed)".into());
    }
    // §5.1: a server must not mask what it sends; a client that sees a masked frame fails.
    if b1 & 0x80 != 0 {
        return Err("the server masked a frame".into());
    }
    let (header, payload) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as u64),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (10, u64::from_be_bytes(n))
        }
        126 | 127 => return Ok(None),
        n => (2, n as u64),
    };
    if payload > MAX_FRAME {
        return Err(format!("a frame of {payload} bytes"));
    }
    let len = header + payload as usize;
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        header,
        len,
    }))
}

/// Appends a final frame of `payload`, masked with a fresh key (§5.3).
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], rng: &mut u64) {
    out.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let key = next_key(rng);
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    mask(&mut out[start..], key);
}

/// XORs `data` with the key repeated: eight bytes at a time, which keeps the key's phase.
fn mask(data: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// xorshift64*: a new masking key per frame.
fn next_key(state: &mut u64) -> [u8; 4] {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    let k = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
    ((k >> 32) as u32).to_ne_bytes()
}

/// A close frame's code and reason, for the error line.
pub fn close_reason(payload: &[u8]) -> String {
    match payload {
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            format!("{code} {}", String::from_utf8_lossy(reason))
        }
        _ => "no code".into(),
    }
}

/// A connection's input: bytes read and not yet taken, in a buffer that grows only for a
/// frame larger than it.
pub struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    pub fn new() -> Input {
        Input {
            buf: vec![0; 16 << 10],
            start: 0,
            end: 0,
        }
    }

    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One read into the free space: (bytes, whether it filled that space — if not, an
    /// edge-triggered socket has nothing more for now).
    pub fn fill_once<R: Read>(&mut self, r: &mut R) -> io::Result<(usize, bool)> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let space = self.buf.len() - self.end;
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, n == space))
    }

    /// The length of an HTTP head at the start of the input, with its blank line.
    pub fn head_end(&self) -> Option<usize> {
        let data = self.unread();
        data.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_through_its_mask() {
        let payload: Vec<u8> = (0..1027u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let mut rng = 7;
        encode(&mut out, OP_BINARY, &payload, &mut rng);
        assert_eq!(out[1], 0x80 | 126);
        let key = [out[4], out[5], out[6], out[7]];
        let unmasked: Vec<u8> = out[8..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        assert_eq!(unmasked, payload);
    }

    #[test]
    fn a_server_frame_is_parsed_once_whole() {
        let mut f = vec![0x82, 126, 0x04, 0x00];
        f.extend(std::iter::repeat(b'x').take(1024));
        assert!(parse(&f[..1000]).unwrap().is_none());
        let got = parse(&f).unwrap().unwrap();
        assert_eq!(
            (got.fin, got.opcode, got.header, got.len),
            (true, OP_BINARY, 4, 1028)
        );
        assert!(
            parse(&[0x82, 0x81, 0, 0, 0, 0, 0]).is_err(),
            "masked by the server"
        );
    }
}
