//! The WebSocket permessage-deflate extension (RFC 7692): the server's side of the offer and
//! answer (§5, §7.1), and the two compressors of a session — messages the client sent
//! compressed are inflated as their frames arrive, the server's own are deflated whole.
//!
//! A compressed message is a raw DEFLATE stream (no zlib header) flushed with a sync flush,
//! whose last four bytes `00 00 ff ff` are left off on the wire (§7.2.1); the receiver puts
//! them back before inflating (§7.2.2). Unless "no context takeover" was agreed, each side
//! keeps its LZ77 window from one message to the next, so a message may refer to bytes of
//! the ones before it.
//!
//! Inflating is bounded: the caller's limit (`--websocket-max-message-size`) applies to the
//! inflated bytes, checked as they grow, so a small frame that would inflate to gigabytes
//! fails with 1009 after at most one chunk past the limit.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// §7.2.1: the tail of a sync flush, left off the wire and put back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How much room inflating asks for at a time; also how far past the limit a message may grow
/// before it is refused.
const CHUNK: usize = 16 * 1024;

/// Level 1: the server's CPU, not the bandwidth, is what a busy WebSocket server runs out of,
/// and on text (JSON, HTML) level 1 gives most of level 6's ratio at several times the speed.
const LEVEL: u32 = 1;

/// What the server agreed to, from the first offer it can honour (§5.1: offers are in the
/// client's order of preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// `server_no_context_takeover`: the server starts each message with an empty window.
    pub server_no_context_takeover: bool,
    /// `server_max_window_bits`: the window the server's compressor may use (8 is refused,
    /// see [`accept_offer`]).
    pub server_max_window_bits: u8,
}

impl Agreement {
    /// The `Sec-WebSocket-Extensions` value of the server's answer (§7.1: the server says
    /// back what binds it; the client's own parameters need no echo).
    pub fn response(&self) -> String {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        value
    }
}

/// The first permessage-deflate offer in the client's `Sec-WebSocket-Extensions` values that
/// this server can accept, if any. An offer with an unknown parameter, a parameter twice or
/// a bad value is declined (§7.1), and so is `server_max_window_bits=8`: zlib's deflate has no
/// 256-byte window and would use 512 bytes, more than the client can keep.
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<Agreement> {
    values
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .find_map(accept_offer)
}

/// One extension of the list (`name; param; param=value`), if it is an offer of
/// permessage-deflate this server can honour.
fn accept_offer(extension: &str) -> Option<Agreement> {
    let mut parts = extension.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut agreed = Agreement {
        server_no_context_takeover: false,
        server_max_window_bits: 15,
    };
    let mut seen: Vec<String> = Vec::new();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
            None => (param, None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
            ("client_no_context_takeover", None) | ("client_max_window_bits", None) => {}
            // The client's own window: any up to 15 inflates with a 15-bit window.
            ("client_max_window_bits", Some(v)) => {
                window_bits(v)?;
            }
            ("server_max_window_bits", Some(v)) => {
                agreed.server_max_window_bits = window_bits(v).filter(|&bits| bits > 8)?;
            }
            _ => return None,
        }
        seen.push(name);
    }
    Some(agreed)
}

/// §7.1.2: a window size is a decimal 8–15 without leading zeros.
fn window_bits(value: &str) -> Option<u8> {
    let valid = !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    value
        .parse::<u8>()
        .ok()
        .filter(|bits| valid && (8..=15).contains(bits))
}

/// RFC 9110 §5.6.4: a parameter value may be a quoted-string (§7.1: with the same content).
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// The compressed data of a message could not be inflated (§7.2.2: fail the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    Corrupt,
    /// The inflated message passed the size limit.
    TooBig,
}

/// Inflates the client's compressed messages.
#[derive(Debug)]
pub struct Inflater {
    stream: Decompress,
}

impl Default for Inflater {
    fn default() -> Self {
        // A 15-bit window takes whatever window the client compressed with.
        Inflater {
            stream: Decompress::new_with_window_bits(false, 15),
        }
    }
}

impl Inflater {
    /// Inflate `input` (the next compressed bytes of a message) onto `out`, which may not grow
    /// past `limit`.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < CHUNK {
                out.reserve(CHUNK);
            }
            let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
            let status = self
                .stream
                .decompress_vec(&input[pos..], out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            let consumed = (self.stream.total_in() - before_in) as usize;
            let produced = self.stream.total_out() - before_out;
            pos += consumed;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL) ended the stream: what follows, the tail put back by
                // `finish` included, starts a new one.
                self.stream.reset(false);
            }
            // Done when every byte went in and the output had room to spare (a full output
            // may hold back more).
            if pos == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if consumed == 0 && produced == 0 && status != Status::StreamEnd {
                // Input left that the stream takes no more of.
                return Err(InflateError::Corrupt);
            }
        }
    }

    /// The message's last frame arrived: put back the flush's tail (§7.2.2).
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate(&TAIL, out, limit)
    }
}

