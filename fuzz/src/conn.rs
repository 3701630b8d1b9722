//! A keep-alive connection over a list of reads, driven as `worker::conn` drives the parser:
//! append each read to one buffer, parse a head, decode its body, go on with the next request
//! until one must close, an error, or the end of the reads. Where every request and body began
//! and ended in the byte stream is recorded, so the framing can be checked against the bytes.

use gunicorn_rs::http::{
    head_eof, parse_head, resume_head, BodyDecoder, HeadScan, ParseError, ParserConfig, PeerTrust,
};
use gunicorn_rs::http::{BodyKind, RequestHead};
use std::ops::Range;

/// One request as the connection saw it, with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub head: RequestHead,
    pub body: Vec<u8>,
    pub trailers: Fields,
    /// Stream offsets of the head (PROXY header and blank line included) and of the body.
    pub head_span: Range<usize>,
    pub body_span: Range<usize>,
}

/// Everything a connection fed these reads produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub requests: Vec<Seen>,
    pub error: Option<Refusal>,
}

/// A refused head, as far as every cutting of the reads must agree: its class and status.
/// The head is refused at the byte that decides (src/http/scan.rs), and the message names what
/// had arrived by then (`InvalidRequestLine("GET HTTP/")` after 9 bytes of `GET HTTP/1.1`, the
/// whole line when it came in one read), so the message depends on the reads as the size of an
/// over-long line does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub status: Option<u16>,
}

impl From<ParseError> for Refusal {
    fn from(e: ParseError) -> Refusal {
        Refusal {
            kind: e.kind(),
            status: e.status(),
        }
    }
}

/// The read-side state: the buffer, how much of the stream was drained from its front, and
/// the reads still to come.
struct Wire<'a, I: Iterator<Item = &'a [u8]>> {
    buf: Vec<u8>,
    drained: usize,
    reads: I,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Wire<'a, I> {
    /// One more read into the buffer; `false` at the end of the stream.
    fn read(&mut self) -> bool {
        self.reads
            .next()
            .map(|piece| self.buf.extend_from_slice(piece))
            .is_some()
    }

    fn drain(&mut self, n: usize) {
        self.buf.drain(..n);
        self.drained += n;
    }
}

pub fn serve(reads: &[&[u8]], cfg: &ParserConfig, trust: PeerTrust) -> Outcome {
    let mut wire = Wire {
        buf: Vec::new(),
        drained: 0,
        reads: reads.iter().copied(),
    };
    let mut out = Outcome {
        requests: Vec::new(),
        error: None,
    };
    loop {
        let head_start = wire.drained;
        let head = loop {
            match parse_head(&wire.buf, cfg, trust, out.requests.is_empty()) {
                Ok(Some((head, used))) => {
                    assert!(used > 0 && used <= wire.buf.len(), "head used {used}");
                    wire.drain(used);
                    break head;
                }
                Ok(None) if wire.read() => {}
                Ok(None) => {
                    out.error = head_eof(&wire.buf).map(Refusal::from);
                    return out;
                }
                Err(e) => {
                    out.error = Some(Refusal::from(e));
                    return out;
                }
            }
        };
        let head_span = head_start..wire.drained;
        let mut decoder = BodyDecoder::new(head.body, cfg);
        let body = match read_body(&mut decoder, &mut wire) {
            Ok(body) => body,
            Err(e) => {
                out.error = Some(Refusal::from(read_independent(e)));
                return out;
            }
        };
        let must_close = head.must_close;
        out.requests.push(Seen {
            head,
            body,
            trailers: decoder.trailers().to_vec(),
            body_span: head_span.end..wire.drained,
            head_span,
        });
        if must_close {
            return out;
        }
    }
}

/// Decode one body, reading more as needed. Every step must stay within what it was given:
/// its payload inside what it consumed, what it consumed inside the buffer.
fn read_body<'a, I: Iterator<Item = &'a [u8]>>(
    decoder: &mut BodyDecoder,
    wire: &mut Wire<'a, I>,
) -> Result<Vec<u8>, ParseError> {
    let mut body = Vec::new();
    while !decoder.is_done() {
        let step = decoder.decode(&wire.buf)?;
        assert!(
            step.data.start <= step.data.end
                && step.data.end <= step.consumed
                && step.consumed <= wire.buf.len(),
            "step {step:?} over a buffer of {}",
            wire.buf.len()
        );
        body.extend_from_slice(&wire.buf[step.data.clone()]);
        wire.drain(step.consumed);
        if step.consumed == 0 && !decoder.is_done() && !wire.read() {
            decoder.eof()?;
            unreachable!("eof() of an unfinished body is an error");
        }
    }
    Ok(body)
}

