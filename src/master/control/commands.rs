//! Each control command's effect on the master and its reply. The commands Gunicorn has behave
//! as its `ctl/handlers.py` (same reply fields); `reload`, `reopen` and `shutdown` signal the
//! master itself as Gunicorn does, so they take exactly the signal's path through the loop.

use super::book::unix_now;
use super::threads::dump_lanes;
use crate::master::dump::Answer as DumpAnswer;
use crate::master::Master;
use crate::scoreboard::now_ms;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{json, Value};
use ui::protocol::{
    Command, ConfigData, Dump, DumpData, DumpTarget, ExitCause, Hello, KillSignal, ServerAction,
    ShowTarget, ShutdownMode, WorkerAction, WorkerAdded, WorkerRemoved, WorkersData,
    PROTOCOL_VERSION,
};

/// The settings `show config` lists: Gunicorn's `config_keys`, in its order.
const CONFIG_KEYS: [&str; 19] = [
    "bind",
    "workers",
    "worker_class",
    "threads",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "max_requests",
    "max_requests_jitter",
    "worker_connections",
    "preload_app",
    "daemon",
    "pidfile",
    "proc_name",
    "reload",
    "dirty_workers",
    "dirty_apps",
    "dirty_timeout",
    "control_socket",
];

type Answer = Result<Value, String>;

fn data<T: serde::Serialize>(value: &T) -> Answer {
    serde_json::to_value(value).map_err(|e| format!("Command failed: {e}"))
}

