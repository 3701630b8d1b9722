//! The master's statsd metrics (`crate::statsd`): `gunicorn.workers` and `gunicorn.backlog`.
//!
//! Both are about the whole server, which only the master sees, so the master sends them from
//! its one loop (no thread: DESIGN §1), after the worker count is maintained — where Gunicorn's
//! `Arbiter.manage_workers` sends them. The sends are non-blocking datagrams: the loop never
//! waits on statsd.

use std::time::{Duration, Instant};

use super::Master;

/// The backlog is sampled at most this often. Gunicorn samples it on every pass of its loop,
/// which wakes once a second when idle; ours also wakes for every batch of worker output, and
/// sampling per batch would weigh the histogram towards busy moments.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// What was last sent.
#[derive(Debug, Default)]
pub(super) struct Reporter {
    /// The worker count last sent (Gunicorn sends it when it changes).
    workers: Option<usize>,
    next_backlog: Option<Instant>,
}

impl Master<'_> {
    /// Send the worker count if it changed, and the backlog if it is due. The count is the
    /// serving workers (not those told to stop), as Gunicorn counts `WORKERS` minus the ones it
    /// just signalled; its DEBUG line `N workers` goes with it.
    pub(super) fn report_to_statsd(&mut self) {
        let serving = self
            .workers
            .iter()
            .filter(|w| w.lifecycle.is_serving())
            .count();
        if self.reporter.workers != Some(serving) {
            self.reporter.workers = Some(serving);
            crate::debug!("{serving} workers");
            crate::statsd::workers(serving);
        }
        if !self.cfg.enable_backlog_metric {
            return;
        }
        let now = Instant::now();
        if self.reporter.next_backlog.is_some_and(|due| now < due) {
            return;
        }
        self.reporter.next_backlog = Some(now + BACKLOG_EVERY);
        // Unix listeners have no such count (Gunicorn's `get_backlog` says -1 for them); with
        // no TCP listener there is nothing to send.
        let queued: Vec<u32> = self
            .listeners
            .iter()
            .filter_map(|l| super::control::listen_queue(l.raw_fd()))
            .collect();
        if !queued.is_empty() {
            let total: u64 = queued.iter().map(|&n| u64::from(n)).sum();
            crate::debug!("socket backlog: {total}");
            crate::statsd::backlog(total);
        }
    }
}
