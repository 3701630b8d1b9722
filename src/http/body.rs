//! Request body framing: Content-Length and chunked decoding (RFC 9112 §6, §7).

use super::error::ParseError;
use super::request::{BodyKind, ParserConfig};
use std::ops::Range;

/// The result of one [`BodyDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How many bytes of the input were used (framing and data).
    pub consumed: usize,
    /// Where payload bytes are within the input (may be empty).
    pub data: Range<usize>,
}

/// Decodes a request body incrementally, from whatever bytes arrive.
#[derive(Debug)]
pub struct BodyDecoder {
    _kind: BodyKind,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind, cfg: &ParserConfig) -> Self {
        let _ = cfg;
        BodyDecoder { _kind: kind }
    }

    /// Decode from `input`. Each call yields at most one contiguous run of payload bytes;
    /// call again with the rest. With an empty input it returns a zero step.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ParseError> {
        let _ = input;
        todo!("http::body::BodyDecoder::decode")
    }

    /// All of the body (and any trailer section) has been read.
    pub fn is_done(&self) -> bool {
        todo!("http::body::BodyDecoder::is_done")
    }

    /// The peer closed the connection: an error unless the body was complete
    /// (a short body must never look complete).
    pub fn eof(&self) -> Result<(), ParseError> {
        todo!("http::body::BodyDecoder::eof")
    }

    /// Trailer fields of a chunked body (upper-cased names), once done.
    pub fn trailers(&self) -> &[(String, Vec<u8>)] {
        &[]
    }
}
