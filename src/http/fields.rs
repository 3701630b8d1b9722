//! Field lines → (NAME, value) pairs, shared by the header section and the chunked trailer
//! section (RFC 9112 §5, §7.1.2). Knows limits and syntax; what a field *means* (framing,
//! scheme, `_` policy, forbidden trailers) is the caller's, through the `accept` callback.
//!
//! Per line the order is: field count, line size, then syntax. Checking sizes first makes the
//! outcome the same whether the section arrives whole or a byte at a time: an oversized line
//! is refused before its end is seen (Gunicorn checks the size last, after the syntax).

use super::error::ParseError;
use super::repr::latin1;

/// Limits shared by heads and trailers, normalised like Gunicorn's `Message.__init__`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Request-line bytes; never 0 here (0 = "unlimited" is capped at `max_head`).
    pub line: usize,
    pub fields: usize,
    pub field_size: usize,
    /// `fields * (field_size + 2) + 4`: the most a field section may buffer.
    pub max_head: usize,
}

impl Limits {
    pub(crate) fn new(line: usize, fields: usize, field_size: usize) -> Limits {
        const MAX_REQUEST_LINE: usize = 8190;
        const MAX_HEADERS: usize = 32768;
        const DEFAULT_FIELD_SIZE: usize = 8190;
        let fields = if fields == 0 || fields > MAX_HEADERS {
            MAX_HEADERS
        } else {
            fields
        };
        let field_size = if field_size == 0 {
            DEFAULT_FIELD_SIZE
        } else {
            field_size
        };
        let max_head = fields * (field_size + 2) + 4;
        let line = match line {
            0 => max_head,
            n => n.min(MAX_REQUEST_LINE),
        };
        Limits {
            line,
            fields,
            field_size,
            max_head,
        }
    }
}

/// Syntax switches for field lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    pub strip_header_spaces: bool,
    pub permit_obsolete_folding: bool,
    /// The bytes were already checked one by one (`scan.rs`, a request head): name and value
    /// bytes need no second look. Trailers are not scanned.
    pub scanned: bool,
}

/// Whether a field section was parsed to its end or stopped at an incomplete line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    Complete,
    Incomplete,
}

/// Byte classes, one lookup per byte: RFC 9110 §5.6.2 tchar, visible ASCII (the target, Gunicorn 27),
/// and what a field value may hold (RFC 9110 §5.5: VCHAR, SP, HTAB, obs-text).
pub(crate) const TCHAR: u8 = 1;
pub(crate) const VISIBLE: u8 = 2;
pub(crate) const VALUE: u8 = 4;

pub(crate) static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let tchar = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        let visible = byte >= 0x21 && byte <= 0x7e;
        let value = visible || byte == b' ' || byte == b'\t' || byte >= 0x80;
        table[b] = ((tchar as u8) * TCHAR) | ((visible as u8) * VISIBLE) | ((value as u8) * VALUE);
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.2 tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
    CLASS[usize::from(b)] & TCHAR != 0
}

/// RFC 9110 §5.5: CTLs other than HTAB are not allowed in a field value (obs-text is).
fn is_forbidden_in_value(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A line and whether its CRLF has been seen.
struct Line<'a> {
    bytes: &'a [u8],
    complete: bool,
}

impl Line<'_> {
    /// The least this line will cost, CRLF included (a trailing CR may be half a CRLF).
    fn min_size(&self) -> usize {
        let cr = usize::from(!self.complete && self.bytes.ends_with(b"\r"));
        self.bytes.len() - cr + 2
    }
}

/// Is an unfinished field section already past a limit: more bytes than a section may hold, or
/// any line (the last perhaps still without its CRLF) longer than a field may be? Every line is
/// looked at, not only the last: one read can bring a long line and the start of the next, and
/// the answer must not depend on how the bytes were cut (found by `fuzz/` chunked target).
pub(crate) fn outgrows_limits(data: &[u8], limits: &Limits) -> bool {
    let mut start = 0;
    for idx in super::crlf_positions(data) {
        if idx - start + 2 > limits.field_size {
            return true;
        }
        start = idx + 2;
    }
    let last = Line {
        bytes: &data[start..],
        complete: false,
    };
    data.len() > limits.max_head || last.min_size() > limits.field_size
}

/// The lines of a section, split on CRLF (RFC 9112 §2.2) as they are taken; with
/// `complete == false` the last piece is unterminated. No list of them is built: a head's
/// section is mostly one or two lines, and the list's allocations cost more than the split.
struct Lines<'a> {
    rest: &'a [u8],
    complete: bool,
    done: bool,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.done {
            return None;
        }
        let rest = self.rest;
        match super::find_crlf(rest) {
            Some(idx) => {
                self.rest = &rest[idx + 2..];
                Some(Line {
                    bytes: &rest[..idx],
                    complete: true,
                })
            }
            None => {
                self.done = true;
                Some(Line {
                    bytes: rest,
                    complete: self.complete,
                })
            }
        }
    }
}

