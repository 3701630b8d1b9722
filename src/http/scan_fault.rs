//! The error a refused head becomes (`scan.rs`): the class the deciding byte chose, and the
//! text Gunicorn 27 would quote for it.

use super::{Fault, HeadScan};
use crate::http::error::{ParseError, VersionText};
use crate::http::fields::Limits;
use crate::http::repr::latin1;
use crate::http::request::ParserConfig;

impl HeadScan {
    /// The error for `fault` at `self.seen`, worded as Gunicorn words it, quoting as much of
    /// the broken element as has arrived (the whole of it when its line is complete).
    pub(super) fn error(
        &self,
        fault: Fault,
        head: &[u8],
        cfg: &ParserConfig,
        limits: &Limits,
    ) -> ParseError {
        let line_end = |from: usize| {
            let from = from.min(head.len());
            crate::http::find_crlf(&head[from..]).map_or(head.len(), |i| from + i)
        };
        let text = |from: usize, to: usize| latin1(&head[from.min(to)..to]);
        let upper = |from: usize, to: usize| text(from, to).to_ascii_uppercase();
        match fault {
            Fault::LineTooLong => {
                let rest = &head[self.line..];
                let size = match memchr::memchr(b'\n', rest) {
                    Some(i) if i > 0 && rest[i - 1] == b'\r' => i - 1,
                    Some(i) => i,
                    None => rest.len(),
                };
                ParseError::LimitRequestLine {
                    size,
                    limit: limits.line,
                }
            }
            Fault::RequestLine => {
                ParseError::InvalidRequestLine(text(self.line, line_end(self.line)))
            }
            Fault::BareLfInLine => {
                ParseError::InvalidRequestLine("bare LF as line terminator".into())
            }
            Fault::Method => {
                let end = line_end(self.line);
                let method =
                    memchr::memchr(b' ', &head[self.line..end]).map_or(end, |i| self.line + i);
                ParseError::InvalidRequestMethod(text(self.line, method))
            }
            Fault::Version => {
                let version =
                    &head[self.version_start.min(head.len())..line_end(self.version_start)];
                // A well-formed version with another major is named as a pair, `(2, 0)`.
                crate::http::request_line::check_version(version, false)
                    .err()
                    .unwrap_or_else(|| {
                        ParseError::InvalidHTTPVersion(VersionText::Raw(latin1(version)))
                    })
            }
            Fault::FieldCount => ParseError::LimitRequestHeaders("limit request headers fields"),
            Fault::FieldSize => {
                ParseError::LimitRequestHeaders("limit request headers fields size")
            }
            Fault::HeadSize => ParseError::LimitRequestHeaders("max buffer headers"),
            Fault::FieldLine => ParseError::InvalidHeader(text(self.line, line_end(self.line))),
            Fault::BareLfInField => ParseError::InvalidHeader("bare LF as line terminator".into()),
            Fault::Name => {
                let end = line_end(self.name_start);
                let mut name = &head[self.name_start.min(end)..end];
                if let Some(colon) = memchr::memchr(b':', name) {
                    name = &name[..colon];
                }
                if cfg.strip_header_spaces {
                    while let [rest @ .., b' ' | b'\t'] = name {
                        name = rest;
                    }
                }
                ParseError::InvalidHeaderName(latin1(name))
            }
            Fault::Value => ParseError::InvalidHeader(upper(self.name_start, self.name_end)),
            Fault::Fold => ParseError::ObsoleteFolding(upper(self.name_start, self.name_end)),
        }
    }
}
