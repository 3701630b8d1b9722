//! The one `fork(2)`, and keeping the number of workers.

use super::{signals, Master, Worker, WorkerContext};
use nix::sys::signal::Signal;
use nix::unistd::{fork, ForkResult};

impl Master<'_> {
    /// Spawn or retire workers until `num_workers` booted, serving workers run; retire a
    /// worker marked for replacement (HUP) only once enough new ones have booted.
    pub(super) fn maintain_worker_count(&mut self) {
        let current = || {
            self.workers
                .iter()
                .filter(|w| w.lifecycle.is_serving())
                .count()
        };
        let mut missing = self.num_workers.saturating_sub(current());
        while missing > 0 {
            if !self.spawn_worker() {
                break;
            }
            missing -= 1;
        }
        let booted = self
            .workers
            .iter()
            .filter(|w| w.lifecycle.is_serving() && self.is_booted(w))
            .count();
        let replaceable: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].lifecycle.is_replacing())
            .collect();
        // Keep at least `num_workers` booted workers serving: a worker recycled alone
        // (`--max-worker-memory`) waits for its own successor, not for its healthy siblings.
        let retirable = (booted + replaceable.len()).saturating_sub(self.num_workers);
        for &i in replaceable.iter().take(retirable) {
            self.retire(i);
        }
        // Surplus (TTOU): retire the oldest first, as Gunicorn does.
        let mut active: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].lifecycle.is_serving())
            .collect();
        active.sort_by_key(|&i| self.workers[i].age);
        let surplus = active.len().saturating_sub(self.num_workers);
        for &i in active.iter().take(surplus) {
            let cause = &mut self.workers[i].stop_cause;
            cause.get_or_insert(ui::protocol::ExitCause::Removed);
            self.retire(i);
        }
    }

    pub(super) fn is_booted(&self, worker: &Worker) -> bool {
        self.slot(worker.slot)
            .is_some_and(|s| s.state() != crate::scoreboard::WorkerState::Booting)
    }

    fn retire(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        worker.lifecycle.retire();
        let _ = nix::sys::signal::kill(worker.pid, Signal::SIGTERM);
        self.book.killed += 1;
    }

    /// Fork one worker. The child never returns from here: it runs the worker entry and
    /// ends in `process::exit` (Pitfalls §4: a child that unwinds runs the parent's code).
    fn spawn_worker(&mut self) -> bool {
        let Some(slot_index) = self.scoreboard.free_slot() else {
            crate::error!("No free scoreboard slot for a new worker");
            return false;
        };
        self.last_age += 1;
        let age = self.last_age;
        if let Some(slot) = self.slot(slot_index) {
            slot.claim(-1);
        }
        let dump_fd = self.dumps.prepare(slot_index);
        if let Err(e) = &dump_fd {
            crate::warning!("No stack dumps for the next worker: {e}");
        }
        let ends = match self.logs.prepare(slot_index) {
            Ok(ends) => ends,
            Err(e) => {
                crate::error!("Cannot create a worker's log pipes: {e}");
                if let Some(slot) = self.slot(slot_index) {
                    slot.release();
                }
                return false;
            }
        };
        let booting = super::WorkerView {
            pid: None,
            age,
            booted: false,
            aborted: false,
        };
        self.hooks.pre_fork(&self.view(), &booting);
        let mask = signals::block_all();
        self.hooks.before_fork();
        // SAFETY: the master is single-threaded (DESIGN §1): no other thread can hold a lock
        // the child would inherit held. The child only runs the worker entry and exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                self.logs.attach_child(&ends);
                self.close_in_child(slot_index);
                self.run_child(slot_index, age, &mask, dump_fd.ok())
            }
            Ok(ForkResult::Parent { child }) => {
                self.hooks.after_fork_parent();
                signals::restore_mask(&mask);
                self.logs.started(slot_index, Some(child.as_raw()), ends);
                self.adopt_child(child, slot_index, age);
                true
            }
            Err(e) => {
                self.hooks.after_fork_parent();
                signals::restore_mask(&mask);
                self.logs.started(slot_index, None, ends);
                if let Some(slot) = self.slot(slot_index) {
                    slot.release();
                }
                crate::error!("Cannot fork a worker: {e}");
                false
            }
        }
    }

    /// In a new worker: the master's own descriptors that the worker must not hold (another
    /// worker's stack-dump pipe, the control and metrics listeners).
    fn close_in_child(&self, slot_index: usize) {
        self.dumps.close_in_child(slot_index);
        if let Some(server) = &self.control {
            server.close_in_child();
        }
        if let Some(server) = &self.metrics {
            server.close_in_child();
        }
    }

    fn worker_spawned(&mut self, slot: usize, pid: i32) {
        self.book.spawned += 1;
        self.book.slot(slot).spawned += 1;
        let generation = self.book.generation;
        self.book.event(ui::protocol::Event::WorkerSpawned {
            slot: slot as u32,
            pid,
            generation,
        });
    }

    /// The parent's half of a fork: the new worker goes into the table and its slot.
    fn adopt_child(&mut self, child: nix::unistd::Pid, slot_index: usize, age: u64) {
        if let Some(slot) = self.slot(slot_index) {
            slot.set_pid(child.as_raw());
        }
        self.workers.push(Worker {
            pid: child,
            slot: slot_index,
            age,
            lifecycle: super::lifecycle::Lifecycle::Serving,
            generation: self.book.generation,
            class: self.cfg.worker_class,
            held: false,
            grace_from_ms: 0,
            stop_cause: None,
        });
        self.worker_spawned(slot_index, child.as_raw());
    }

    fn run_child(
        &self,
        slot_index: usize,
        age: u64,
        mask: &nix::sys::signal::SigSet,
        dump_fd: Option<std::os::fd::RawFd>,
    ) -> ! {
        self.hooks.after_fork_child();
        signals::reset_in_child();
        self.signals.close_in_child();
        // Signals stay blocked until the worker has its own handlers (it restores `mask`
        // then): a TERM in between would otherwise kill it with the default action.
        let cfg = &self.cfg;
        if let Err(e) = super::daemon::set_owner_process(cfg.uid, cfg.gid, cfg.initgroups) {
            crate::error!("Cannot switch to user {} / group {}: {e}", cfg.uid, cfg.gid);
            std::process::exit(super::WORKER_BOOT_ERROR);
        }
        let code = match self.slot(slot_index) {
            Some(slot) => {
                slot.set_pid(nix::unistd::getpid().as_raw());
                let ctx = WorkerContext {
                    signal_mask: *mask,
                    config: &self.cfg,
                    listeners: &self.listeners,
                    slot,
                    board: &self.scoreboard,
                    age,
                    master_pid: self.pid,
                    dump_fd,
                };
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.entry)(ctx)))
                    .unwrap_or(super::WORKER_BOOT_ERROR)
            }
            None => super::WORKER_BOOT_ERROR,
        };
        std::process::exit(code)
    }
}
