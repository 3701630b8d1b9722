//! The lines of one output stream of a child process (a server's stderr and stdout, a client
//! script's), appended by a reader thread; tests wait on them with a bound.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines of one output stream, appended by a reader thread; waiters are woken per line.
pub struct Lines {
    state: Mutex<(Vec<String>, bool)>,
    cond: Condvar,
}

impl Lines {
    pub fn spawn(source: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines {
            state: Mutex::new((Vec::new(), false)),
            cond: Condvar::new(),
        });
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(source);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        sink.state.lock().unwrap().0.push(line);
                        sink.cond.notify_all();
                    }
                }
            }
            sink.state.lock().unwrap().1 = true;
            sink.cond.notify_all();
        });
        lines
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.state.lock().unwrap().0.clone()
    }

    pub fn text(&self) -> String {
        self.snapshot().join("\n")
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap().0.len()
    }

    /// Waits until `done(lines)` holds; `None` on timeout or when the stream ended without it.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(found) = done(&state.0) {
                return Some(found);
            }
            let now = Instant::now();
            if state.1 || now >= deadline {
                return None;
            }
            state = self.cond.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// The first line at index ≥ `from` containing `pattern`.
    pub fn find_from(&self, from: usize, pattern: &str, timeout: Duration) -> Option<String> {
        self.wait_until(timeout, |lines| {
            lines
                .iter()
                .skip(from)
                .find(|l| l.contains(pattern))
                .cloned()
        })
    }

    /// Every line, once the stream has ended (every writer gone): what "exactly n" and "never"
    /// checks must read, since an open stream can still have more to say.
    pub fn ended(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while !state.1 {
            let now = Instant::now();
            assert!(now < deadline, "the stream did not end within {timeout:?}");
            state = self.cond.wait_timeout(state, deadline - now).unwrap().0;
        }
        state.0.clone()
    }

    /// Waits for `n` lines containing `pattern`, returns them all once there are at least `n`.
    pub fn count(&self, pattern: &str, n: usize, timeout: Duration) -> Option<Vec<String>> {
        self.wait_until(timeout, |lines| {
            let hits: Vec<String> = lines
                .iter()
                .filter(|l| l.contains(pattern))
                .cloned()
                .collect();
            (hits.len() >= n).then_some(hits)
        })
    }
}
