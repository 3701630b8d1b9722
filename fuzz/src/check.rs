//! Independent readings of the chunked framing (RFC 9112 §7.1), written plainly and apart from
//! `http::body`, to hold the decoder to: what it says a chunked body spans must be what these
//! read, byte for byte.

/// Where `bytes` (starting at a chunk-size line) ends as a chunked body, read leniently: sizes
/// are the hex digits before any `;` or BWS, extensions and trailer lines are skipped whole.
/// The decoded payload and the length of the body, or `None` if it is not complete.
pub fn chunked_span(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut payload = Vec::new();
    let mut pos = 0;
    loop {
        let line = line_at(bytes, pos)?;
        pos += line.len() + 2;
        let digits: Vec<u8> = line
            .iter()
            .copied()
            .take_while(u8::is_ascii_hexdigit)
            .collect();
        let size = u64::from_str_radix(std::str::from_utf8(&digits).ok()?, 16).ok()?;
        if size == 0 {
            break;
        }
        let end = pos.checked_add(usize::try_from(size).ok()?)?;
        payload.extend_from_slice(bytes.get(pos..end)?);
        if bytes.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        pos = end + 2;
    }
    // The trailer section: field lines up to an empty one (§7.1.2).
    loop {
        let line = line_at(bytes, pos)?;
        pos += line.len() + 2;
        if line.is_empty() {
            return Some((payload, pos));
        }
    }
}

/// The line at `pos`, without its CRLF, once the CRLF is there.
fn line_at(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let rest = bytes.get(pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(&rest[..end])
}

/// The length of the chunked body at the start of `bytes` if it is plainly well-formed: every
/// size line 1 to 16 hex digits and nothing else, data followed by CRLF, the last chunk, no
/// trailers. Such a body must be accepted whole by any decoder with Gunicorn's default limits.
pub fn plain_chunked_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line = line_at(bytes, pos)?;
        if line.is_empty() || line.len() > 16 || !line.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        pos += line.len() + 2;
        let size = u64::from_str_radix(std::str::from_utf8(line).ok()?, 16).ok()?;
        if size == 0 {
            return (bytes.get(pos..pos + 2)? == b"\r\n").then_some(pos + 2);
        }
        let end = pos.checked_add(usize::try_from(size).ok()?)?;
        if bytes.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        pos = end + 2;
    }
}

/// `payload` as a chunked body of `piece`-byte chunks (at least 1), a last chunk and these
/// trailers.
pub fn chunk(payload: &[u8], piece: usize, trailers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in payload.chunks(piece.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}
