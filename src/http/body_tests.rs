//! Unit tests of `body` (kept apart so the module itself stays short).

//! Chunked framing attacks of reliability.md §3 beyond the Gunicorn corpus.
use super::*;

/// Decode `input` split into `piece`-byte reads; the body and trailers, or the error.
fn decode_in(kind: BodyKind, input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), ParseError> {
    let mut decoder = BodyDecoder::new(kind, &ParserConfig::default());
    let (mut buf, mut body, mut fed) = (Vec::new(), Vec::new(), 0);
    while !decoder.is_done() {
        let step = decoder.decode(&buf)?;
        body.extend_from_slice(&buf[step.data.clone()]);
        buf.drain(..step.consumed);
        if step.consumed == 0 && !decoder.is_done() {
            if fed == input.len() {
                decoder.eof()?;
            }
            let end = (fed + piece).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
        }
    }
    Ok((body, decoder.trailers().len()))
}

/// Same result for every read size.
fn chunked(input: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
    let whole = decode_in(BodyKind::Chunked, input, input.len().max(1));
    for piece in [1, 2, 3, 7] {
        assert_eq!(
            decode_in(BodyKind::Chunked, input, piece),
            whole,
            "piece {piece}"
        );
    }
    whole
}

fn chunked_kind(input: &[u8]) -> &'static str {
    chunked(input).map_or_else(|e| e.kind(), |_| "ok")
}

#[test]
fn valid_chunked_bodies() {
    let (body, trailers) = chunked(b"a;x=\"q\\\"\"\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\r\n00\r\nX: GET / HTTP/1.1\r\n\r\n").expect("ok");
    assert_eq!((body.len(), trailers), (10, 1));
    assert_eq!(
        chunked(b"5\r\nhello\r\n0\r\n\r\nGET").map(|r| r.0),
        Ok(b"hello".to_vec())
    );
}

#[test]
fn chunk_size_attacks() {
    assert_eq!(
        chunked_kind(b"10000000000000000\r\n"),
        "InvalidChunkSize",
        "2^64 must not wrap"
    );
    assert_eq!(
        chunked_kind(b"0x5\r\nhello\r\n0\r\n\r\n"),
        "InvalidChunkSize"
    );
    assert_eq!(chunked_kind(b"0_2e\r\n"), "InvalidChunkSize");
    assert_eq!(
        chunked_kind(b"5 \r\nhello\r\n0\r\n\r\n"),
        "InvalidChunkSize"
    );
    assert_eq!(
        chunked_kind(b"5\r\r\nhello\r\n0\r\n\r\n"),
        "InvalidChunkSize"
    );
    let long = [&b"1"[..], &[b'0'; 9000][..], b"\r\n"].concat();
    assert_eq!(
        chunked_kind(&long[..8500]),
        "InvalidChunkSize",
        "bounded before the CRLF"
    );
}

#[test]
fn chunk_framing_attacks() {
    assert_eq!(
        chunked_kind(b"5\nhello\n0\n\n"),
        "InvalidChunkSize",
        "LF-only lines"
    );
    assert_eq!(
        chunked_kind(b"3\r\nhello\r\n0\r\n\r\n"),
        "ChunkMissingTerminator",
        "data longer than size"
    );
    assert_eq!(
        chunked_kind(b"5\r\nhello\n0\r\n\r\n"),
        "ChunkMissingTerminator"
    );
    assert_eq!(
        chunked_kind(b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
        "InvalidChunkExtension"
    );
    assert_eq!(
        chunked_kind(b"5;a\x00\r\nhello\r\n0\r\n\r\n"),
        "InvalidChunkExtension"
    );
    assert_eq!(
        chunked_kind(b"5\r\nhello\r\n0\r\nAuthorization: x\r\n\r\n"),
        "InvalidHeaderName"
    );
    assert_eq!(
        chunked_kind(b"5\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"),
        "InvalidHeaderName"
    );
}

#[test]
fn truncated_bodies_never_look_complete() {
    assert_eq!(chunked_kind(b"5\r\nhel"), "NoMoreData");
    assert_eq!(
        chunked_kind(b"5\r\nhello\r\n"),
        "NoMoreData",
        "no last-chunk"
    );
    assert_eq!(
        chunked_kind(b"5\r\nhello\r\n0\r\n"),
        "ChunkMissingTerminator",
        "no final CRLF"
    );
    let short = decode_in(BodyKind::Length(10), b"hello", 2);
    assert_eq!(short.map_err(|e| e.kind()), Err("NoMoreData"));
    assert_eq!(
        decode_in(BodyKind::Length(5), b"helloGET", 3).map(|r| r.0),
        Ok(b"hello".to_vec())
    );
}

#[test]
fn an_oversize_trailer_line_is_refused_whatever_follows_it_in_the_read() {
    let long = [&b"0\r\nX: "[..], &[b'a'; 9000], b"\r\nY"].concat();
    let mut decoder = BodyDecoder::new(BodyKind::Chunked, &ParserConfig::default());
    let step = decoder.decode(&long[..3]).expect("last chunk");
    let err = decoder
        .decode(&long[step.consumed..])
        .expect_err("too long");
    assert_eq!(err.status(), Some(431));
}

#[test]
fn trailer_section_is_bounded() {
    let cfg = ParserConfig {
        limit_request_fields: 2,
        limit_request_field_size: 20,
        ..ParserConfig::default()
    };
    let mut decoder = BodyDecoder::new(BodyKind::Chunked, &cfg);
    let input = [&b"0\r\n"[..], &b"A: b\r\n".repeat(12)].concat();
    let step = decoder.decode(&input[..3]).expect("size line");
    assert_eq!(step.consumed, 3);
    let err = decoder.decode(&input[3..]).expect_err("bounded");
    assert_eq!(err.status(), Some(431));
}
