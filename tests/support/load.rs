//! A load generator: `GET path` in a loop on several threads, for the checks that a restart
//! or a reload drops no request.

use super::{poll, try_fetch, WAIT};
use std::collections::BTreeSet;
use std::sync::Arc;

/// `GET path` in a loop on its own thread until `stop` is set: (successes, failures, pids seen).
/// One load thread's result: successes, failure descriptions, distinct bodies.
type LoadTally = (usize, Vec<String>, BTreeSet<String>);

pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    successes: Arc<std::sync::atomic::AtomicUsize>,
    handles: Vec<std::thread::JoinHandle<LoadTally>>,
}

impl Load {
    pub fn start(port: u16, path: &str, threads: usize) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let successes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handles = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let successes = Arc::clone(&successes);
                let path = path.to_string();
                std::thread::spawn(move || {
                    let (mut ok, mut failed, mut bodies) = (0, Vec::new(), BTreeSet::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // One response, not the server's close: kept-alive kinds keep
                        // the connection open after it.
                        match try_fetch(port, &path) {
                            Some(r) if r.status == 200 => {
                                ok += 1;
                                successes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                bodies.insert(r.text());
                            }
                            Some(r) => failed.push(format!("status {}", r.status)),
                            None => failed.push("connection failed".into()),
                        }
                    }
                    (ok, failed, bodies)
                })
            })
            .collect();
        Load {
            stop,
            successes,
            handles,
        }
    }

    /// Waits until `n` more requests have succeeded than when called: the load is flowing.
    pub fn wait_successes(&self, n: usize) {
        let target = self.successes.load(std::sync::atomic::Ordering::Relaxed) + n;
        poll(WAIT, &format!("{n} successful requests under load"), || {
            (self.successes.load(std::sync::atomic::Ordering::Relaxed) >= target).then_some(())
        });
    }

    /// Stops the load; returns (successes, failure descriptions, distinct bodies).
    pub fn finish(self) -> (usize, Vec<String>, BTreeSet<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut total = (0, Vec::new(), BTreeSet::new());
        for h in self.handles {
            let (ok, failed, bodies) = h.join().expect("load thread");
            total.0 += ok;
            total.1.extend(failed);
            total.2.extend(bodies);
        }
        total
    }
}
