//! Refuse as early as the bytes allow: a byte-at-a-time check of a request head that stops at
//! the first byte after which no request can be valid — an impossible byte in the method or
//! target, a version that is not `HTTP/d.d`, a bare CR or LF, a field name that is not a
//! token, a control byte in a value, an obsolete line fold, a limit overrun — instead of
//! waiting for the line's end, the blank line or a timeout. A TLS ClientHello or binary
//! garbage on a plain port is refused at its first byte.
//!
//! The scan keeps its place ([`HeadScan`]), so a connection's reads each cost only their new
//! bytes; the full parse (`request.rs`) runs once, on the complete head. The answer depends
//! only on the shortest refused prefix, so it is the same however the bytes were split into
//! reads. The class of a fault is named by the element the deciding byte broke (RFC 9112 §3:
//! method, target, version; §5: name, value), which for an already broken line can differ
//! from the class Gunicorn 27 names after reading the whole line (README, "Stricter than
//! Gunicorn").

use super::error::ParseError;
use super::fields::{Limits, CLASS, TCHAR, VALUE, VISIBLE};
use super::request::ParserConfig;

// The error a fault becomes, worded as Gunicorn words it.
#[path = "scan_fault.rs"]
mod fault;
// Which bytes each request-target form (RFC 9112 §3.2) may go on with.
#[path = "scan_target.rs"]
mod target;
use target::Form;
// The byte-by-byte checks of each element: method, target, version, field name, value.
#[path = "scan_elements.rs"]
mod elements;
use elements::value_byte;

/// Where the scan is inside the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the request-line; `skipped` once the one leading CRLF (RFC 9112 §2.2) is used.
    Start {
        skipped: bool,
    },
    /// A CR at the very start: the leading empty line's, if an LF follows.
    LeadCr,
    Method,
    /// A CR in the method: the line ends too soon (LF) or the CR is bare.
    MethodCr,
    Target(Form),
    /// Bytes of `HTTP/d.d` matched so far.
    Version(u8),
    /// The CR that must end the request-line.
    LineCr,
    /// At the start of a field line, or of the blank line that ends the head.
    FieldStart,
    FieldName,
    /// Whitespace between name and colon (only with `strip_header_spaces`).
    NameSpace,
    NameCr,
    FieldValue,
    ValueCr,
    BlankCr,
    /// The head ends at `seen`.
    Done,
}

/// Why the head was refused: the element the deciding byte broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    LineTooLong,
    RequestLine,
    BareLfInLine,
    Method,
    Version,
    FieldCount,
    FieldSize,
    HeadSize,
    /// A field line with no name before a colon.
    FieldLine,
    BareLfInField,
    Name,
    Value,
    Fold,
}

/// The place of an incremental scan over one request head.
#[derive(Debug, Clone)]
pub struct HeadScan {
    at: At,
    /// Bytes of the head scanned so far.
    seen: usize,
    /// Start of the request-line, of the current field line, of its name's colon.
    line: usize,
    method_end: usize,
    version_start: usize,
    name_start: usize,
    name_end: usize,
    /// Bytes the current field has used on the lines before this one (obs-fold).
    field_before: usize,
    fields: usize,
    section_start: usize,
}

impl Default for HeadScan {
    fn default() -> Self {
        HeadScan {
            at: At::Start { skipped: false },
            seen: 0,
            line: 0,
            method_end: 0,
            version_start: 0,
            name_start: 0,
            name_end: 0,
            field_before: 0,
            fields: 0,
            section_start: 0,
        }
    }
}

/// Might one of the eight bytes in `x` be outside `class` (VALUE or VISIBLE)? Exact for
/// "no": a byte below 0x20 (0x21 for VISIBLE), DEL, or (VISIBLE) a byte ≥ 0x80 sets it.
fn may_stop(x: u64, class: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let floor = if class == VISIBLE { 0x21 } else { 0x20 };
    // Bytes below `floor` (the classic "has less than" test, for bytes below 0x80).
    let below = x.wrapping_sub(ONES * floor) & !x & HIGH;
    let del = x ^ (ONES * 0x7f);
    let is_del = del.wrapping_sub(ONES) & !del & HIGH;
    let high = if class == VISIBLE { x & HIGH } else { 0 };
    below | is_del | high != 0
}

