//! Pure HTTP/1.x: bytes in, typed request heads and body framing out; response heads out.
//!
//! No sockets, no Python, no clocks. Every malformed input is a [`ParseError`], and
//! [`ParseError::status`] is the one place an error becomes a status code. The rules are RFC 9112
//! with Gunicorn 27's limits and strictness (`reference/gunicorn.md` §6); httparse does the
//! tokenising and this module does every check httparse leaves to the server
//! (`reference/reliability.md` §5).

pub mod body;
pub mod error;
pub mod request;
pub mod response;

pub use body::{BodyDecoder, Step};
pub use error::ParseError;
pub use request::{parse_head, BodyKind, ParserConfig, PeerTrust, ProxyInfo, RequestHead};
