//! Where a worker is in its life, as the master drives it: one value per worker instead of
//! loose flags, so every question the loop asks ("does it count?", "is it waiting for a
//! successor?", "was it told to stop?", "did it time out?") has one answer.
//!
//! The timeout kill is not a fourth duty but an overlay: the heartbeat check runs on every
//! worker, so a worker already being replaced or retired can time out too, and one that timed
//! out can still be replaced by a HUP or retired by a TTOU before it dies. `Aborting` therefore
//! keeps the worker's [`Duty`], which still decides whether it counts towards the number of
//! workers and whether it gets TERM once a successor has booted.

use std::time::Instant;

/// What the master has asked of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duty {
    /// Serve; counted towards the number of workers.
    Serve,
    /// Serve until a successor has booted, then retire (HUP, `worker restart`, memory limit).
    Replace,
    /// Stop (TERM sent): replaced already, or surplus. Final: a stopping worker is not
    /// asked to do anything else.
    Retire,
}

/// Where a worker is in its life, as the master drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Serving; counted towards the number of workers.
    Serving,
    /// Waiting for its replacement to boot before it is retired.
    Replacing,
    /// Told to stop (TERM): replaced already, or surplus.
    Retiring,
    /// Missed its heartbeat: the timeout kill began at `since` (SIGABRT sent), SIGKILL
    /// follows. Its death is explained as a WORKER TIMEOUT whatever `duty` says.
    Aborting { since: Instant, duty: Duty },
}

impl Lifecycle {
    /// What the master still expects of it, timed out or not.
    pub fn duty(self) -> Duty {
        match self {
            Lifecycle::Serving => Duty::Serve,
            Lifecycle::Replacing => Duty::Replace,
            Lifecycle::Retiring => Duty::Retire,
            Lifecycle::Aborting { duty, .. } => duty,
        }
    }

    /// Counted towards the number of workers: neither on its way out nor waiting for a
    /// successor. A worker that timed out keeps its place until it is reaped, so no second
    /// worker is forked while SIGABRT/SIGKILL are still on their way (Gunicorn does the same).
    pub fn is_serving(self) -> bool {
        self.duty() == Duty::Serve
    }

    /// Waiting for a successor to boot before it gets TERM.
    pub fn is_replacing(self) -> bool {
        self.duty() == Duty::Replace
    }

    /// Told to stop (TERM sent).
    pub fn is_retiring(self) -> bool {
        self.duty() == Duty::Retire
    }

    /// Timed out: SIGABRT sent, its death will be explained as a WORKER TIMEOUT.
    pub fn is_aborting(self) -> bool {
        matches!(self, Lifecycle::Aborting { .. })
    }

    /// When the timeout kill began, if it did.
    pub fn aborted_since(self) -> Option<Instant> {
        match self {
            Lifecycle::Aborting { since, .. } => Some(since),
            _ => None,
        }
    }

    /// Mark it for replacement. A retiring worker stays retiring: its TERM is already sent,
    /// so the caller has nothing to replace.
    pub fn replace(&mut self) {
        if !self.is_retiring() {
            self.set_duty(Duty::Replace);
        }
    }

    /// It was sent TERM.
    pub fn retire(&mut self) {
        self.set_duty(Duty::Retire);
    }

    /// It was sent SIGABRT at `since` for a missed heartbeat. Only the first abort counts:
    /// SIGKILL is due `worker_abort_timeout` after it.
    pub fn abort(&mut self, since: Instant) {
        if !self.is_aborting() {
            *self = Lifecycle::Aborting {
                since,
                duty: self.duty(),
            };
        }
    }

    /// A new duty; a worker that timed out stays timed out.
    fn set_duty(&mut self, duty: Duty) {
        *self = match *self {
            Lifecycle::Aborting { since, .. } => Lifecycle::Aborting { since, duty },
            _ => match duty {
                Duty::Serve => Lifecycle::Serving,
                Duty::Replace => Lifecycle::Replacing,
                Duty::Retire => Lifecycle::Retiring,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_worker_is_replaced_then_retired() {
        let mut life = Lifecycle::Serving;
        assert!(life.is_serving());
        life.replace();
        assert_eq!(life, Lifecycle::Replacing);
        assert!(!life.is_serving() && life.is_replacing());
        life.retire();
        assert_eq!(life, Lifecycle::Retiring);
        assert!(life.is_retiring() && life.aborted_since().is_none());
    }

    #[test]
    fn retiring_is_final() {
        let mut life = Lifecycle::Retiring;
        life.replace();
        assert_eq!(life, Lifecycle::Retiring);
    }

    #[test]
    fn a_timed_out_worker_keeps_its_duty_and_its_abort_time() {
        let since = Instant::now();
        let mut life = Lifecycle::Serving;
        life.abort(since);
        assert!(life.is_serving(), "it keeps its place until reaped");
        life.replace();
        assert!(life.is_replacing());
        life.retire();
        assert!(life.is_retiring());
        life.abort(Instant::now());
        assert_eq!(
            life.aborted_since(),
            Some(since),
            "SIGKILL counts from the first abort"
        );
    }

    #[test]
    fn a_retiring_worker_that_times_out_is_still_retiring() {
        let mut life = Lifecycle::Retiring;
        life.abort(Instant::now());
        assert!(life.is_retiring() && !life.is_serving());
        assert!(life.aborted_since().is_some());
    }
}