/// Deflates the server's messages.
#[derive(Debug)]
pub struct Deflater {
    stream: Compress,
    no_context_takeover: bool,
}

impl Deflater {
    pub fn new(agreed: &Agreement) -> Deflater {
        let level = Compression::new(LEVEL);
        Deflater {
            stream: Compress::new_with_window_bits(level, false, agreed.server_max_window_bits),
            no_context_takeover: agreed.server_no_context_takeover,
        }
    }

    /// `payload` compressed as one message's data (§7.2.1), appended to `out`.
    pub fn deflate(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let mut pos = 0;
        loop {
            out.reserve(payload.len() - pos + 64);
            let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
            // A compressor fed whole buffers with room to spare does not fail; were it to, the
            // message goes out as what was made of it, which the client inflates or refuses.
            if self
                .stream
                .compress_vec(&payload[pos..], out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let consumed = (self.stream.total_in() - before_in) as usize;
            let produced = self.stream.total_out() - before_out;
            pos += consumed;
            let flushed = out[start..].ends_with(&TAIL) && out.len() < out.capacity();
            // Nothing taken and nothing made: a flush with nothing new since the last one
            // (an empty message) has nothing to say.
            if (pos == payload.len() && flushed) || (consumed == 0 && produced == 0) {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.len() == start {
            // §7.2.3.6: an empty message may be sent as a single 0x00 (an empty stored block's
            // start), which every client inflates to nothing.
            out.push(0x00);
        }
        if self.no_context_takeover {
            self.stream.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(v: &str) -> Option<Agreement> {
        negotiate([v.as_bytes()])
    }

    #[test]
    fn offers_are_taken_in_order_and_bad_ones_declined() {
        let plain = Agreement {
            server_no_context_takeover: false,
            server_max_window_bits: 15,
        };
        assert_eq!(
            offer("permessage-deflate; client_max_window_bits"),
            Some(plain)
        );
        assert_eq!(offer("x-webkit-deflate-frame"), None);
        assert_eq!(offer("permessage-deflate; foo"), None, "unknown parameter");
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None,
            "a parameter twice"
        );
        assert_eq!(offer("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits=09"), None);
        assert_eq!(offer("permessage-deflate; client_max_window_bits=7"), None);
        // 8 cannot be honoured; the next offer can.
        let two = "permessage-deflate; server_max_window_bits=8, permessage-deflate; \
                   server_no_context_takeover; server_max_window_bits=\"10\"";
        let agreed = offer(two).expect("the second offer");
        assert_eq!(agreed.server_max_window_bits, 10);
        assert!(agreed.server_no_context_takeover);
        assert_eq!(
            agreed.response(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(plain.response(), "permessage-deflate");
    }

    fn round_trip(agreed: Agreement, messages: &[&[u8]]) -> Vec<usize> {
        let mut deflater = Deflater::new(&agreed);
        let mut inflater = Inflater::default();
        let mut sizes = Vec::new();
        for message in messages {
            let mut wire = Vec::new();
            deflater.deflate(message, &mut wire);
            sizes.push(wire.len());
            // Inflated in pieces, as frames and reads cut it.
            let mut got = Vec::new();
            for piece in wire.chunks(7) {
                inflater
                    .inflate(piece, &mut got, 1 << 20)
                    .expect("inflates");
            }
            inflater.finish(&mut got, 1 << 20).expect("ends");
            assert_eq!(&got, message);
        }
        sizes
    }

    #[test]
    fn messages_round_trip_with_and_without_context_takeover() {
        let text = b"{\"hello\": \"world\", \"numbers\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}".repeat(20);
        let messages: [&[u8]; 4] = [&text, b"", &text, b"x"];
        let keep = Agreement {
            server_no_context_takeover: false,
            server_max_window_bits: 15,
        };
        let kept = round_trip(keep, &messages);
        let fresh = round_trip(
            Agreement {
                server_no_context_takeover: true,
                server_max_window_bits: 9,
            },
            &messages,
        );
        assert!(kept[0] < text.len() / 4, "compresses: {kept:?}");
        assert!(kept[2] < kept[0], "the window carries over: {kept:?}");
        assert!(fresh[2] >= fresh[0], "no context: {fresh:?}");
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let mut deflater = Deflater::new(&Agreement {
            server_no_context_takeover: false,
            server_max_window_bits: 15,
        });
        let bomb = vec![0u8; 10 << 20];
        let mut wire = Vec::new();
        deflater.deflate(&bomb, &mut wire);
        assert!(wire.len() < bomb.len() / 100, "{}", wire.len());
        let mut got = Vec::new();
        let err = Inflater::default().inflate(&wire, &mut got, 100_000);
        assert_eq!(err, Err(InflateError::TooBig));
        assert!(
            got.len() <= 100_000 + 2 * CHUNK,
            "stopped early: {}",
            got.len()
        );
        let mut got = Vec::new();
        let err = Inflater::default().inflate(b"\xff\xff\xff\xff", &mut got, 100);
        assert_eq!(err, Err(InflateError::Corrupt));
    }
}
