//! Micro-benchmark of the request-head parser on a typical browser request (the head every
//! request pays for). `cargo run --release --example parse_head [ITERATIONS]` prints the time
//! per head; under `valgrind --tool=callgrind` the instruction count is the stable figure.
//! `... parse_head ITERATIONS bytewise` feeds the head one byte per read, as a slow client
//! does: `resume_head` (the server's way, each read scans its new byte) against `parse_head`
//! from the start on every read. `... parse_head ITERATIONS wrk` parses the head wrk sends
//! (`benches/callgrind.sh`'s load) instead.

use gunicorn_rs::http::{parse_head, resume_head, HeadScan, ParserConfig, PeerTrust};
use std::hint::black_box;
use std::time::Instant;

// The server's allocator (`src/main.rs`): a head's strings cost what they cost there.
#[global_allocator]
static GLOBAL: gunicorn_rs::alloc::Allocator = gunicorn_rs::alloc::Allocator;

const HEAD: &[u8] = b"GET /api/v1/items?page=2&sort=name HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=2f9a0c1e7b6d4a3f; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

/// What wrk sends for `wrk http://127.0.0.1:8000/`: the head of every benchmark request.
const WRK_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = ParserConfig::default();
    let head = match std::env::args().nth(2).as_deref() {
        Some("bytewise") => return bytewise(iterations, &cfg),
        Some("wrk") => WRK_HEAD,
        _ => HEAD,
    };
    let start = Instant::now();
    let mut used = 0;
    for _ in 0..iterations {
        match parse_head(black_box(head), &cfg, PeerTrust::default(), true) {
            Ok(Some((head, consumed))) => used += consumed + head.headers.len(),
            other => panic!("the typical head must parse: {other:?}"),
        }
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!(
        "{iterations} heads of {} bytes: {per:.0} ns per head ({used})",
        head.len()
    );
}

fn bytewise(iterations: u32, cfg: &ParserConfig) {
    let trust = PeerTrust::default();
    for resume in [true, false] {
        let start = Instant::now();
        for _ in 0..iterations {
            let mut scan = HeadScan::default();
            for n in 1..=HEAD.len() {
                let prefix = black_box(&HEAD[..n]);
                let parsed = match resume {
                    true => resume_head(&mut scan, prefix, cfg, trust, true),
                    false => parse_head(prefix, cfg, trust, true),
                };
                match parsed {
                    Ok(None) if n < HEAD.len() => {}
                    Ok(Some(_)) if n == HEAD.len() => {}
                    other => panic!("byte {n}: {other:?}"),
                }
            }
        }
        let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        let how = if resume {
            "resume_head"
        } else {
            "parse_head from the start"
        };
        println!("{how}, one byte per read: {per:.0} ns per head");
    }
}
