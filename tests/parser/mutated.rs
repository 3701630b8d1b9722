//! The corpus mutated: every edit of a fixture must give the same answer however its bytes are
//! split into reads.

use super::feed::{chunkings, serve, Outcome, Rng};
use super::{corpus, settings, wire_bytes};
use gunicorn_rs::http::ParseError;

/// What a connection produced, as comparable text: each request's head and body, then the
/// error's class (its message may quote a different slice of a split line, the class not).
fn summary(out: &Outcome) -> String {
    let mut text = String::new();
    for seen in &out.requests {
        text.push_str(&format!(
            "{:?} {:?} {:?}\n",
            seen.head, seen.body, seen.trailers
        ));
    }
    text.push_str(&format!(
        "error: {:?}",
        out.error.as_ref().map(ParseError::kind)
    ));
    text
}

/// One random edit of `bytes`: a byte replaced by one that matters to HTTP framing, deleted,
/// or doubled.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\r\n \t:;,0159aAfF-+x\x00\x7f\x80\xff\"=/";
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    let at = (rng.next() % out.len() as u64) as usize;
    match rng.next() % 3 {
        0 => out[at] = INTERESTING[(rng.next() % INTERESTING.len() as u64) as usize],
        1 => {
            out.remove(at);
        }
        _ => out.insert(at, out[at]),
    }
    out
}

/// A fuzz pass over the corpus (reliability.md §6): thousands of mutated requests, each fed
/// whole, byte by byte and in random splits, must give the same requests and the same error
/// class every time — and never panic. Deterministic (fixed seeds), so a failure reproduces.
#[test]
fn mutated_corpus_gives_the_same_answer_in_every_chunking() {
    let (cfg, trust) = settings(None);
    let mut rng = Rng(0x5eed_5eed_5eed_5eed);
    let mut failures = Vec::new();
    let mut inputs = 0;
    for dir in ["valid", "invalid"] {
        let mut names: Vec<_> = std::fs::read_dir(corpus().join(dir))
            .expect("corpus dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for path in names {
            let original = wire_bytes(&std::fs::read(&path).expect("fixture file"));
            for _ in 0..20 {
                let mut bytes = mutate(&original, &mut rng);
                if rng.next().is_multiple_of(4) {
                    bytes = mutate(&bytes, &mut rng);
                }
                inputs += 1;
                let whole = summary(&serve(&[&bytes], &cfg, trust));
                // Byte by byte re-parses the head at every byte: quadratic, so only for the
                // small inputs (the corpus test above feeds every fixture that way).
                let ways = chunkings(&bytes).into_iter().skip(1);
                for (how, pieces) in
                    ways.filter(|(how, _)| how != "byte by byte" || bytes.len() <= 2048)
                {
                    let split = summary(&serve(&pieces, &cfg, trust));
                    if split != whole {
                        failures.push(format!(
                            "{} mutated to {:?}: {how} gave\n{split}\nwhole gave\n{whole}",
                            path.display(),
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                }
            }
        }
    }
    eprintln!("mutations: {inputs} inputs, every chunking");
    assert!(
        failures.is_empty(),
        "{} of the mutated inputs differ by chunking:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