const VERSION: &[u8; 8] = b"HTTP/d.d";

impl HeadScan {
    /// Scan the bytes of `head` not seen yet. `Ok(Some(len))`: the head is complete and
    /// `len` bytes long (blank line included); `Ok(None)`: nothing refused so far.
    pub(crate) fn advance(
        &mut self,
        head: &[u8],
        cfg: &ParserConfig,
        limits: &Limits,
    ) -> Result<Option<usize>, ParseError> {
        while self.at != At::Done {
            // Most bytes continue a run that changes nothing but the place: take them whole.
            self.seen += self.run(&head[self.seen..], limits);
            if self.line_end(&head[self.seen..], limits) {
                continue;
            }
            let Some(&b) = head.get(self.seen) else {
                return Ok(None);
            };
            if let Err(fault) = self.step(b, head, cfg, limits) {
                return Err(self.error(fault, head, cfg, limits));
            }
            self.seen += 1;
        }
        Ok(Some(self.seen))
    }

    /// How many bytes from the start of `rest` continue the current element without a limit
    /// being reached: target bytes, name bytes, value bytes. The byte after the run goes
    /// through [`Self::step`], which names what it broke, if anything.
    fn run(&self, rest: &[u8], limits: &Limits) -> usize {
        let (class, end) = match self.at {
            At::Method => return self.method_run(rest, limits),
            At::Target(Form::Path) => (VISIBLE, limits.line + self.line),
            At::FieldName => (TCHAR, self.field_end(limits)),
            At::FieldValue => (VALUE, self.field_end(limits)),
            _ => return 0,
        };
        // Bytes up to position `end` (exclusive) are within the limits.
        let room = end.saturating_sub(self.seen).min(rest.len());
        let rest = &rest[..room];
        // Eight bytes at a time while none of them can stop the run (values and targets are
        // most of a head's bytes).
        let mut done = 0;
        if class != TCHAR {
            for word in rest.chunks_exact(8) {
                let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                if may_stop(x, class) {
                    break;
                }
                done += 8;
            }
        }
        rest[done..]
            .iter()
            .position(|&b| CLASS[usize::from(b)] & class == 0)
            .map_or(room, |i| done + i)
    }

    /// Upper-case letters go on with a method whatever the configuration (RFC 9110 §9.1: a
    /// token; Gunicorn 27 refuses lower case, `#` and more than 20 bytes unless
    /// `permit_unconventional_http_method`), within those 20 bytes and the line limit.
    fn method_run(&self, rest: &[u8], limits: &Limits) -> usize {
        const CONVENTIONAL_LEN: usize = 20;
        let end = self.line + CONVENTIONAL_LEN.min(limits.line);
        let room = end.saturating_sub(self.seen).min(rest.len());
        rest[..room]
            .iter()
            .position(|b| !b.is_ascii_uppercase())
            .unwrap_or(room)
    }

    /// The usual line ends in one go: `HTTP/1.1` or `HTTP/1.0` and CRLF after the target, CRLF
    /// after a value, the blank line, when no limit is reached on the way (else byte by byte,
    /// which names it).
    fn line_end(&mut self, rest: &[u8], limits: &Limits) -> bool {
        match self.at {
            At::Version(0) => {
                let usual = rest.starts_with(b"HTTP/1.1\r\n") || rest.starts_with(b"HTTP/1.0\r\n");
                // The line's last counted byte is the minor version digit.
                if !usual || self.seen + 8 - self.line > limits.line {
                    return false;
                }
                self.seen += 10;
                self.at = self.section(self.seen);
                true
            }
            At::FieldValue => {
                let fits = self.seen + 2 - self.section_start <= limits.max_head;
                if !rest.starts_with(b"\r\n") || !fits {
                    return false;
                }
                self.seen += 2;
                self.field_before += self.seen - self.line;
                self.line = self.seen;
                self.at = At::FieldStart;
                true
            }
            // The blank line that ends the head (RFC 9112 §2.1); neither byte is counted
            // against a field, only against the section.
            At::FieldStart => {
                let fits = self.seen + 2 - self.section_start <= limits.max_head;
                if !rest.starts_with(b"\r\n") || !fits {
                    return false;
                }
                self.seen += 2;
                self.at = At::Done;
                true
            }
            _ => false,
        }
    }

