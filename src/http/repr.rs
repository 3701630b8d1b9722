//! Python's `repr()` of latin-1 text and bytes, and `html.escape`, so that error messages and
//! error pages read exactly as Gunicorn's (`str(exc)` uses `%r`). Nothing else belongs here.

/// Bytes as one char each (latin-1), as Gunicorn's `bytes_to_str` does.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    // ASCII, the usual case, is the same text in UTF-8: one copy.
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.is_ascii() => text.to_owned(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Python's quote choice: single quotes unless the text has `'` and no `"`.
fn quote_for(s: &str) -> char {
    if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    }
}

/// `repr(str)` for a string of chars U+0000..U+00FF.
pub(crate) fn repr_str(s: &str) -> String {
    // Not printable in Python: C0, DEL, C1, NBSP and SOFT HYPHEN.
    repr_quoted(s, "", |code| {
        !(code < 0x20 || (0x7f..=0xa0).contains(&code) || code == 0xad)
    })
}

/// `repr(bytes)` where each char of `s` stands for one byte: only ASCII prints as itself.
pub(crate) fn repr_bytes(s: &str) -> String {
    repr_quoted(s, "b", |code| (0x20..0x7f).contains(&code))
}

/// Python's repr rules shared by `str` and `bytes`: the quote, the named escapes, `\xNN` for
/// whatever `printable` refuses.
fn repr_quoted(s: &str, prefix: &str, printable: impl Fn(u32) -> bool) -> String {
    let quote = quote_for(s);
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str(prefix);
    out.push(quote);
    for c in s.chars() {
        let code = u32::from(c);
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            _ if printable(code) => out.push(c),
            _ => out.push_str(&format!("\\x{code:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `html.escape(s, quote=True)`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_match_python() {
        assert_eq!(repr_str("GET\u{c3}\u{9f}"), "'GET\u{c3}\\x9f'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_bytes("5\n"), "b'5\\n'");
        assert_eq!(repr_bytes(""), "b''");
        assert_eq!(html_escape("'a' & <b>"), "&#x27;a&#x27; &amp; &lt;b&gt;");
    }
}
