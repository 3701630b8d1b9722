//! An input's leading bytes are settings, the rest is what the peer sends. The layouts are
//! written by `fuzz/seeds.py` too (the seed corpora): change both together.

use gunicorn_rs::config::{HeaderMap, ProxyProtocol};
use gunicorn_rs::http::{ParserConfig, PeerTrust};

/// Settings bytes in front of a request-head input: flags, more flags, limits, split seed.
pub const HEAD_PREFIX: usize = 4;

/// `flags`: bit 0 permit_obsolete_folding, 1 strip_header_spaces,
/// 2 permit_unconventional_http_method, 3 permit_unconventional_http_version,
/// 4 casefold_http_method, 5–6 header_map (drop, refuse, dangerous, drop), 7 a trusted
/// forwarder. `more`: bits 0–1 proxy_protocol (off, v1, v2, auto), bit 2 an untrusted
/// PROXY peer. `limits`: 0 is Gunicorn's defaults, else three 2-bit picks of small limits
/// (where refusals before the end of a line happen).
pub fn parser_settings(flags: u8, more: u8, limits: u8) -> (ParserConfig, PeerTrust) {
    let bit = |b: u8, n: u8| b >> n & 1 == 1;
    let mut cfg = ParserConfig {
        permit_obsolete_folding: bit(flags, 0),
        strip_header_spaces: bit(flags, 1),
        permit_unconventional_http_method: bit(flags, 2),
        permit_unconventional_http_version: bit(flags, 3),
        casefold_http_method: bit(flags, 4),
        header_map: match flags >> 5 & 3 {
            1 => HeaderMap::Refuse,
            2 => HeaderMap::Dangerous,
            _ => HeaderMap::Drop,
        },
        proxy_protocol: proxy_mode(more),
        ..ParserConfig::default()
    };
    if limits != 0 {
        cfg.limit_request_line = [0, 20, 64, 4094][usize::from(limits & 3)];
        cfg.limit_request_fields = [100, 1, 3, 0][usize::from(limits >> 2 & 3)];
        cfg.limit_request_field_size = [8190, 10, 40, 0][usize::from(limits >> 4 & 3)];
    }
    let trust = PeerTrust {
        forwarded: bit(flags, 7),
        proxy: !bit(more, 2),
        uwsgi: false,
    };
    (cfg, trust)
}

fn proxy_mode(more: u8) -> ProxyProtocol {
    match more & 3 {
        1 => ProxyProtocol::V1,
        2 => ProxyProtocol::V2,
        3 => ProxyProtocol::Auto,
        _ => ProxyProtocol::Off,
    }
}

/// A tiny deterministic PRNG (xorshift64*): the reads an input is cut into depend only on it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Inputs up to this size are also fed a byte at a time (the worst case of a slow client);
/// longer ones only in the seeded cuts, to keep executions fast.
const BYTE_BY_BYTE_UP_TO: usize = 512;

/// The ways of cutting `bytes` into reads to compare with one read: seeded random reads of
/// 1..=`seed % 64 + 1` bytes (longer for long inputs, so that there are at most a few hundred),
/// a cut into two reads chosen by the seed, and a byte at a time for short inputs. Each is
/// named for the failure message.
pub fn cuttings(bytes: &[u8], seed: u8) -> Vec<(String, Vec<&[u8]>)> {
    let mut rng = Rng(u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let widest = usize::from(seed % 64) + 1;
    let shortest = bytes.len() / 256 + 1;
    let mut random = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = (shortest + rng.next() as usize % widest).min(rest.len());
        random.push(&rest[..n]);
        rest = &rest[n..];
    }
    let mut ways = vec![(format!("random reads, seed {seed}"), random)];
    if !bytes.is_empty() {
        let at = rng.next() as usize % bytes.len();
        let (a, b) = bytes.split_at(at);
        ways.push((format!("two reads cut at {at}"), vec![a, b]));
    }
    if bytes.len() <= BYTE_BY_BYTE_UP_TO {
        ways.push(("byte by byte".into(), bytes.chunks(1).collect()));
    }
    ways
}