    /// The first position a byte of the current field line may not take (its size with the
    /// CRLF, RFC 9112 §5.2 folded lines included; and the whole section's).
    fn field_end(&self, limits: &Limits) -> usize {
        let line = (self.line + limits.field_size).saturating_sub(self.field_before + 2);
        line.min(self.section_start + limits.max_head)
    }

    /// One byte at `self.seen`.
    fn step(
        &mut self,
        b: u8,
        head: &[u8],
        cfg: &ParserConfig,
        limits: &Limits,
    ) -> Result<(), Fault> {
        let pos = self.seen;
        self.check_limits(b, pos, limits)?;
        self.at = match self.at {
            At::Start { skipped } => self.line_start(b, pos, skipped, cfg)?,
            At::LeadCr if b == b'\n' => At::Start { skipped: true },
            At::LeadCr => return Err(Fault::RequestLine),
            At::Method => self.method_byte(b, pos, cfg)?,
            At::MethodCr if b == b'\n' => return Err(Fault::RequestLine),
            At::MethodCr => return Err(Fault::Method),
            At::Target(form) => self.target_byte(form, b, pos, head, cfg)?,
            At::Version(n) => self.version_byte(n, b, cfg)?,
            At::LineCr if b == b'\n' => self.section(pos + 1),
            At::LineCr => return Err(Fault::Version),
            At::FieldStart => self.field_start(b, pos, cfg)?,
            At::FieldName => self.name_byte(b, pos, cfg)?,
            At::NameSpace => match b {
                b' ' | b'\t' => At::NameSpace,
                b':' => At::FieldValue,
                b'\r' => At::NameCr,
                _ => return Err(Fault::Name),
            },
            At::NameCr if b == b'\n' => return Err(Fault::FieldLine),
            At::NameCr => return Err(Fault::Name),
            At::FieldValue => value_byte(b)?,
            At::ValueCr if b == b'\n' => {
                self.field_before += pos + 1 - self.line;
                self.line = pos + 1;
                At::FieldStart
            }
            At::ValueCr => return Err(Fault::Value),
            At::BlankCr if b == b'\n' => At::Done,
            At::BlankCr => return Err(Fault::FieldLine),
            At::Done => At::Done,
        };
        Ok(())
    }

    /// Limits first, so that an over-long line is refused at the byte that overruns it
    /// (Gunicorn checks sizes before syntax too). A CR may be half of the closing CRLF, so
    /// it is not counted until the next byte shows it is not.
    fn check_limits(&self, b: u8, pos: usize, limits: &Limits) -> Result<(), Fault> {
        let counted = b != b'\r' && b != b'\n';
        match self.at {
            At::Start { .. } | At::LeadCr | At::Done => Ok(()),
            At::Method | At::MethodCr | At::Target(_) | At::Version(_) | At::LineCr => {
                match counted && pos + 1 - self.line > limits.line {
                    true => Err(Fault::LineTooLong),
                    false => Ok(()),
                }
            }
            at => {
                if pos + 1 - self.section_start > limits.max_head {
                    return Err(Fault::HeadSize);
                }
                let new_field = at == At::FieldStart && !matches!(b, b' ' | b'\t' | b'\r');
                if new_field && self.fields >= limits.fields {
                    return Err(Fault::FieldCount);
                }
                // RFC 9112 §5.2: a folded line counts toward its field's size.
                let before = if new_field { 0 } else { self.field_before };
                match counted && before + pos + 1 - self.line + 2 > limits.field_size {
                    true => Err(Fault::FieldSize),
                    false => Ok(()),
                }
            }
        }
    }

    /// The field lines seen so far (all of them once the head is complete).
    pub(crate) fn fields(&self) -> usize {
        self.fields
    }

    fn section(&mut self, start: usize) -> At {
        self.section_start = start;
        self.line = start;
        At::FieldStart
    }
}
