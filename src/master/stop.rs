//! Stopping: TERM/INT/QUIT, refusing new clients, halting with an exit code; and the other
//! signals that act on every worker at once (HUP's reload, USR1, WINCH).

use super::{Master, Phase};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};
use ui::protocol::{Event, ExitCause};

impl Master<'_> {
    /// TERM (`--shutdown-delay`, gunicorn-rs only): readiness fails at once while the
    /// listeners accept and the workers serve for the delay; then the graceful stop. Kubernetes
    /// sends TERM and removes the pod from its Service's endpoints at the same time, but the
    /// load balancers and kube-proxies act on that seconds later: a server that stops
    /// listening at once refuses the requests still routed to it. Only TERM (Kubernetes' and
    /// systemd's signal); INT and QUIT stay quick stops, and a second TERM ends the delay.
    pub(super) fn begin_shutdown_delay(&mut self) {
        let delay = self.cfg.shutdown_delay;
        if delay.is_zero() || self.phase != Phase::Running {
            return self.stop(true);
        }
        crate::info!(
            "Shutdown delay: not ready, still serving for {}s before the graceful stop",
            delay.as_secs()
        );
        self.phase = Phase::Draining {
            until: Instant::now() + delay,
        };
    }

    /// The delay is over: the graceful stop begins.
    pub(super) fn end_shutdown_delay(&mut self) {
        if let Phase::Draining { until } = self.phase {
            if Instant::now() >= until {
                crate::info!("Shutdown delay over: stopping gracefully");
                self.stop(true);
            }
        }
    }

    /// TERM: graceful (workers finish what they serve); INT/QUIT: quick.
    pub(super) fn stop(&mut self, graceful: bool) {
        if let Phase::Stopping {
            graceful: false, ..
        } = self.phase
        {
            return;
        }
        if let Phase::Stopping { graceful: true, .. } = self.phase {
            if graceful {
                return;
            }
            crate::info!("Quick shutdown requested");
        }
        self.close_listeners();
        let mode = if graceful { "graceful" } else { "quick" };
        self.book.event(Event::Shutdown { mode: mode.into() });
        for worker in &mut self.workers {
            worker.stop_cause = Some(ExitCause::Shutdown);
        }
        let deadline = Instant::now()
            + if graceful {
                self.cfg.graceful_timeout
            } else {
                self.cfg.graceful_timeout.min(Duration::from_secs(2))
            };
        self.phase = Phase::Stopping { graceful, deadline };
        self.kill_all(if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGQUIT
        });
    }

    /// Refuse new clients at once: `shutdown(2)` on a listening socket stops it listening for
    /// every process that shares it, so nobody is left waiting in the backlog. Not when another
    /// master (USR2) or systemd shares the sockets: then only our descriptors close.
    pub(super) fn close_listeners(&mut self) {
        let shared = self.upgrade.shares_listeners();
        for listener in self.listeners.drain(..) {
            if !shared {
                let _ =
                    nix::sys::socket::shutdown(listener.raw_fd(), nix::sys::socket::Shutdown::Both);
                listener.unlink();
            }
        }
    }

    /// WINCH (Gunicorn): a daemonized master stops its workers but keeps the listeners, e.g.
    /// to leave a USR2 child serving alone while keeping the old master for a rollback (HUP).
    pub(super) fn handle_winch(&mut self) {
        if !self.cfg.daemon {
            return crate::debug!("SIGWINCH ignored. Not daemonized");
        }
        crate::info!("graceful stop of workers");
        self.set_num_workers(0);
        self.kill_all(Signal::SIGTERM);
    }

    /// HUP: a new generation of workers; each old one retires once a replacement has booted,
    /// so no request is refused (the listeners stay open throughout).
    pub(super) fn reload(&mut self) {
        crate::info!("Hang up: Master");
        self.reload_config();
        self.hooks.on_reload(&self.view());
        self.book.generation += 1;
        let generation = self.book.generation;
        self.book.event(Event::Reload { generation });
        for worker in self
            .workers
            .iter_mut()
            .filter(|w| !w.lifecycle.is_retiring())
        {
            worker.lifecycle.replace();
            worker.stop_cause = Some(ExitCause::Reload);
        }
    }

    pub(super) fn reopen_logs(&mut self) {
        self.book.event(Event::Reopen);
        if let Err(e) = crate::log::reopen() {
            crate::error!("Cannot reopen log files: {e}");
        }
        self.kill_all(Signal::SIGUSR1);
    }

    pub(super) fn kill_all(&mut self, sig: Signal) {
        for worker in &self.workers {
            let _ = nix::sys::signal::kill(worker.pid, sig);
        }
        if matches!(sig, Signal::SIGTERM | Signal::SIGKILL) {
            // Gunicorn's `workers_killed` counts TERMs and KILLs.
            self.book.killed += self.workers.len() as u64;
        }
    }

    pub(super) fn halt_with(mut self, code: i32, reason: Option<&str>) -> i32 {
        if !self.workers.is_empty() {
            self.close_listeners();
            self.kill_all(Signal::SIGTERM);
            let deadline = Instant::now() + self.cfg.graceful_timeout;
            while !self.workers.is_empty() && Instant::now() < deadline {
                self.sleep();
                self.reap_workers();
            }
            self.kill_all(Signal::SIGKILL);
            self.wait_for_all();
        }
        self.close_listeners();
        if code == 0 {
            crate::info!("Shutting down: Master");
        } else {
            crate::error!("Shutting down: Master");
        }
        if let Some(reason) = reason {
            crate::error!("Reason: {reason}");
        }
        if let Some(pidfile) = &self.pidfile {
            pidfile.unlink();
        }
        if let Some(server) = self.control.take() {
            server.close();
        }
        self.hooks.on_exit(&self.view());
        code
    }
}
