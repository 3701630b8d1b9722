//! Reaping dead workers (explaining every death) and murdering stuck ones (the heartbeat).

use super::{Master, Phase, Worker, APP_LOAD_ERROR, WORKER_BOOT_ERROR};
use crate::scoreboard::{now_ms, ExitReason, SlotSnapshot};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::time::Instant;
use ui::protocol::ExitCause;

impl Master<'_> {
    /// Collect every exited child; log why it died; free its slot.
    pub(super) fn reap_workers(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.worker_exited(pid, Some(code), None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.worker_exited(pid, None, Some(sig)),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }

    fn worker_exited(&mut self, pid: nix::unistd::Pid, code: Option<i32>, sig: Option<Signal>) {
        if self.reexec_child_exited(pid) {
            return;
        }
        let Some(index) = self.workers.iter().position(|w| w.pid == pid) else {
            return crate::debug!(
                "Reaped unknown child process (pid:{pid}, status:{code:?}{sig:?})"
            );
        };
        let worker = self.workers.swap_remove(index);
        let view = self.worker_view(&worker);
        self.logs.worker_exited(pid.as_raw());
        let snap = self.scoreboard.snapshot(worker.slot);
        let (reason, requests) = snap
            .as_ref()
            .map_or((ExitReason::Unknown, 0), |s| (s.exit_reason, s.requests));
        if let Some(slot) = self.slot(worker.slot) {
            slot.release();
        }
        let stopping = matches!(self.phase, Phase::Stopping { .. });
        let death = Death {
            code,
            sig,
            timed_out: worker.lifecycle.is_aborting(),
            // The master's own SIGKILLs: end of the graceful timeout, or a halt.
            killed_by_master: stopping || self.halt.is_some(),
            on_request: worker.stop_cause == Some(ExitCause::Stopped),
            reason,
            requests,
        };
        log_death(pid, &death);
        self.record_death(&worker, &death, snap.as_ref());
        if let Some(code) = code.filter(|_| !stopping) {
            if code == WORKER_BOOT_ERROR {
                self.halt = Some((code, "Worker failed to boot."));
            } else if code == APP_LOAD_ERROR {
                self.halt = Some((code, "App failed to load."));
            }
        }
        self.hooks.child_exit(&self.view(), &view);
    }

    /// Remember how the slot's worker ended (for `show workers` and the dashboard's
    /// post-mortem) and tell subscribers.
    fn record_death(&mut self, worker: &Worker, death: &Death, snap: Option<&SlotSnapshot>) {
        let reason = ui::protocol::ExitReason {
            cause: exit_cause(worker, death),
            code: death.code,
            signal: death.sig.map(|s| s as i32),
            at: Some(super::control::unix_now()),
        };
        self.book.worker_died(reason.cause, snap);
        self.book.cpu.remove(&worker.pid.as_raw());
        self.book.slot(worker.slot).last_exit = Some(reason.clone());
        let last_request = snap
            .and_then(|s| s.request.as_ref())
            .map(|r| super::control::request_info(r, now_ms()));
        self.book.event(ui::protocol::Event::WorkerExited {
            slot: worker.slot as u32,
            pid: worker.pid.as_raw(),
            reason,
            last_request,
        });
    }

    /// The heartbeat check (Gunicorn's `murder_workers`): a worker silent for longer than
    /// `timeout` is explained (request, stacks, last output), gets SIGABRT (so `worker_abort`
    /// can run), and SIGKILL if it is still there `worker_abort_timeout` later.
    pub(super) fn murder_workers(&mut self) {
        let Some(timeout) = self.cfg.timeout else {
            return;
        };
        let now = now_ms();
        let limit = timeout.as_millis() as u64;
        for i in 0..self.workers.len() {
            let (pid, slot, aborted) = (
                self.workers[i].pid,
                self.workers[i].slot,
                self.workers[i].lifecycle.aborted_since(),
            );
            if self.workers[i].held {
                continue;
            }
            let Some(beat) = self.slot(slot).map(|s| s.last_heartbeat_ms()) else {
                continue;
            };
            let last = beat.max(self.workers[i].grace_from_ms);
            if now.saturating_sub(last) <= limit {
                continue;
            }
            match aborted {
                None => {
                    self.book.timeouts += 1;
                    self.explain_timeout(i);
                    self.workers[i].lifecycle.abort(Instant::now());
                    let _ = nix::sys::signal::kill(pid, Signal::SIGABRT);
                }
                Some(at) if at.elapsed() >= self.cfg.worker_abort_timeout => {
                    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                }
                Some(_) => {}
            }
        }
    }

    /// SIGKILL was sent to everyone: block until every worker is reaped.
    pub(super) fn wait_for_all(&mut self) {
        while !self.workers.is_empty() {
            match waitpid(None, None) {
                Ok(WaitStatus::Exited(pid, code)) => self.worker_exited(pid, Some(code), None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.worker_exited(pid, None, Some(sig)),
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
}

/// The protocol's word for a death: the master's own reasons first (it knows why it asked),
/// then the worker's (written into its slot), then the exit status.
fn exit_cause(worker: &Worker, d: &Death) -> ExitCause {
    match (d.code, d.reason, worker.stop_cause) {
        _ if d.timed_out => ExitCause::Timeout,
        (Some(WORKER_BOOT_ERROR), ..) => ExitCause::BootError,
        (Some(APP_LOAD_ERROR), ..) => ExitCause::AppLoadError,
        (_, ExitReason::Recycled, _) => ExitCause::MaxRequests,
        (.., Some(cause)) => cause,
        _ if d.killed_by_master => ExitCause::Shutdown,
        (None, ..) => ExitCause::Crashed,
        (Some(_), ..) => ExitCause::Exited,
    }
}

/// How a worker ended, as the master knows it.
struct Death {
    code: Option<i32>,
    sig: Option<Signal>,
    /// Killed for a missed heartbeat (WORKER TIMEOUT).
    timed_out: bool,
    killed_by_master: bool,
    /// Signalled because a control client asked (`worker kill PID [KILL]`).
    on_request: bool,
    reason: ExitReason,
    requests: u64,
}

/// Every death gets a line that says why (Gunicorn #2762); "Perhaps out of memory?" only for
/// a SIGKILL nobody here sent (Gunicorn says it after its own timeout kill too).
fn log_death(pid: nix::unistd::Pid, d: &Death) {
    let said = match d.reason {
        ExitReason::Unknown => String::new(),
        reason => format!(" Exit reason: {}.", reason.describe()),
    };
    match (d.code, d.sig) {
        (Some(code), _) if d.timed_out => crate::error!(
            "Worker (pid:{pid}) exited with code {code} after WORKER TIMEOUT (SIGABRT)."
        ),
        (Some(0), _) => match d.reason {
            ExitReason::Recycled => crate::info!(
                "Worker (pid:{pid}) recycled after {} requests (max_requests).",
                d.requests
            ),
            ExitReason::ParentGone => {
                crate::info!("Worker (pid:{pid}) exited: its master went away.")
            }
            _ => crate::debug!("Worker (pid:{pid}) exited.{said}"),
        },
        (Some(code), _) => crate::error!("Worker (pid:{pid}) exited with code {code}.{said}"),
        (None, Some(sig)) if d.timed_out => crate::error!(
            "Worker (pid:{pid}) was killed ({}) after WORKER TIMEOUT.",
            sig.as_str()
        ),
        (None, Some(Signal::SIGKILL)) if d.killed_by_master => crate::warning!(
            "Worker (pid:{pid}) was killed (SIGKILL) by the master: it did not stop in time."
        ),
        // Not the kernel's OOM killer: someone asked for it.
        (None, Some(Signal::SIGKILL)) if d.on_request => {
            crate::info!("Worker (pid:{pid}) was killed (SIGKILL) on request (worker kill).")
        }
        (None, Some(Signal::SIGKILL)) => {
            crate::error!("Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?")
        }
        (None, Some(Signal::SIGTERM)) => crate::info!("Worker (pid:{pid}) was sent SIGTERM!"),
        (None, Some(sig)) => crate::error!("Worker (pid:{pid}) was sent {}!{said}", sig.as_str()),
        (None, None) => {}
    }
}
