//! Pure HTTP/1.x: bytes in, typed request heads and body framing out; response heads out.
//!
//! No sockets, no Python, no clocks. Every malformed input is a [`ParseError`], and
//! [`ParseError::status`] is the one place an error becomes a status code. The rules are RFC 9112
//! with Gunicorn 27's limits and strictness (`reference/gunicorn.md` §6). Tokenising is done
//! here rather than by httparse: Gunicorn's error classes and their order depend on exactly
//! how lines are split, and httparse's leniencies (`reference/reliability.md` §5) would need
//! re-checking anyway.

pub mod body;
mod chunk;
pub mod error;
mod fields;
mod framing;
mod proxy;
mod repr;
pub mod request;
mod request_line;
pub mod response;

pub use body::{BodyDecoder, Step};
pub use error::{ParseError, VersionText};
pub use request::{
    head_eof, parse_head, BodyKind, ParserConfig, PeerTrust, ProxyInfo, RequestHead,
};