/// The head written back as wire bytes: request line, one line per field, blank line. Names are
/// already upper-cased and values trimmed, so this is the head's canonical form.
pub fn serialise(head: &RequestHead) -> Vec<u8> {
    let (major, minor) = head.version;
    let mut out = format!("{} {} HTTP/{major}.{minor}\r\n", head.method, head.uri).into_bytes();
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The same settings without the limits (a folded value joined into one line may be longer
/// than the line it came from) and without PROXY, to re-read a serialised head.
pub fn reread_settings(cfg: &ParserConfig) -> ParserConfig {
    ParserConfig {
        limit_request_line: 0,
        limit_request_fields: 0,
        limit_request_field_size: 0,
        proxy_protocol: gunicorn_rs::config::ProxyProtocol::Off,
        ..cfg.clone()
    }
}

/// A head re-serialised parses to the same head, using all of its bytes.
pub fn check_round_trip(head: &RequestHead, cfg: &ParserConfig, trust: PeerTrust) {
    let bytes = serialise(head);
    let cfg = reread_settings(cfg);
    match parse_head(&bytes, &cfg, trust, false) {
        Ok(Some((again, used))) => {
            let want = RequestHead {
                proxy: None,
                ..head.clone()
            };
            assert_eq!(again, want, "re-serialised head {:?}", latin1(&bytes));
            assert_eq!(used, bytes.len(), "re-serialised head not used whole");
        }
        other => panic!(
            "re-serialised head {:?} of {head:?} gave {other:?}",
            latin1(&bytes)
        ),
    }
}

/// Body bytes framed by Content-Length are exactly the bytes after the head.
pub fn check_length_body(seen: &Seen, stream: &[u8]) {
    if let BodyKind::Length(n) = seen.head.body {
        let span = &seen.body_span;
        assert_eq!(span.len() as u64, n, "Content-Length {n} but {span:?} read");
        assert_eq!(
            seen.body,
            stream[span.clone()],
            "body is not the bytes after the head"
        );
    }
}

pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Trailer fields: upper-case names and raw values, in wire order.
pub type Fields = Vec<(String, Vec<u8>)>;

/// A body decoded on its own from these reads: payload and trailers or the error, and how many
/// bytes of the stream the decoder consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyOutcome {
    pub result: Result<(Vec<u8>, Fields), ParseError>,
    pub consumed: usize,
}

pub fn decode_body(kind: BodyKind, reads: &[&[u8]], cfg: &ParserConfig) -> BodyOutcome {
    let mut wire = Wire {
        buf: Vec::new(),
        drained: 0,
        reads: reads.iter().copied(),
    };
    let mut decoder = BodyDecoder::new(kind, cfg);
    match read_body(&mut decoder, &mut wire) {
        Ok(body) => BodyOutcome {
            result: Ok((body, decoder.trailers().to_vec())),
            consumed: wire.drained,
        },
        // The connection closes on an error: how much framing before it was consumed depends on
        // the reads and matters to no one.
        Err(e) => BodyOutcome {
            result: Err(read_independent(e)),
            consumed: 0,
        },
    }
}

/// `parse_head` after each read, as the connection calls it, answers "more" until the answer
/// the whole stream gives, then that answer; a complete head is never held back once its last
/// byte is in.
pub fn check_head_at_every_read(stream: &[u8], cfg: &ParserConfig, trust: PeerTrust, seed: u8) {
    let parse = |bytes| parse_head(bytes, cfg, trust, true).map_err(Refusal::from);
    let whole = parse(stream);
    for (how, reads) in crate::input::cuttings(stream, seed) {
        let mut len = 0;
        // The connection's own path: one scan kept across the reads (`resume_head`), which
        // must answer as parsing the whole buffer afresh does, until its first answer.
        let mut scan = Some(HeadScan::default());
        for read in reads {
            len += read.len();
            let got = parse(&stream[..len]);
            if let Some(kept) = scan.as_mut() {
                let resumed =
                    resume_head(kept, &stream[..len], cfg, trust, true).map_err(Refusal::from);
                assert_eq!(resumed, got, "{how}: resume_head after {len} bytes");
                if !matches!(resumed, Ok(None)) {
                    scan = None;
                }
            }
            let early = matches!(got, Ok(None))
                && match &whole {
                    Ok(Some((_, used))) => len < *used,
                    _ => true,
                };
            if !early {
                assert_eq!(got, whole, "{how}: after {len} of {} bytes", stream.len());
            }
        }
    }
}

/// The error with what depends on the reads taken out: the size a request line over the limit
/// had when it was refused is how much of it had arrived (Gunicorn's message says the same), so
/// only the limit is compared. The class, the status and every other detail must agree.
pub fn read_independent(e: ParseError) -> ParseError {
    match e {
        ParseError::LimitRequestLine { limit, .. } => {
            ParseError::LimitRequestLine { size: 0, limit }
        }
        other => other,
    }
}
