//! The WebSocket reader and frame writer: splits, fragments, UTF-8, close codes, masks,
//! and messages compressed with permessage-deflate (RFC 7692).
use super::*;

const MASK: [u8; 4] = [1, 2, 3, 4];

fn masked(opcode_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![opcode_byte];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Feed `bytes` to `r` `step` bytes at a time, as reads would bring them: every event and
/// the first error.
fn feed(r: &mut Reader, bytes: &[u8], step: usize) -> Result<Vec<Event>, WsError> {
    let (mut events, mut buf) = (Vec::new(), Vec::new());
    for piece in bytes.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let (used, event) = r.next(&buf)?;
            buf.drain(..used);
            events.extend(event);
            if used == 0 {
                break;
            }
        }
    }
    Ok(events)
}

#[test]
fn accept_key_is_rfc6455s_example() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn fragments_make_one_message_around_a_ping() {
    let mut r = Reader::new(1024);
    let a = masked(0x01, b"Hel");
    assert_eq!(r.next(&a), Ok((a.len(), None)));
    let p = masked(0x89, b"hi");
    assert_eq!(r.next(&p), Ok((p.len(), Some(Event::Ping(b"hi".to_vec())))));
    let b = masked(0x80, b"lo");
    assert_eq!(r.next(&b[..5]), Ok((0, None)), "the mask is not whole yet");
    assert_eq!(r.next(&b), Ok((b.len(), Some(Event::Text("Hello".into())))));
}

/// Whatever the reads cut (inside headers, masks, characters), the messages are the same.
#[test]
fn any_split_of_the_bytes_gives_the_same_messages() {
    let text = "héllo ✓ wörld 𝄞".repeat(20);
    let (head, tail) = text.as_bytes().split_at(101); // inside a character
    let mut wire = masked(0x01, head);
    wire.extend(masked(0x8A, b"pong"));
    wire.extend(masked(0x80, tail));
    wire.extend(masked(0x82, &[0xff; 300]));
    let want = vec![
        Event::Pong,
        Event::Text(text.clone()),
        Event::Binary(vec![0xff; 300]),
    ];
    for step in [1, 2, 3, 7, 64, wire.len()] {
        assert_eq!(
            feed(&mut Reader::new(4096), &wire, step).as_ref(),
            Ok(&want),
            "{step}"
        );
    }
}

/// RFC 6455 §8.1: invalid UTF-8 fails the connection when it arrives, even inside a frame
/// whose rest has not come (Autobahn 6.4.3); a character cut by the end fails at the end.
#[test]
fn invalid_utf8_fails_at_the_byte_not_at_the_end() {
    let mut r = Reader::new(1024);
    let mut payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5".to_vec();
    payload.extend_from_slice(b"\xf4\x90\x80\x80"); // U+110000: beyond Unicode
    payload.extend_from_slice(b"edited");
    let frame = masked(0x81, &payload);
    assert_eq!(r.next(&frame[..6 + 11]), Ok((6 + 11, None)));
    assert_eq!(r.next(&frame[6 + 11..6 + 13]), Err(WsError::InvalidUtf8));
    let mut r = Reader::new(1024);
    let cut = masked(0x81, "é".as_bytes().split_at(1).0);
    assert_eq!(r.next(&cut), Err(WsError::InvalidUtf8));
}

#[test]
fn bad_frames_fail_with_their_codes() {
    let mut r = Reader::new(4);
    assert_eq!(r.next(&masked(0x81, b"toolong")), Err(WsError::TooBig));
    let mut r = Reader::new(4);
    let first = masked(0x02, b"abc");
    assert_eq!(r.next(&first), Ok((first.len(), None)));
    assert_eq!(r.next(&masked(0x80, b"de")), Err(WsError::TooBig), "in all");
    let cases: [(&[u8], WsError, &str); 8] = [
        (&[0x81, 0x00], WsError::Protocol, "unmasked"),
        (&masked(0xC1, b"x"), WsError::Protocol, "RSV1"),
        (&masked(0x83, b"x"), WsError::Protocol, "reserved opcode"),
        (&masked(0x80, b"x"), WsError::Protocol, "no message"),
        (&masked(0x09, b"x"), WsError::Protocol, "fragmented ping"),
        (&masked(0x89, &[0; 126]), WsError::Protocol, "long ping"),
        (&masked(0x88, &[0x03, 0xED]), WsError::Protocol, "1005"),
        (&masked(0x88, &[0x03]), WsError::Protocol, "half a code"),
    ];
    for (frame, error, why) in cases {
        assert_eq!(Reader::new(64).next(frame), Err(error), "{why}");
    }
    let mut r = Reader::new(64);
    let open = masked(0x01, b"a");
    assert_eq!(r.next(&open), Ok((open.len(), None)));
    assert_eq!(
        r.next(&masked(0x81, b"b")),
        Err(WsError::Protocol),
        "new message mid-way"
    );
}

