//! The chunk-size line of the chunked transfer coding (RFC 9112 §7.1, §7.1.1):
//! `chunk-size [ chunk-ext ] CRLF`, strictly — hex digits only, BWS only before `;`,
//! extensions by their grammar, overflow refused.

use super::error::ParseError;
use super::fields::is_tchar;
use super::repr::latin1;

/// Parse one chunk-size line (without its CRLF) into the chunk size.
pub(crate) fn parse_size_line(line: &[u8]) -> Result<u64, ParseError> {
    let (mut size, ext) = match line.iter().position(|&b| b == b';') {
        Some(semi) => (&line[..semi], Some(&line[semi + 1..])),
        None => (line, None),
    };
    if ext.is_some() {
        // §7.1.1: BWS is allowed before the `;` of an extension, and only there.
        while let [rest @ .., b' ' | b'\t'] = size {
            size = rest;
        }
    }
    let invalid = || ParseError::InvalidChunkSize(latin1(size));
    if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(invalid());
    }
    // §7.1: "recipients MUST anticipate potentially large hexadecimal numerals and prevent
    // parsing errors due to integer conversion overflows". Leading zeros are fine.
    let significant = size
        .iter()
        .position(|&b| b != b'0')
        .map_or(&size[size.len()..], |i| &size[i..]);
    if significant.len() > 16 {
        return Err(invalid());
    }
    let digits = std::str::from_utf8(significant).map_err(|_| invalid())?;
    let value = if digits.is_empty() {
        0
    } else {
        u64::from_str_radix(digits, 16).map_err(|_| invalid())?
    };
    if let Some(ext) = ext {
        check_extensions(ext)?;
    }
    Ok(value)
}

/// `ext` is what follows the first `;`: `BWS name [BWS "=" BWS value] *(BWS ";" BWS name …)`.
fn check_extensions(ext: &[u8]) -> Result<(), ParseError> {
    if ext.contains(&b'\r') {
        return Err(ParseError::InvalidChunkExtension("bare CR not allowed"));
    }
    if ext.contains(&b'\n') {
        return Err(ParseError::InvalidChunkExtension("bare LF not allowed"));
    }
    if ext.contains(&0) {
        return Err(ParseError::InvalidChunkExtension("NUL not allowed"));
    }
    let mut rest = ext;
    loop {
        rest = skip_bws(rest);
        rest =
            take_token(rest).ok_or(ParseError::InvalidChunkExtension("invalid extension name"))?;
        rest = skip_bws(rest);
        if let [b'=', after @ ..] = rest {
            let after = skip_bws(after);
            rest = match after {
                [b'"', quoted @ ..] => skip_quoted(quoted),
                _ => take_token(after),
            }
            .ok_or(ParseError::InvalidChunkExtension("invalid extension value"))?;
            rest = skip_bws(rest);
        }
        match rest {
            [] => return Ok(()),
            [b';', after @ ..] => rest = after,
            _ => {
                return Err(ParseError::InvalidChunkExtension(
                    "invalid extension syntax",
                ))
            }
        }
    }
}

fn skip_bws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// One or more tchars; the rest, or `None` if there is no token.
fn take_token(s: &[u8]) -> Option<&[u8]> {
    let len = s.iter().take_while(|&&b| is_tchar(b)).count();
    (len > 0).then(|| &s[len..])
}

/// RFC 9110 §5.6.4 quoted-string after its opening quote; the rest after the closing one.
fn skip_quoted(mut s: &[u8]) -> Option<&[u8]> {
    loop {
        match s {
            [b'"', rest @ ..] => return Some(rest),
            [b'\\', c, rest @ ..] if *c == b'\t' || *c >= 0x20 && *c != 0x7f => s = rest,
            [c, rest @ ..] if *c == b'\t' || (*c >= 0x20 && *c != 0x7f && *c != b'\\') => s = rest,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_line(b"1F"), Ok(31));
        assert_eq!(parse_size_line(b"0000000000000000005"), Ok(5));
        assert_eq!(parse_size_line(b"5 ;a=b"), Ok(5));
        assert_eq!(parse_size_line(b"5;a=\"x y\"; b"), Ok(5));
        assert_eq!(parse_size_line(b"ffffffffffffffff"), Ok(u64::MAX));
        for bad in [
            &b"10000000000000000"[..],
            b"0x5",
            b"+5",
            b"-5",
            b"5 ",
            b" 5",
            b"0_2e",
            b"",
        ] {
            assert_eq!(
                parse_size_line(bad).map_err(|e| e.kind()),
                Err("InvalidChunkSize"),
                "{bad:?}"
            );
        }
        for bad in [&b"5;a\x00"[..], b"5;a=\"x", b"5;", b"5;a b", b"5;a=\x80"] {
            assert_eq!(
                parse_size_line(bad).map_err(|e| e.kind()),
                Err("InvalidChunkExtension"),
                "{bad:?}"
            );
        }
    }
}
