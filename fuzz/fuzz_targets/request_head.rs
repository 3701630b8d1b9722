//! The request-head parser and the body framing it chooses, over a keep-alive connection.
//! Input: 4 settings bytes (`input::parser_settings` and a seed for the reads), then the bytes
//! the client sends.
#![no_main]

use gunicorn_rs::http::BodyKind;
use gunicorn_rs_fuzz::check::chunked_span;
use gunicorn_rs_fuzz::conn::{
    check_head_at_every_read, check_length_body, check_round_trip, serve,
};
use gunicorn_rs_fuzz::input::{cuttings, parser_settings, HEAD_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, more, limits, seed], stream)) = data.split_first_chunk::<HEAD_PREFIX>()
    else {
        return;
    };
    let (cfg, trust) = parser_settings(flags, more, limits);
    check_head_at_every_read(stream, &cfg, trust, seed);

    let one_read = serve(&[stream], &cfg, trust);
    let mut next_start = 0;
    for seen in &one_read.requests {
        // Heads and bodies tile the stream: nothing read twice, nothing skipped.
        assert_eq!(
            seen.head_span.start, next_start,
            "gap or overlap before {seen:?}"
        );
        next_start = seen.body_span.end;
        check_round_trip(&seen.head, &cfg, trust);
        check_length_body(seen, stream);
        if seen.head.body == BodyKind::Chunked {
            let body = &stream[seen.body_span.start..];
            let want = Some((seen.body.clone(), seen.body_span.len()));
            assert_eq!(chunked_span(body), want, "chunked body framing");
        }
    }
    for (how, reads) in cuttings(stream, seed) {
        assert_eq!(serve(&reads, &cfg, trust), one_read, "{how}");
    }
});
