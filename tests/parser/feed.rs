//! Feeding the parser as a keep-alive connection does (buffer, head, body, the next head), and
//! the ways of cutting a request's bytes into reads.

use gunicorn_rs::http::{
    head_eof, resume_head, BodyDecoder, HeadScan, ParseError, ParserConfig, PeerTrust, RequestHead,
};

/// One request as the server saw it.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) head: RequestHead,
    pub(super) body: Vec<u8>,
    pub(super) trailers: Vec<(String, Vec<u8>)>,
}

/// What a connection fed these pieces produced: the requests, then the error if any.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) requests: Vec<Seen>,
    pub(super) error: Option<ParseError>,
    /// Body bytes of a request cut short by an error (for truncated-body fixtures).
    pub(super) partial_body: Vec<u8>,
}

/// Drive parse_head + BodyDecoder over `pieces` like a keep-alive connection would.
pub(super) fn serve(pieces: &[&[u8]], cfg: &ParserConfig, trust: PeerTrust) -> Outcome {
    let mut feed = pieces.iter();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome {
        requests: Vec::new(),
        error: None,
        partial_body: Vec::new(),
    };
    loop {
        let first = out.requests.is_empty();
        // As a server keeps it: each read scans only its new bytes.
        let mut scan = HeadScan::default();
        let head = loop {
            match resume_head(&mut scan, &buf, cfg, trust, first) {
                Ok(Some((head, used))) => {
                    buf.drain(..used);
                    break head;
                }
                Ok(None) => match feed.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => {
                        out.error = head_eof(&buf);
                        return out;
                    }
                },
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        };
        let mut decoder = BodyDecoder::new(head.body, cfg);
        let body = match read_body(&mut decoder, &mut buf, &mut feed) {
            Ok(body) => body,
            Err((e, partial)) => return fail(out, e, partial),
        };
        let must_close = head.must_close;
        out.requests.push(Seen {
            head,
            body,
            trailers: decoder.trailers().to_vec(),
        });
        if must_close {
            return out;
        }
    }
}

/// Decode one body from `buf`, reading more pieces as needed; on error, the body so far.
fn read_body<'a>(
    decoder: &mut BodyDecoder,
    buf: &mut Vec<u8>,
    feed: &mut impl Iterator<Item = &'a &'a [u8]>,
) -> Result<Vec<u8>, (ParseError, Vec<u8>)> {
    let mut body = Vec::new();
    while !decoder.is_done() {
        let step = match decoder.decode(buf) {
            Ok(step) => step,
            Err(e) => return Err((e, body)),
        };
        body.extend_from_slice(&buf[step.data.clone()]);
        buf.drain(..step.consumed);
        if step.consumed == 0 && !decoder.is_done() {
            match feed.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => decoder.eof().map_err(|e| (e, std::mem::take(&mut body)))?,
            }
        }
    }
    Ok(body)
}

fn fail(mut out: Outcome, e: ParseError, body: Vec<u8>) -> Outcome {
    out.error = Some(e);
    out.partial_body = body;
    out
}

/// A tiny deterministic PRNG (xorshift64*), so random splits are reproducible.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The ways of cutting the bytes into reads, each with a name for failure messages.
pub(super) fn chunkings(bytes: &[u8]) -> Vec<(String, Vec<&[u8]>)> {
    let mut ways = vec![("whole".to_string(), vec![bytes])];
    let mut lines = Vec::new();
    let mut start = 0;
    for i in 0..bytes.len() {
        if bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r' {
            lines.push(&bytes[start..=i]);
            start = i + 1;
        }
    }
    lines.push(&bytes[start..]);
    ways.push(("line by line".to_string(), lines));
    ways.push(("byte by byte".to_string(), bytes.chunks(1).collect()));
    for seed in 1..=5u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut pieces = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = (1 + rng.next() % 64) as usize;
            let n = n.min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        ways.push((format!("random seed {seed}"), pieces));
    }
    ways
}
