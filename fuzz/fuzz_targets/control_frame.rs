//! The control socket's frames (4-byte big-endian length, then JSON; Gunicorn 27's
//! `ctl/protocol.py`) as the master's poll loop decodes them, and the requests inside.
//! Input: a seed for the reads, then the bytes a client sends.
#![no_main]

use gunicorn_rs_fuzz::input::cuttings;
use libfuzzer_sys::fuzz_target;
use ui::protocol::{decode_request, encode, read_frame, FrameDecoder, FrameError};

/// What the decoder made of the reads: the payloads, whether it stopped on an oversize length,
/// and what it still holds.
#[derive(Debug, PartialEq)]
struct Frames {
    payloads: Vec<Vec<u8>>,
    too_large: Option<usize>,
    buffered: usize,
}

/// Push each read and take every complete frame after it, as `master::control::client` does.
fn decode(reads: &[&[u8]]) -> Frames {
    let mut decoder = FrameDecoder::new();
    let mut payloads = Vec::new();
    for read in reads {
        decoder.push(read);
        loop {
            match decoder.next_frame() {
                Ok(Some(payload)) => payloads.push(payload),
                Ok(None) => break,
                Err(FrameError::TooLarge(n)) => {
                    return Frames {
                        payloads,
                        too_large: Some(n),
                        buffered: decoder.buffered(),
                    }
                }
                Err(e) => panic!("the decoder only refuses lengths: {e}"),
            }
        }
    }
    Frames {
        payloads,
        too_large: None,
        buffered: decoder.buffered(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let one_read = decode(&[stream]);
    for (how, reads) in cuttings(stream, seed) {
        if one_read.too_large.is_some() {
            // The stream stops at the bad length, wherever the reads were cut.
            let got = decode(&reads);
            assert_eq!(
                (got.payloads, got.too_large),
                (one_read.payloads.clone(), one_read.too_large),
                "{how}"
            );
        } else {
            assert_eq!(decode(&reads), one_read, "{how}");
        }
    }
    // The frames tile the stream: each prefix and payload in turn, then what is still buffered.
    let mut rebuilt = Vec::new();
    for payload in &one_read.payloads {
        rebuilt.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        rebuilt.extend_from_slice(payload);
    }
    assert_eq!(
        stream[..rebuilt.len()],
        rebuilt[..],
        "frames are not the stream"
    );
    if one_read.too_large.is_none() {
        assert_eq!(rebuilt.len() + one_read.buffered, stream.len());
    }
    // The blocking reader (ctl, the dashboard) reads the same frames and the same end.
    let mut cursor = std::io::Cursor::new(stream);
    for payload in &one_read.payloads {
        assert_eq!(
            &read_frame(&mut cursor).expect("frame the decoder read"),
            payload
        );
    }
    match (read_frame(&mut cursor), one_read.too_large) {
        (Err(FrameError::TooLarge(n)), Some(m)) => assert_eq!(n, m),
        (Err(FrameError::Closed), None) => assert_eq!(one_read.buffered, 0),
        (Err(FrameError::Truncated), None) => assert!(one_read.buffered > 0),
        (other, too_large) => panic!("read_frame gave {other:?}, decoder {too_large:?}"),
    }
    // A request that decodes, encoded again, decodes to itself.
    for payload in &one_read.payloads {
        if let Ok(request) = decode_request(payload) {
            let frame = encode(&request).expect("a request encodes");
            assert_eq!(
                decode_request(&frame[4..]),
                Ok(request.clone()),
                "{frame:?}"
            );
        }
    }
});
