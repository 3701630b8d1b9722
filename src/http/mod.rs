//! Pure HTTP/1.x: bytes in, typed request heads and body framing out; response heads out.
//!
//! No sockets, no Python, no clocks. Every malformed input is a [`ParseError`], and
//! [`ParseError::status`] is the one place an error becomes a status code. The rules are RFC 9112
//! with Gunicorn 27's limits and strictness (`reference/gunicorn.md` §6).
//!
//! Tokenising is done here (memchr over lines) rather than by httparse, deliberately: every
//! leniency httparse has (bare LF line ends, bytes 0x80-0xFF and `" < > \ ^ { | }` in the target,
//! SP after a chunk size, any byte in a chunk extension, `HTTP/1.2` refused as a plain error —
//! `reference/reliability.md` §5) would have to be re-checked line by line anyway, and
//! Gunicorn's error classes, messages and their order — which the conformance corpus checks at
//! every split point — depend on exactly how the lines are split. One pass that owns the
//! splitting is simpler than httparse plus a second pass that re-derives it.

pub mod body;
mod chunk;
pub mod error;
mod fields;
mod framing;
mod host;
pub mod permessage_deflate;
mod proxy;
mod repr;
pub mod request;
mod request_line;
pub mod response;
#[cfg(test)]
mod rfc_tests;
mod scan;
mod uwsgi;
pub mod websocket;

pub use body::{BodyDecoder, Step};
pub use error::{ParseError, VersionText};
pub use request::{
    head_eof, parse_head, resume_head, BodyKind, ParserConfig, PeerTrust, Protocol, ProxyInfo,
    Remote, RequestHead,
};
pub use scan::HeadScan;
pub use uwsgi::parse_packet;

/// Where the first CRLF that ends a line of a head is (RFC 9112 §2.2). A memchr for the CR,
/// then a look at the next byte: on a head's short lines a `memmem` searcher cost more to set
/// up than the search (it was a third of the field parse of a two-line head).
pub(crate) fn find_crlf(hay: &[u8]) -> Option<usize> {
    crlf_positions(hay).next()
}

/// Every CRLF of `hay`, in order (they cannot overlap).
pub(crate) fn crlf_positions(hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\r', hay).filter(move |&i| hay.get(i + 1) == Some(&b'\n'))
}

/// Percent-decode a request path (RFC 3986 §2.1) into bytes; a `%` not followed by two hex
/// digits stays as it is (Python's `unquote_to_bytes`). WSGI then reads the bytes as latin-1.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding_is_unquote_to_bytes() {
        assert_eq!(
            super::percent_decode(b"/a%20b%C3%A9%zz%4"),
            b"/a b\xc3\xa9%zz%4".to_vec()
        );
    }
}