impl Master<'_> {
    /// Run one command (not `subscribe`/`unsubscribe`, which belong to the connection).
    pub(in crate::master) fn run_command(&mut self, command: Command) -> Answer {
        match command {
            Command::Hello => data(&self.hello()),
            Command::Help => Ok(help()),
            Command::Show(target) => self.show(target),
            Command::WorkerAdd(n) => self.worker_add(n),
            Command::WorkerRemove(n) => self.worker_remove(n),
            Command::WorkerKill(pid, sig) => data(&self.worker_kill(pid, sig)),
            Command::WorkerRestart(pid) => data(&self.worker_restart(pid)),
            Command::Reload => self.signal_self(Signal::SIGHUP, "reloading", None),
            Command::Reopen => self.signal_self(Signal::SIGUSR1, "reopening", None),
            Command::Shutdown(ShutdownMode::Graceful) => {
                self.signal_self(Signal::SIGTERM, "shutting_down", Some("graceful"))
            }
            Command::Shutdown(ShutdownMode::Quick) => {
                self.signal_self(Signal::SIGINT, "shutting_down", Some("quick"))
            }
            Command::Dump(target) => data(&self.dump(target)),
            Command::Hold(pid) => data(&self.hold(pid, true)),
            Command::Release(pid) => data(&self.hold(pid, false)),
            Command::Subscribe(_) | Command::Unsubscribe => {
                Err("Command failed: subscriptions belong to the connection".into())
            }
        }
    }

    fn hello(&self) -> Hello {
        Hello {
            server: "gunicorn-rs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
            pid: self.pid.as_raw(),
            name: self.cfg.proc_name().into(),
            commands: [
                "show",
                "worker add",
                "worker remove",
                "worker kill",
                "worker restart",
                "reload",
                "reopen",
                "shutdown",
                "dump",
                "hold",
                "release",
                "subscribe",
                "unsubscribe",
                "hello",
                "help",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    fn show(&mut self, target: ShowTarget) -> Answer {
        match target {
            ShowTarget::Workers => {
                let workers = self.worker_rows();
                data(&WorkersData {
                    count: workers.len(),
                    workers,
                })
            }
            ShowTarget::Stats => {
                let rows = self.worker_rows();
                data(&self.stats(&rows))
            }
            ShowTarget::Config => data(&self.config_data()),
            ShowTarget::Listeners => data(&self.listeners_data()),
            ShowTarget::All => self.show_all(),
        }
    }

    /// Gunicorn's `show all` shape (arbiter, web workers, no dirty arbiter), with our rows.
    fn show_all(&mut self) -> Answer {
        let rows = self.worker_rows();
        let stats = self.stats(&rows);
        Ok(json!({
            "arbiter": {"pid": self.pid.as_raw(), "type": "arbiter", "role": "master"},
            "web_worker_count": rows.len(),
            "web_workers": rows,
            "dirty_arbiter": null,
            "dirty_workers": [],
            "dirty_worker_count": 0,
            "stats": stats,
        }))
    }

    fn config_data(&self) -> ConfigData {
        let mut out = ConfigData::new();
        for (name, value) in &self.cfg.values {
            if CONFIG_KEYS.contains(name) {
                out.insert((*name).to_owned(), value.to_json());
            }
        }
        // The socket actually listening (the default is one per server, not Gunicorn's path).
        let path = self.book.control_path.as_ref();
        out.insert("control_socket_disable".into(), Value::Bool(path.is_none()));
        if let Some(path) = path {
            out.insert("control_socket".into(), json!(path.display().to_string()));
        }
        out
    }

    fn worker_add(&mut self, n: u32) -> Answer {
        let previous = self.num_workers;
        self.set_num_workers(previous + n as usize);
        self.workers_target_changed(previous);
        data(&WorkerAdded {
            added: n,
            previous: previous as u32,
            total: self.num_workers as u32,
        })
    }

    /// Gunicorn never goes below one worker.
    fn worker_remove(&mut self, n: u32) -> Answer {
        let previous = self.num_workers;
        let total = previous.saturating_sub(n as usize).max(1);
        self.set_num_workers(total);
        self.workers_target_changed(previous);
        data(&WorkerRemoved {
            removed: (previous - total.min(previous)) as u32,
            previous: previous as u32,
            total: total as u32,
        })
    }

    fn workers_target_changed(&mut self, previous: usize) {
        self.book.event(ui::protocol::Event::WorkersTarget {
            previous: previous as u32,
            total: self.num_workers as u32,
        });
    }

    fn worker_index(&self, pid: i32) -> Result<usize, WorkerAction> {
        self.workers
            .iter()
            .position(|w| w.pid.as_raw() == pid)
            .ok_or_else(|| failed(format!("Worker {pid} not found")))
    }

    /// `worker kill PID [KILL]`: the master respawns it (Gunicorn sends TERM only).
    fn worker_kill(&mut self, pid: i32, sig: KillSignal) -> WorkerAction {
        let index = match self.worker_index(pid) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let signal = match sig {
            KillSignal::Term => Signal::SIGTERM,
            KillSignal::Kill => Signal::SIGKILL,
        };
        self.workers[index].stop_cause = Some(ExitCause::Stopped);
        match nix::sys::signal::kill(Pid::from_raw(pid), signal) {
            Ok(()) => {
                self.book.killed += 1;
                WorkerAction {
                    success: true,
                    killed: Some(pid),
                    ..WorkerAction::default()
                }
            }
            Err(e) => failed(e.desc().to_owned()),
        }
    }

    /// `worker restart PID`: the HUP mechanism for one worker — its successor is spawned
    /// first, and it gets TERM once the successor has booted (`maintain_worker_count`).
    fn worker_restart(&mut self, pid: i32) -> WorkerAction {
        match self.worker_index(pid) {
            Ok(i) if self.workers[i].lifecycle.is_retiring() => {
                failed(format!("Worker {pid} is already stopping"))
            }
            Ok(i) => {
                self.workers[i].lifecycle.replace();
                self.workers[i].stop_cause = Some(ExitCause::Restarted);
                crate::info!("Worker (pid:{pid}) restart requested: replacing it");
                acted(pid)
            }
            Err(e) => e,
        }
    }

    /// `hold PID`: no timeout kill while someone debugs it; `release PID` starts the clock
    /// again from now (a worker overdue while held is not killed at once).
    fn hold(&mut self, pid: i32, held: bool) -> WorkerAction {
        let index = match self.worker_index(pid) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let worker = &mut self.workers[index];
        worker.held = held;
        if !held {
            worker.grace_from_ms = now_ms();
        }
        // The worker's own --request-timeout watchdog reads this.
        if let Some(slot) = self.scoreboard.slot(worker.slot) {
            slot.set_held(held);
        }
        let verb = if held {
            "held: no timeout kill"
        } else {
            "released"
        };
        crate::info!("Worker (pid:{pid}) {verb}");
        acted(pid)
    }

    fn signal_self(&mut self, sig: Signal, status: &str, mode: Option<&str>) -> Answer {
        nix::sys::signal::kill(self.pid, sig).map_err(|e| format!("Command failed: {e}"))?;
        data(&ServerAction {
            status: status.into(),
            mode: mode.map(String::from),
        })
    }

    /// `dump PID|all`: each worker's Python stacks (faulthandler through its memfd, answered
    /// even while C code holds the GIL) and the request it is serving — every thread's, for a
    /// threaded worker (each greenlet's, for a greenlet worker), each named by the identity its
    /// stack has in the dump.
    pub(in crate::master) fn dump(&mut self, target: DumpTarget) -> DumpData {
        let pids: Vec<i32> = match target {
            DumpTarget::Pid(pid) => vec![pid],
            DumpTarget::All => self.workers.iter().map(|w| w.pid.as_raw()).collect(),
        };
        let mut dumps: Vec<Dump> = pids.iter().map(|&pid| self.dump_entry(pid)).collect();
        // Every ready worker is signalled first, then one wait covers them all.
        let ready: Vec<(usize, (usize, i32))> = dumps
            .iter()
            .enumerate()
            .filter(|(_, d)| d.error.is_none())
            .filter_map(|(i, d)| Some((i, (d.slot? as usize, d.pid))))
            .collect();
        // A greenlet worker's hub adds the stack of every request's greenlet; faulthandler
        // alone shows only the greenlet that runs. Each worker by its own class (a reload
        // may have changed `-k` while old workers still serve).
        let targets: Vec<(usize, i32, DumpAnswer)> = ready
            .iter()
            .map(|(_, (slot, pid))| (*slot, *pid, self.dump_answer(*pid)))
            .collect();
        let stacks = self.dumps.dump_many(&targets, self.cfg.dump_signal);
        for ((i, _), result) in ready.iter().zip(stacks) {
            match result {
                Ok(stack) if !stack.trim().is_empty() => dumps[*i].stack = stack,
                Ok(_) => dumps[*i].error = Some("no stack written within the dump wait".into()),
                Err(e) => dumps[*i].error = Some(e.to_string()),
            }
        }
        DumpData { dumps }
    }

    fn dump_answer(&self, pid: i32) -> DumpAnswer {
        let class = self.workers.iter().find(|w| w.pid.as_raw() == pid);
        DumpAnswer::of(class.map_or(self.cfg.worker_class, |w| w.class))
    }

    /// A dump's request, threads, kind and slot, or why the worker cannot be dumped.
    fn dump_entry(&self, pid: i32) -> Dump {
        let mut dump = Dump {
            pid,
            at: Some(unix_now()),
            ..Dump::default()
        };
        let Some(worker) = self.workers.iter().find(|w| w.pid.as_raw() == pid) else {
            dump.error = Some(format!("Worker {pid} not found"));
            return dump;
        };
        dump.slot = Some(worker.slot as u32);
        dump.kind = worker.class.name().to_owned();
        let snap = self.scoreboard.snapshot(worker.slot);
        if let Some(snap) = &snap {
            dump_lanes(&mut dump, snap, now_ms(), self.request_limit(worker));
        }
        if !snap.as_ref().is_some_and(|s| s.dump_ready) {
            dump.error = Some("the worker has not installed its dump handler yet".into());
        }
        dump
    }
}

fn failed(error: String) -> WorkerAction {
    WorkerAction {
        success: false,
        error: Some(error),
        ..WorkerAction::default()
    }
}

fn acted(pid: i32) -> WorkerAction {
    WorkerAction {
        success: true,
        pid: Some(pid),
        ..WorkerAction::default()
    }
}

/// Gunicorn's `help` reply shape: `{"commands": {usage: description}}`.
fn help() -> Value {
    json!({"commands": {
        "show all": "Show the master and every worker",
        "show workers": "List workers: state, current request, counters, latency, CPU, RSS",
        "show config": "Show current effective configuration",
        "show stats": "Show server statistics",
        "show listeners": "Show bound sockets",
        "worker add [N]": "Spawn N workers (default 1)",
        "worker remove [N]": "Remove N workers (default 1)",
        "worker kill <PID> [KILL]": "Terminate a worker (TERM, or KILL); it is respawned",
        "worker restart <PID>": "Replace a worker: the new one boots before the old one stops",
        "dump <PID>|all": "Python stacks of all threads of a worker, with its request",
        "hold <PID>": "No timeout kill for this worker while you debug it",
        "release <PID>": "Undo hold; the timeout starts again from now",
        "subscribe [snapshots=MS] [events] [logs]": "Pushed snapshots, events and log lines",
        "unsubscribe": "Stop pushes",
        "reload": "Graceful reload (HUP)",
        "reopen": "Reopen log files (USR1)",
        "shutdown [graceful|quick]": "Shutdown server (TERM/INT)",
        "hello": "Protocol version and capabilities",
        "help": "Show this help message",
    }})
}
