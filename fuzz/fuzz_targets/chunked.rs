//! The chunked decoder on its own (RFC 9112 §7.1). Input: a header_map/limits byte pair
//! (`input::parser_settings`), a seed for the reads, then the bytes after a head that said
//! `Transfer-Encoding: chunked`.
#![no_main]

use gunicorn_rs::http::BodyKind;
use gunicorn_rs_fuzz::check::{chunk, chunked_span, plain_chunked_len};
use gunicorn_rs_fuzz::conn::{decode_body, reread_settings};
use gunicorn_rs_fuzz::input::{cuttings, parser_settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, limits, seed], stream)) = data.split_first_chunk::<3>() else {
        return;
    };
    let (cfg, _) = parser_settings(flags, 0, limits);
    let one_read = decode_body(BodyKind::Chunked, &[stream], &cfg);
    for (how, reads) in cuttings(stream, seed) {
        assert_eq!(
            decode_body(BodyKind::Chunked, &reads, &cfg),
            one_read,
            "{how}"
        );
    }
    // A plainly well-formed body is never refused, and is read to its exact end.
    if limits == 0 {
        if let Some(len) = plain_chunked_len(stream) {
            assert_eq!(one_read.consumed, len, "plain chunked body: {one_read:?}");
            assert!(one_read.result.is_ok(), "plain chunked body: {one_read:?}");
        }
    }
    let Ok((body, trailers)) = &one_read.result else {
        return;
    };
    // What the decoder consumed is exactly the body, as a plain reading of the framing sees it;
    // the rest of the stream (the next request) is untouched.
    let want = Some((body.clone(), one_read.consumed));
    assert_eq!(chunked_span(stream), want, "decoded {one_read:?}");
    // The payload and trailers chunked again (other chunk sizes) decode to the same; without
    // the limits, since `NAME: value` may be longer than the trailer line it came from.
    let again = chunk(body, usize::from(seed) + 1, trailers);
    let reread = decode_body(BodyKind::Chunked, &[&again], &reread_settings(&cfg));
    assert_eq!(reread.result, one_read.result, "re-chunked {again:?}");
    assert_eq!(reread.consumed, again.len());
});
