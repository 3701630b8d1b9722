//! The byte-by-byte checks of a request head's elements (RFC 9112 §3 request-line, §5 field
//! lines): which byte each may go on with, and the fault a byte that may not names. The scan
//! (`scan.rs`) calls them for the bytes its runs do not take whole.

use super::target::{first_target_form, next_form, target_names_a_valid_host, Form};
use super::{At, Fault, HeadScan, VERSION};
use crate::http::fields::is_tchar;
use crate::http::request::ParserConfig;

impl HeadScan {
    pub(super) fn line_start(
        &mut self,
        b: u8,
        pos: usize,
        skipped: bool,
        cfg: &ParserConfig,
    ) -> Result<At, Fault> {
        self.line = pos;
        match b {
            b'\r' if !skipped => Ok(At::LeadCr),
            // RFC 9112 §2.2: bare LF is not a line end here (Gunicorn 27).
            b'\n' => Err(Fault::BareLfInLine),
            // A second empty line, or a bare CR.
            b'\r' => Err(Fault::RequestLine),
            _ => self.method_byte(b, pos, cfg),
        }
    }

    pub(super) fn method_byte(
        &mut self,
        b: u8,
        pos: usize,
        cfg: &ParserConfig,
    ) -> Result<At, Fault> {
        let len = pos - self.line;
        match b {
            b' ' => {
                let short = len < 3 && !cfg.permit_unconventional_http_method;
                if len == 0 || short {
                    return Err(Fault::Method);
                }
                self.method_end = pos;
                Ok(At::Target(Form::Unknown))
            }
            b'\r' => Ok(At::MethodCr),
            b'\n' => Err(Fault::BareLfInLine),
            // RFC 9110 §9.1: a token; Gunicorn 27 also refuses lowercase, `#` and more than
            // 20 bytes unless `permit_unconventional_http_method`.
            _ if !is_tchar(b) => Err(Fault::Method),
            _ if cfg.permit_unconventional_http_method => Ok(At::Method),
            _ if b.is_ascii_lowercase() || b == b'#' || len >= 20 => Err(Fault::Method),
            _ => Ok(At::Method),
        }
    }

    pub(super) fn target_byte(
        &mut self,
        form: Form,
        b: u8,
        pos: usize,
        head: &[u8],
        cfg: &ParserConfig,
    ) -> Result<At, Fault> {
        match b {
            // An empty target, or a scheme without its `://`.
            b' ' if matches!(form, Form::Path | Form::Asterisk | Form::Authority) => {
                // The target is whole: an authority no Host could make valid (absolute-form
                // or CONNECT's, `host.rs`) is refused now, not when the head ends.
                let target = &head[self.method_end + 1..pos];
                let method = &head[self.line..self.method_end];
                if !target_names_a_valid_host(target, method) {
                    return Err(Fault::RequestLine);
                }
                self.version_start = pos + 1;
                Ok(At::Version(0))
            }
            b'\n' => Err(Fault::BareLfInLine),
            // A line ending before its version cannot be HTTP/1 (nor can a bare CR).
            _ if form == Form::Unknown => {
                let method = &head[self.line..self.method_end];
                first_target_form(b, method, cfg)
                    .map(At::Target)
                    .ok_or(Fault::RequestLine)
            }
            _ => next_form(form, b).map(At::Target).ok_or(Fault::RequestLine),
        }
    }

    pub(super) fn version_byte(&mut self, n: u8, b: u8, cfg: &ParserConfig) -> Result<At, Fault> {
        let n = usize::from(n);
        let fits = match VERSION.get(n) {
            Some(b'd') => b.is_ascii_digit(),
            Some(&want) => b == want,
            None => false,
        };
        // RFC 9112 §2.3: only major version 1 is HTTP/1 (Gunicorn 27: 1.0 ≤ v < 2.0).
        let major_ok = n != 5 || b == b'1' || cfg.permit_unconventional_http_version;
        match b {
            b'\r' if n == VERSION.len() => Ok(At::LineCr),
            b'\n' => Err(Fault::BareLfInLine),
            _ if fits && major_ok => Ok(At::Version(n as u8 + 1)),
            _ => Err(Fault::Version),
        }
    }

    pub(super) fn field_start(
        &mut self,
        b: u8,
        pos: usize,
        cfg: &ParserConfig,
    ) -> Result<At, Fault> {
        match b {
            b'\r' => Ok(At::BlankCr),
            b'\n' => Err(Fault::BareLfInField),
            // RFC 9112 §5.2: obs-fold continues the previous field; RFC 9112 §2.2: whitespace
            // before the first field is refused.
            b' ' | b'\t' if self.fields == 0 => {
                self.name_start = pos;
                Err(Fault::Name)
            }
            b' ' | b'\t' if !cfg.permit_obsolete_folding => Err(Fault::Fold),
            b' ' | b'\t' => Ok(At::FieldValue),
            _ => {
                self.fields += 1;
                self.field_before = 0;
                self.name_start = pos;
                self.name_byte(b, pos, cfg)
            }
        }
    }

    pub(super) fn name_byte(&mut self, b: u8, pos: usize, cfg: &ParserConfig) -> Result<At, Fault> {
        match b {
            b':' if pos == self.name_start => Err(Fault::FieldLine),
            b':' => {
                self.name_end = pos;
                Ok(At::FieldValue)
            }
            // RFC 9112 §5.1: no whitespace between name and colon.
            b' ' | b'\t' if cfg.strip_header_spaces && pos > self.name_start => {
                self.name_end = pos;
                Ok(At::NameSpace)
            }
            b'\r' => Ok(At::NameCr),
            b'\n' => Err(Fault::BareLfInField),
            _ if is_tchar(b) => Ok(At::FieldName),
            _ => Err(Fault::Name),
        }
    }
}

/// RFC 9110 §5.5: CR, LF and NUL MUST be refused in a value; other CTLs too (Gunicorn 27).
pub(super) fn value_byte(b: u8) -> Result<At, Fault> {
    match b {
        b'\r' => Ok(At::ValueCr),
        // A bare LF in a value is a CTL in it: Gunicorn 27 names the field.
        b'\t' => Ok(At::FieldValue),
        _ if b < 0x20 || b == 0x7f => Err(Fault::Value),
        _ => Ok(At::FieldValue),
    }
}
