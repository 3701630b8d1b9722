//! Request body framing: Content-Length and chunked decoding (RFC 9112 §6, §7).
//!
//! The decoder never buffers: framing is consumed only once complete (a chunk-size line, a
//! data CRLF, the trailer section), so the caller keeps partial framing in its own buffer and
//! calls again with more bytes. Every framing element is bounded by the parser limits, and
//! the result is the same whatever the input chunking.

use super::chunk::parse_size_line;
use super::error::ParseError;
use super::fields::{outgrows_limits, parse_fields, Limits, Progress, Syntax};
use super::repr::latin1;
use super::request::{BodyKind, HeaderMap, ParserConfig};
use memchr::memmem;
use std::ops::Range;

/// The result of one [`BodyDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How many bytes of the input were used (framing and data).
    pub consumed: usize,
    /// Where payload bytes are within the input (may be empty).
    pub data: Range<usize>,
}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length: this many bytes still to come.
    Length(u64),
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer fields, then the final CRLF.
    Trailers,
    Done,
}

/// Decodes a request body incrementally, from whatever bytes arrive.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    limits: Limits,
    syntax: Syntax,
    header_map: HeaderMap,
    trailers: Vec<(String, Vec<u8>)>,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind, cfg: &ParserConfig) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Size,
        };
        BodyDecoder {
            state,
            limits: cfg.limits(),
            syntax: cfg.syntax(),
            header_map: cfg.header_map,
            trailers: Vec::new(),
        }
    }

    /// Decode from `input`. Each call yields at most one contiguous run of payload bytes;
    /// call again with the rest. With an empty input it returns a zero step.
    /// A zero step on non-empty input means the framing element is incomplete: read more.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ParseError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            let used = match self.state {
                State::Done => 0,
                State::Length(left) | State::Data(left) => {
                    return Ok(self.take_data(at, rest, left))
                }
                State::Size => self.size_line(rest)?,
                State::DataEnd => self.data_end(rest)?,
                State::Trailers => self.trailer_section(rest)?,
            };
            if used == 0 {
                return Ok(Step {
                    consumed: at,
                    data: at..at,
                });
            }
            at += used;
        }
    }

    /// Payload bytes from `rest` (which starts at `at`), up to `left`.
    fn take_data(&mut self, at: usize, rest: &[u8], left: u64) -> Step {
        let n = usize::try_from(left).map_or(rest.len(), |left| left.min(rest.len()));
        let left = left - n as u64;
        self.state = match self.state {
            State::Length(_) if left == 0 => State::Done,
            State::Length(_) => State::Length(left),
            _ if left == 0 => State::DataEnd,
            _ => State::Data(left),
        };
        Step {
            consumed: at + n,
            data: at..at + n,
        }
    }

    /// A complete chunk-size line, bounded by `limit_request_field_size` (Gunicorn 27).
    /// The line ends at the first LF; RFC 9112 §2.2's bare-LF leniency is for the start-line
    /// and fields only, so an LF without CR is refused the moment it arrives.
    fn size_line(&mut self, rest: &[u8]) -> Result<usize, ParseError> {
        let limit = self.limits.field_size;
        let too_long = || ParseError::InvalidChunkSize("chunk size line too long".into());
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            let cr = usize::from(rest.ends_with(b"\r"));
            return if rest.len() - cr > limit {
                Err(too_long())
            } else {
                Ok(0)
            };
        };
        let has_cr = lf > 0 && rest[lf - 1] == b'\r';
        let line = &rest[..lf - usize::from(has_cr)];
        if line.len() > limit {
            return Err(too_long());
        }
        if !has_cr {
            return Err(bare_lf_error(&rest[..=lf]));
        }
        self.state = match parse_size_line(line)? {
            0 => State::Trailers,
            size => State::Data(size),
        };
        Ok(lf + 1)
    }

    /// RFC 9112 §7.1: chunk-data is followed by CRLF; judged once both bytes are here.
    fn data_end(&mut self, rest: &[u8]) -> Result<usize, ParseError> {
        match rest.get(..2) {
            None => Ok(0),
            Some(b"\r\n") => {
                self.state = State::Size;
                Ok(2)
            }
            Some(other) => Err(ParseError::ChunkMissingTerminator(latin1(other))),
        }
    }

    /// RFC 9112 §7.1.2: trailer fields, parsed and bounded like header fields.
    fn trailer_section(&mut self, rest: &[u8]) -> Result<usize, ParseError> {
        if rest.starts_with(b"\r\n") {
            self.state = State::Done;
            return Ok(2);
        }
        let (limits, syntax, header_map) = (self.limits, self.syntax, self.header_map);
        if let Some(end) = memmem::find(rest, b"\r\n\r\n") {
            let trailers = &mut self.trailers;
            let mut accept =
                |name: String, value| accept_trailer(trailers, header_map, name, value);
            parse_fields(&rest[..end], true, &limits, syntax, &mut accept)?;
            self.state = State::Done;
            return Ok(end + 4);
        }
        if outgrows_limits(rest, &limits) {
            // Report the first error in wire order, as if the whole section had arrived.
            let mut seen = Vec::new();
            let mut accept =
                |name: String, value| accept_trailer(&mut seen, header_map, name, value);
            let progress = parse_fields(rest, false, &limits, syntax, &mut accept)?;
            if progress == Progress::Incomplete && rest.len() > limits.max_head {
                return Err(ParseError::LimitRequestHeaders("max buffer headers"));
            }
        }
        Ok(0)
    }

    /// All of the body (and any trailer section) has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The peer closed the connection: an error unless the body was complete
    /// (a short body must never look complete).
    pub fn eof(&self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::Length(_) | State::Size | State::Data(_) => {
                Err(ParseError::NoMoreData(String::new()))
            }
            State::DataEnd | State::Trailers => {
                Err(ParseError::ChunkMissingTerminator(String::new()))
            }
        }
    }

    /// Trailer fields of a chunked body (upper-cased names), once done.
    pub fn trailers(&self) -> &[(String, Vec<u8>)] {
        if self.is_done() {
            &self.trailers
        } else {
            &[]
        }
    }
}

/// A chunk-size line cut by a bare LF: a broken size, or a broken extension after `;`.
fn bare_lf_error(line: &[u8]) -> ParseError {
    match line.iter().position(|&b| b == b';') {
        Some(_) => ParseError::InvalidChunkExtension("bare LF not allowed"),
        None => ParseError::InvalidChunkSize(latin1(line)),
    }
}

/// RFC 9110 §6.5.1: fields that frame, route or authenticate the message must not arrive as
/// trailers (they would be processed after the decisions they affect).
fn accept_trailer(
    trailers: &mut Vec<(String, Vec<u8>)>,
    header_map: HeaderMap,
    name: String,
    value: Vec<u8>,
) -> Result<(), ParseError> {
    const FORBIDDEN: [&str; 6] = [
        "HOST",
        "CONTENT-LENGTH",
        "TRANSFER-ENCODING",
        "TRAILER",
        "AUTHORIZATION",
        "TE",
    ];
    if FORBIDDEN.contains(&name.as_str()) {
        return Err(ParseError::InvalidHeaderName(name));
    }
    if name.contains('_') {
        match header_map {
            HeaderMap::Dangerous => {}
            HeaderMap::Drop => return Ok(()),
            HeaderMap::Refuse => return Err(ParseError::InvalidHeaderName(name)),
        }
    }
    trailers.push((name, value));
    Ok(())
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
