//! Reaping dead workers (explaining every death) and murdering stuck ones (the heartbeat).

use super::{Master, Phase, APP_LOAD_ERROR, WORKER_BOOT_ERROR};
use crate::scoreboard::now_ms;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::time::{Duration, Instant};

/// After SIGABRT, how long a timed-out worker gets before SIGKILL (Gunicorn: the next pass).
const ABORT_GRACE: Duration = Duration::from_secs(1);

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
        if let Some(slot) = self.slot(worker.slot) {
            slot.release();
        }
        let stopping = matches!(self.phase, Phase::Stopping { .. });
        match (code, sig) {
            (Some(0), _) => {}
            (Some(code), _) => {
                crate::error!("Worker (pid:{pid}) exited with code {code}.");
                if code == WORKER_BOOT_ERROR && !stopping {
                    self.halt = Some((code, "Worker failed to boot."));
                } else if code == APP_LOAD_ERROR && !stopping {
                    self.halt = Some((code, "App failed to load."));
                }
            }
            (None, Some(Signal::SIGKILL)) if worker.aborted.is_some() => {
                crate::error!("Worker (pid:{pid}) was killed (SIGKILL) after WORKER TIMEOUT");
            }
            (None, Some(Signal::SIGKILL)) => {
                crate::error!("Worker (pid:{pid}) was sent SIGKILL! Perhaps out of memory?")
            }
            (None, Some(Signal::SIGTERM)) => crate::info!("Worker (pid:{pid}) was sent SIGTERM!"),
            (None, Some(sig)) => crate::warning!("Worker (pid:{pid}) was sent {}!", sig.as_str()),
            (None, None) => {}
        }
        self.hooks.child_exit(&self.view(), &view);
    }

    /// The heartbeat check (Gunicorn's `murder_workers`): a worker silent for longer than
    /// `timeout` gets SIGABRT, and SIGKILL if it is still there a second later.
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
                self.workers[i].aborted,
            );
            let Some(last) = self.slot(slot).map(|s| s.last_heartbeat_ms()) else {
                continue;
            };
            if now.saturating_sub(last) <= limit {
                continue;
            }
            match aborted {
                None => {
                    crate::critical!("WORKER TIMEOUT (pid:{pid})");
                    self.workers[i].aborted = Some(Instant::now());
                    let _ = nix::sys::signal::kill(pid, Signal::SIGABRT);
                }
                Some(at) if at.elapsed() >= ABORT_GRACE => {
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
