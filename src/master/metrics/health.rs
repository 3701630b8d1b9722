//! `/healthz` and `/readyz`, for Kubernetes' probes and load balancers (issue 11): 200 or 503
//! with a one-line reason.
//!
//! - Liveness asks "should this server be restarted?". The master answering at all says its
//!   loop turns; what it cannot fix itself is every worker going silent: one stuck worker is
//!   the master's to kill and replace (`--timeout`), so a single one does not fail the probe
//!   (a restart of the pod would only drop the healthy siblings' requests too).
//! - Readiness asks "should traffic come here?": not before a worker serves, and not once a
//!   stop began — at once on TERM, during `--shutdown-delay`, so the endpoint is removed while
//!   the listeners still accept.

use crate::master::{Master, Phase};
use crate::scoreboard::now_ms;

impl Master<'_> {
    /// `(healthy, reason)`: unhealthy when there are workers and none of them has heartbeat
    /// within `--timeout` (held ones count as alive: someone is debugging them).
    pub(super) fn liveness(&self) -> (bool, String) {
        let Some(timeout) = self.cfg.timeout else {
            return (true, "ok".into());
        };
        let now = now_ms();
        let limit = timeout.as_millis() as u64;
        let silent = self
            .workers
            .iter()
            .filter(|w| !w.held)
            .filter(|w| {
                self.slot(w.slot).is_some_and(|s| {
                    let last = s.last_heartbeat_ms().max(w.grace_from_ms);
                    now.saturating_sub(last) > limit
                })
            })
            .count();
        if silent > 0 && silent == self.workers.len() {
            let why = format!(
                "all {silent} workers silent for more than {}s (--timeout)",
                timeout.as_secs()
            );
            return (false, why);
        }
        (true, "ok".into())
    }

    /// `(ready, reason)`.
    pub(super) fn readiness(&self) -> (bool, String) {
        match self.phase {
            Phase::Draining { .. } => (false, "draining".into()),
            Phase::Stopping { .. } => (false, "stopping".into()),
            Phase::Running if self.serving_workers() == 0 => {
                (false, "booting: no worker serves yet".into())
            }
            Phase::Running => (true, "ready".into()),
        }
    }

    /// Booted workers that take new requests (not retiring, not being killed).
    pub(super) fn serving_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| !w.lifecycle.is_retiring() && !w.lifecycle.is_aborting())
            .filter(|w| self.is_booted(w))
            .count()
    }
}
