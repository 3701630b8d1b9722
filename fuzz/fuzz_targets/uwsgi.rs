//! The uwsgi packet nginx's `uwsgi_pass` writes (uWSGI docs, "The uwsgi Protocol";
//! src/http/uwsgi.rs). Input: the bytes a front sent. Any of them parse or are refused without
//! a panic; nothing is decided before the byte that decides it (a refused modifier at the
//! first byte, everything else once the vars block is whole); and what follows the block (the
//! body, modifier2) never changes the head.
#![no_main]

use gunicorn_rs::http::{parse_packet, ParseError, PeerTrust};
use libfuzzer_sys::fuzz_target;

const TRUST: PeerTrust = PeerTrust {
    forwarded: false,
    proxy: false,
    uwsgi: true,
};

fuzz_target!(|data: &[u8]| {
    let whole = parse_packet(data, TRUST);
    // Where the packet's vars block ends, if the header says.
    let end = data
        .get(1..3)
        .map(|size| 4 + usize::from(u16::from_le_bytes([size[0], size[1]])));
    for k in 0..data.len() {
        match parse_packet(&data[..k], TRUST) {
            Ok(None) => {}
            Err(ParseError::UnsupportedModifier(m)) => assert_eq!(Some(&m), data.first()),
            early => {
                // A decision from a prefix: only once the block is whole, and then the same.
                assert!(
                    end.is_some_and(|end| k >= end),
                    "decided at {k} of {end:?}: {early:?}"
                );
                assert_eq!(early, whole, "prefix {k} of {data:?}");
            }
        }
    }
    let Ok(Some((head, used))) = whole else {
        return;
    };
    assert_eq!(Some(used), end, "{data:?}");
    // Another modifier2 and another body: the same head.
    let mut other = data[..used].to_vec();
    other[3] ^= 0xff;
    other.extend_from_slice(b"\x00\x10\x00\x00BODY BYTES");
    match parse_packet(&other, TRUST) {
        Ok(Some((again, used_again))) => {
            assert_eq!(again, head, "{data:?}");
            assert_eq!(used_again, used);
        }
        different => panic!("{data:?} read {different:?} with another body"),
    }
});