#[test]
fn close_codes_and_reasons() {
    for (code, ok) in [
        (1000, true),
        (1012, true),
        (4999, true),
        (999, false),
        (1015, false),
    ] {
        let frame = masked(0x88, &u16::to_be_bytes(code));
        let got = Reader::new(64).next(&frame);
        let want = Event::Close(Some(code), String::new());
        assert_eq!(got.is_ok(), ok, "{code}");
        assert!(!ok || got == Ok((frame.len(), Some(want))), "{code}");
    }
    let close = masked(0x88, &[0x03, 0xE8, b'o', b'k']);
    let want = Some(Event::Close(Some(1000), "ok".into()));
    assert_eq!(Reader::new(64).next(&close), Ok((close.len(), want)));
    let bad = masked(0x88, &[0x03, 0xE8, 0xff]);
    assert_eq!(Reader::new(64).next(&bad), Err(WsError::InvalidUtf8));
}

#[test]
fn unmasking_follows_the_payload_offset() {
    let data: Vec<u8> = (0..=255).collect();
    for offset in 0..4 {
        let mut out = vec![9];
        unmask_into(&mut out, &data, MASK, offset);
        let want = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[(offset + i) % 4]);
        assert!(out[1..].iter().copied().eq(want), "{offset}");
    }
}

#[test]
fn server_frames_use_the_shortest_length() {
    let mut out = Vec::new();
    write_frame(&mut out, TEXT, b"hi");
    assert_eq!(out, [0x81, 2, b'h', b'i']);
    let mut out = Vec::new();
    write_frame(&mut out, BINARY, &[0u8; 300]);
    assert_eq!(&out[..4], &[0x82, 126, 1, 44]);
    let mut out = Vec::new();
    write_frame(&mut out, BINARY, &[0u8; 70_000]);
    assert_eq!(&out[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
}

/// A message compressed by the server's own deflater (RFC 7692), sent in two fragments (RSV1
/// on the first only) with a ping between them, read at every split: one text event. Invalid
/// UTF-8 inside compressed data still fails with 1007; RSV1 on a continuation, or with the
/// extension not agreed, with 1002; a compressed message past the limit once inflated, 1009.
#[test]
fn compressed_messages_are_inflated_at_every_split() {
    use crate::http::permessage_deflate::{Agreement, Deflater};
    let agreed = Agreement {
        server_no_context_takeover: false,
        server_max_window_bits: 15,
    };
    let compress = |text: &[u8]| {
        let mut out = Vec::new();
        Deflater::new(&agreed).deflate(text, &mut out);
        out
    };
    let text = "déjà vu, ".repeat(40);
    let data = compress(text.as_bytes());
    let (a, b) = data.split_at(data.len() / 2);
    let mut bytes = masked(0x41, a); // RSV1, text, not final
    bytes.extend(masked(0x89, b"hi"));
    bytes.extend(masked(0x80, b));
    for step in [1, 2, 3, 7, bytes.len()] {
        let mut r = Reader::new(1024);
        r.inflate();
        let events = feed(&mut r, &bytes, step).expect("no error");
        assert_eq!(
            events,
            [Event::Ping(b"hi".to_vec()), Event::Text(text.clone())],
            "read {step} bytes at a time"
        );
    }
    let fail = |frames: &[Vec<u8>], agreed: bool, limit: usize| {
        let mut r = Reader::new(limit);
        if agreed {
            r.inflate();
        }
        feed(&mut r, &frames.concat(), 5).err()
    };
    let bad_utf8 = compress(b"ok \xff no");
    assert_eq!(
        fail(&[masked(0xC1, &bad_utf8)], true, 1024),
        Some(WsError::InvalidUtf8)
    );
    let continued = [masked(0x41, a), masked(0xC0, b)];
    assert_eq!(fail(&continued, true, 1024), Some(WsError::Protocol));
    assert_eq!(
        fail(&[masked(0xC1, &data)], false, 1024),
        Some(WsError::Protocol)
    );
    assert_eq!(
        fail(&[masked(0xC1, &data)], true, 100),
        Some(WsError::TooBig)
    );
}