fn split_lines(section: &[u8], complete: bool) -> std::iter::Peekable<Lines<'_>> {
    Lines {
        rest: section,
        complete,
        done: false,
    }
    .peekable()
}

/// Parse a field section. `section` is everything before the blank line when `complete`,
/// or all bytes so far when not (then parsing stops at the unterminated line, after checking
/// its size). Each field goes to `accept(NAME, value)` in wire order.
pub(crate) fn parse_fields(
    section: &[u8],
    complete: bool,
    limits: &Limits,
    syntax: Syntax,
    accept: &mut dyn FnMut(String, Vec<u8>) -> Result<(), ParseError>,
) -> Result<Progress, ParseError> {
    let mut lines = split_lines(section, complete);
    let mut count = 0;
    while let Some(first) = lines.next() {
        // Fields dropped by `header_map` still count (they were buffered all the same).
        if count >= limits.fields {
            return Err(ParseError::LimitRequestHeaders(
                "limit request headers fields",
            ));
        }
        let size = first.min_size();
        check_field_size(size, limits)?;
        if !first.complete {
            return Ok(Progress::Incomplete);
        }
        let (name, colon) = field_name(first.bytes, syntax)?;
        let mut value = trim_ows(&first.bytes[colon + 1..]).to_vec();
        if !fold_continuations(&mut lines, &name, &mut value, size, limits, syntax)? {
            return Ok(Progress::Incomplete);
        }
        // An empty unterminated line may still become a continuation line.
        if lines
            .peek()
            .is_some_and(|l| !l.complete && l.bytes.is_empty())
        {
            return Ok(Progress::Incomplete);
        }
        // Folded lines may end in whitespace the first trim could not see.
        let trimmed = trim_ows(&value).len();
        if trimmed != value.len() {
            value = trim_ows(&value).to_vec();
        }
        // RFC 9110 §5.5: CR, LF and NUL MUST be refused; other CTLs too (Gunicorn 27).
        if !syntax.scanned && value.iter().any(|&b| is_forbidden_in_value(b)) {
            return Err(ParseError::InvalidHeader(name));
        }
        count += 1;
        accept(name, value)?;
    }
    Ok(Progress::Complete)
}

/// RFC 9112 §5.2: obs-fold lines next in `lines` are refused, or (when permitted) joined to
/// `value` with one SP, counting toward the field's size. `false` if incomplete.
fn fold_continuations(
    lines: &mut std::iter::Peekable<Lines<'_>>,
    name: &str,
    value: &mut Vec<u8>,
    mut size: usize,
    limits: &Limits,
    syntax: Syntax,
) -> Result<bool, ParseError> {
    while let Some(next) =
        lines.next_if(|l| l.bytes.starts_with(b" ") || l.bytes.starts_with(b"\t"))
    {
        if !syntax.permit_obsolete_folding {
            return Err(ParseError::ObsoleteFolding(name.to_string()));
        }
        size += next.min_size();
        check_field_size(size, limits)?;
        if !next.complete {
            return Ok(false);
        }
        value.push(b' ');
        value.extend_from_slice(trim_ows(next.bytes));
    }
    Ok(true)
}

fn check_field_size(size: usize, limits: &Limits) -> Result<(), ParseError> {
    if size > limits.field_size {
        return Err(ParseError::LimitRequestHeaders(
            "limit request headers fields size",
        ));
    }
    Ok(())
}

/// The upper-cased field name of a line and where its colon is (RFC 9112 §5.1: no whitespace before the colon,
/// the name is a token).
fn field_name(line: &[u8], syntax: Syntax) -> Result<(String, usize), ParseError> {
    let colon = match line.iter().position(|&b| b == b':') {
        Some(pos) if pos > 0 => pos,
        _ => return Err(ParseError::InvalidHeader(latin1(line))),
    };
    let mut name = &line[..colon];
    if syntax.strip_header_spaces {
        while let [rest @ .., b' ' | b'\t'] = name {
            name = rest;
        }
    }
    if name.is_empty() || (!syntax.scanned && !name.iter().all(|&b| is_tchar(b))) {
        return Err(ParseError::InvalidHeaderName(latin1(name)));
    }
    // A token is ASCII (RFC 9110 §5.6.2), so it is its own UTF-8: one copy, upper-cased in
    // place (a char at a time through `collect` cost four times as much).
    match std::str::from_utf8(name) {
        Ok(name) => Ok((name.to_ascii_uppercase(), colon)),
        Err(_) => Err(ParseError::InvalidHeaderName(latin1(name))),
    }
}
