//! The current request in a slot: fixed-size, truncated, NUL-padded text fields behind a
//! seqlock, so the master (or the dashboard) reads a consistent method + path + client + start
//! even while the worker is stuck inside the app.
//!
//! The text is stored in `AtomicU64` words, not plain bytes: the reader runs concurrently with
//! the writer in another process, and only atomics make that race defined. Relaxed word
//! accesses ordered by the sequence counter's fences are the classic seqlock (Boehm, "Can
//! seqlocks get along with programming language memory models?", 2012).

use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Words (8 bytes each) per text field: `METHOD` 16 bytes, `PATH` 128, `CLIENT` 48.
const METHOD_WORDS: usize = 2;
const PATH_WORDS: usize = 16;
const CLIENT_WORDS: usize = 6;

/// How often a reader retries a snapshot torn by a concurrent write before giving up.
const READ_RETRIES: usize = 64;

/// A NUL-padded byte string of `W * 8` bytes.
#[repr(C)]
struct Text<const W: usize>([AtomicU64; W]);

impl<const W: usize> Text<W> {
    /// Store `s`, truncated; a truncated value ends in `...` so nobody mistakes it for whole.
    fn store(&self, s: &[u8]) {
        let mut bytes = [0u8; 128];
        let cap = W * 8;
        let n = s.len().min(cap);
        bytes[..n].copy_from_slice(&s[..n]);
        if s.len() > cap {
            bytes[cap - 3..cap].copy_from_slice(b"...");
        }
        for (word, chunk) in self.0.iter().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
    }

    fn load(&self) -> String {
        let mut bytes = Vec::with_capacity(W * 8);
        for word in &self.0 {
            bytes.extend_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }
}

/// What the worker writes before it calls the app.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    /// The request target as received (path and query), raw bytes.
    pub path: &'a [u8],
    /// `ip:port` of the peer; empty on a Unix socket.
    pub client: &'a [u8],
    pub version: (u8, u8),
}

/// A consistent copy of the request a worker is serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRequest {
    /// CLOCK_MONOTONIC ms at which the head was read.
    pub start_ms: u64,
    pub method: String,
    pub path: String,
    pub client: String,
    pub version: (u8, u8),
}

/// The seqlocked record inside a [`super::Slot`].
#[repr(C)]
pub(super) struct RequestRecord {
    /// Odd while the worker is writing.
    seq: AtomicU32,
    version: [AtomicU8; 2],
    /// 0 when no request is running.
    start_ms: AtomicU64,
    method: Text<METHOD_WORDS>,
    path: Text<PATH_WORDS>,
    client: Text<CLIENT_WORDS>,
}

impl RequestRecord {
    /// Writer side: run `write` with the sequence odd (one writer per slot, DESIGN §4).
    fn write(&self, write: impl FnOnce()) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        write();
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    pub(super) fn begin(&self, start_ms: u64, line: &RequestLine<'_>) {
        self.write(|| {
            self.version[0].store(line.version.0, Ordering::Relaxed);
            self.version[1].store(line.version.1, Ordering::Relaxed);
            self.method.store(line.method);
            self.path.store(line.path);
            self.client.store(line.client);
            self.start_ms.store(start_ms.max(1), Ordering::Relaxed);
        });
    }

    pub(super) fn end(&self) {
        self.write(|| self.start_ms.store(0, Ordering::Relaxed));
    }

    pub(super) fn start_ms(&self) -> u64 {
        self.start_ms.load(Ordering::Relaxed)
    }

    /// Reader side: retry while a write is in progress or happened during the copy. `None`
    /// when idle, or (in theory) when the writer kept racing past every retry.
    pub(super) fn read(&self) -> Option<CurrentRequest> {
        for _ in 0..READ_RETRIES {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let copy = CurrentRequest {
                start_ms: self.start_ms.load(Ordering::Relaxed),
                method: self.method.load(),
                path: self.path.load(),
                client: self.client.load(),
                version: (
                    self.version[0].load(Ordering::Relaxed),
                    self.version[1].load(Ordering::Relaxed),
                ),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return (copy.start_ms != 0).then_some(copy);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Box<RequestRecord> {
        // SAFETY: all-zero is a valid value of every atomic in the record (as in the mapping).
        Box::new(unsafe { std::mem::zeroed() })
    }

    #[test]
    fn round_trip_and_truncation() {
        let r = record();
        assert_eq!(r.read(), None);
        let long = vec![b'a'; 300];
        r.begin(
            42,
            &RequestLine {
                method: b"PROPFIND-TOO-LONG-METHOD",
                path: &long,
                client: b"127.0.0.1:5000",
                version: (1, 1),
            },
        );
        let got = r.read().expect("a request");
        assert_eq!(got.start_ms, 42);
        assert_eq!(got.method, "PROPFIND-TOO-...");
        assert_eq!(got.path.len(), 128);
        assert!(got.path.ends_with("a..."));
        assert_eq!(got.client, "127.0.0.1:5000");
        assert_eq!(got.version, (1, 1));
        r.end();
        assert_eq!(r.read(), None);
    }

    #[test]
    fn shorter_value_leaves_no_tail_of_the_longer_one() {
        let r = record();
        let line = |path: &'static [u8]| RequestLine {
            method: b"GET",
            path,
            client: b"",
            version: (1, 0),
        };
        r.begin(1, &line(b"/a/very/long/path"));
        r.begin(2, &line(b"/x"));
        assert_eq!(r.read().map(|c| c.path), Some("/x".to_string()));
    }
}
