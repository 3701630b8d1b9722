//! The master ("arbiter"): binds nothing itself (main hands it the listeners), forks the
//! workers and keeps their number, and turns signals into actions.
//!
//! ONE thread, one poll loop, no async runtime, never draws (DESIGN.md §1, §3). Knows config, sockets,
//! the scoreboard and processes — not HTTP, not WSGI, not Python: the worker entry point and
//! the fork hooks are handed in by `main`. The loop reads as Gunicorn's arbiter:
//! `sleep → handle signals → reap_workers → murder_workers → maintain_worker_count`.

mod control;
pub mod daemon;
pub mod dump;
mod hooks;
mod lifecycle;
pub mod lifeline;
mod logpipe;
pub(crate) mod memory;
mod metrics;
mod pidfile;
mod reap;
mod reload;
mod signals;
mod spawn;
mod statsd;
mod stop;
mod systemd;
mod timeout;
pub mod upgrade;

use crate::config::Config;
use crate::scoreboard::{Scoreboard, Slot};
use crate::sock::Listener;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::Instant;

pub use hooks::{NoHooks, ServerHooks, ServerView, WorkerView};
pub use signals::{block_all, restore_mask};

/// A worker that failed to boot: the master halts with this code instead of respawning.
pub const WORKER_BOOT_ERROR: i32 = 3;
/// A worker that could not load the app: the master halts with this code.
pub const APP_LOAD_ERROR: i32 = 4;

/// What the master calls around `fork(2)` without knowing what it is for (CPython's
/// `PyOS_BeforeFork` / `PyOS_AfterFork_*`, wired in by `main`).
pub trait ForkHooks {
    fn before_fork(&self);
    fn after_fork_parent(&self);
    fn after_fork_child(&self);
}

/// Everything a new worker process starts with.
pub struct WorkerContext<'a> {
    pub config: &'a Config,
    pub listeners: &'a [Listener],
    pub slot: &'a Slot,
    /// Every worker's slot: what a worker reads of its siblings (their open connections).
    pub board: &'a Scoreboard,
    /// Spawn counter: older workers have smaller ages (Gunicorn's `worker.age`).
    pub age: u64,
    pub master_pid: Pid,
    /// The slot's stack-dump memfd, for `faulthandler.register` (DESIGN §6).
    pub dump_fd: Option<std::os::fd::RawFd>,
    /// The signal mask to restore once the worker's handlers are installed (until then the
    /// child keeps every signal blocked, as the master had it around `fork`).
    pub signal_mask: nix::sys::signal::SigSet,
}

/// The worker's main; its return value is the process exit code.
pub type WorkerEntry<'a> = &'a dyn Fn(WorkerContext<'_>) -> i32;

/// Reads the configuration again (HUP), from the same sources as at start.
pub type ConfigReloader<'a> = &'a dyn Fn() -> Result<Config, String>;

/// The master's handle on one worker process.
#[derive(Debug, Clone)]
struct Worker {
    pid: Pid,
    slot: usize,
    age: u64,
    /// Serving, replacing, retiring, or timed out (see `lifecycle.rs`).
    lifecycle: lifecycle::Lifecycle,
    /// The reload generation it was spawned in.
    generation: u64,
    /// Its worker class: a reload may change `-k`, and the old workers still serve as before.
    class: crate::config::WorkerClass,
    /// `hold PID`: no timeout kill while someone debugs it.
    held: bool,
    /// `release PID`: the heartbeat clock counts from here at the earliest (monotonic ms).
    grace_from_ms: u64,
    /// Why the master asked it to stop, for its exit reason.
    stop_cause: Option<ui::protocol::ExitCause>,
}

/// Where the master is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// TERM with `--shutdown-delay`: everything serves as before, but readiness fails, until
    /// `until`; then the graceful stop begins.
    Draining {
        until: Instant,
    },
    /// Workers were told to stop; SIGKILL for the rest at `deadline`.
    Stopping {
        graceful: bool,
        deadline: Instant,
    },
}

/// The master process.
pub struct Master<'a> {
    cfg: Config,
    listeners: Vec<Listener>,
    scoreboard: Scoreboard,
    hooks: &'a dyn ServerHooks,
    entry: WorkerEntry<'a>,
    signals: signals::SignalQueue,
    workers: Vec<Worker>,
    num_workers: usize,
    last_age: u64,
    phase: Phase,
    /// Set when a worker exits with a boot or app-load error: halt with it.
    halt: Option<(i32, &'static str)>,
    pid: Pid,
    /// Workers' fds 1 and 2, drained in `sleep`.
    logs: logpipe::LogPipes,
    dumps: dump::DumpFiles,
    config_reloader: Option<ConfigReloader<'a>>,
    /// USR2 hand-over state, the pidfile, `Type=notify` and `--max-worker-memory`.
    upgrade: upgrade::Upgrade,
    pidfile: Option<pidfile::Pidfile>,
    notify: systemd::Notifier,
    memory: memory::MemoryWatch,
    /// The control socket (DESIGN §5), `None` when off or when it could not be opened.
    control: Option<control::ControlServer>,
    book: control::Book,
    /// `--metrics-bind`: /metrics, /healthz, /readyz (`None` when off).
    metrics: Option<metrics::MetricsServer>,
    /// The `--tui` dashboard's pipe, until it detaches (see `lifeline.rs`).
    lifeline: Option<lifeline::Lifeline>,
    /// What was last sent to statsd (`--statsd-host`).
    reporter: statsd::Reporter,
}

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("cannot set up the master: {0}")]
    Setup(#[from] std::io::Error),
    #[error("cannot set up the master: {0}")]
    Os(#[from] nix::Error),
    #[error("cannot bind the metrics listener (--metrics-bind): {0}")]
    MetricsBind(crate::sock::SockError),
}

impl<'a> Master<'a> {
    pub fn new(
        cfg: Config,
        listeners: Vec<Listener>,
        hooks: &'a dyn ServerHooks,
        entry: WorkerEntry<'a>,
    ) -> Result<Self, MasterError> {
        let pid = nix::unistd::getpid();
        // Room for TTIN growth and for a full second generation during a HUP reload.
        let capacity = (cfg.workers * 4).max(64);
        // One lane per thread (or per request in flight for greenlet kinds, up to a bound); a
        // HUP that raises `--threads` leaves the extra threads unseen.
        let scoreboard = Scoreboard::new(capacity, cfg.lanes_per_worker(), pid.as_raw())?;
        let signals = signals::SignalQueue::install()?;
        dump::ignore_dump_signal(cfg.dump_signal);
        let num_workers = cfg.workers;
        let upgrade = upgrade::Upgrade::from_env();
        let pidfile = match &cfg.pidfile {
            Some(path) => {
                let name = format!("{}{}", path.display(), upgrade.suffix());
                Some(pidfile::Pidfile::create(std::path::Path::new(&name), pid)?)
            }
            None => None,
        };
        let metrics = match &cfg.metrics_bind {
            Some(address) => {
                Some(metrics::MetricsServer::bind(address).map_err(MasterError::MetricsBind)?)
            }
            None => None,
        };
        reload::defer_accepts(&cfg, &listeners);
        Ok(Master {
            cfg,
            listeners,
            scoreboard,
            hooks,
            entry,
            signals,
            workers: Vec::new(),
            num_workers,
            last_age: 0,
            phase: Phase::Running,
            halt: None,
            pid,
            logs: logpipe::LogPipes::default(),
            dumps: dump::DumpFiles::default(),
            config_reloader: None,
            upgrade,
            pidfile,
            notify: systemd::Notifier::from_env(),
            memory: memory::MemoryWatch::new(),
            control: None,
            book: control::Book::new(),
            metrics,
            lifeline: lifeline::Lifeline::from_env(),
            reporter: statsd::Reporter::default(),
        })
    }

    /// A worker class named after another server's (uvicorn's worker classes): the name as
    /// given, so the log says which kind serves it.
    fn foreign_worker_class(&self) -> Option<&str> {
        let given = self.cfg.values.iter().find(|(n, _)| *n == "worker_class")?;
        match &given.1 {
            crate::config::Value::Str(s) if s.starts_with("uvicorn") => Some(s.as_str()),
            _ => None,
        }
    }

    /// Run until stopped; returns the process exit code.
    pub fn run(mut self) -> i32 {
        crate::proctitle::set(&self.master_title());
        let tls = self.cfg.tls.is_some();
        let listening: Vec<String> = self.listeners.iter().map(|l| l.url(tls)).collect();
        crate::info!("Listening at: {} ({})", listening.join(","), self.pid);
        if let Some(server) = &self.metrics {
            crate::info!("Metrics listening at: {}", server.url());
        }
        crate::info!("Using worker: {}", self.cfg.worker_class.name());
        if let Some(given) = self.foreign_worker_class() {
            crate::info!(
                "{given} is served by gunicorn-rs's {} worker",
                self.cfg.worker_class.name()
            );
        }
        self.control = control::ControlServer::open(
            &self.cfg,
            self.pid.as_raw() as u32,
            self.upgrade.suffix(),
        );
        self.book.control_path = self.control.as_ref().map(|c| c.path().to_owned());
        self.hooks.when_ready(&self.view());
        self.maintain_worker_count();
        loop {
            self.sleep();
            for sig in self.signals.drain() {
                self.handle_signal(sig);
            }
            self.end_shutdown_delay();
            self.apply_requested_num_workers();
            self.reap_workers();
            if let Some((code, reason)) = self.halt {
                return self.halt_with(code, Some(reason));
            }
            if let Phase::Stopping { deadline, .. } = self.phase {
                if self.workers.is_empty() {
                    return self.halt_with(0, None);
                }
                if Instant::now() >= deadline {
                    self.kill_all(Signal::SIGKILL);
                    self.wait_for_all();
                    return self.halt_with(0, None);
                }
                continue;
            }
            self.murder_workers();
            self.check_worker_memory();
            self.maintain_worker_count();
            self.report_to_statsd();
            self.maybe_promote_master();
            self.notify_status();
        }
    }

    /// Wait for a signal, worker output or a control client, at most one second (the
    /// heartbeat check's resolution) or until a subscriber's snapshot is due; then forward what
    /// the workers wrote and serve the control socket. 100 ms while a worker waits for its
    /// successor to boot, so it is retired soon after (no signal says "booted"; a recycled
    /// leaking worker keeps growing until then).
    fn sleep(&mut self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = vec![PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        fds.extend(self.logs.fds().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        if let Some(line) = &self.lifeline {
            fds.push(PollFd::new(line.fd(), PollFlags::POLLIN));
        }
        let replacing = self.workers.iter().any(|w| w.lifecycle.is_replacing());
        let mut ms: u16 = if replacing { 100 } else { 1000 };
        if let Some(server) = &self.control {
            fds.extend(server.poll_fds().map(|(fd, out)| {
                let events = if out {
                    PollFlags::POLLIN | PollFlags::POLLOUT
                } else {
                    PollFlags::POLLIN
                };
                PollFd::new(fd, events)
            }));
            if let Some(due) = server.next_push_in(Instant::now()) {
                ms = ms.min(u16::try_from(due.as_millis()).unwrap_or(u16::MAX));
            }
        }
        if let Some(server) = &self.metrics {
            fds.extend(server.poll_fds().map(|(fd, out)| {
                PollFd::new(
                    fd,
                    if out {
                        PollFlags::POLLOUT
                    } else {
                        PollFlags::POLLIN
                    },
                )
            }));
        }
        if let Phase::Draining { until } = self.phase {
            let left = until.saturating_duration_since(Instant::now());
            ms = ms.min(u16::try_from(left.as_millis()).unwrap_or(u16::MAX));
        }
        let _ = poll(&mut fds, PollTimeout::from(ms));
        drop(fds);
        self.logs.drain_all();
        self.serve_control();
        self.serve_metrics();
        self.check_lifeline();
    }

    /// The `--tui` dashboard detached (we run on headless) or went away (we stop, as on TERM).
    fn check_lifeline(&mut self) {
        match self.lifeline.as_ref().map(lifeline::Lifeline::read) {
            None | Some(lifeline::Word::Quiet) => {}
            Some(lifeline::Word::Detached) => {
                self.lifeline = None;
                crate::info!("Dashboard detached; running headless");
            }
            Some(lifeline::Word::Gone) => {
                self.lifeline = None;
                crate::info!("Dashboard gone; shutting down");
                self.notify_stopping();
                self.stop(true);
            }
        }
    }

    fn handle_signal(&mut self, sig: Signal) {
        if sig == Signal::SIGCHLD {
            return crate::debug!("Handling signal: chld");
        }
        let name = sig.as_str().trim_start_matches("SIG").to_ascii_lowercase();
        crate::info!("Handling signal: {name}");
        match sig {
            Signal::SIGTERM => {
                self.notify_stopping();
                self.begin_shutdown_delay()
            }
            Signal::SIGINT | Signal::SIGQUIT => {
                self.notify_stopping();
                self.stop(false)
            }
            Signal::SIGHUP => {
                self.notify_reloading();
                self.reload()
            }
            Signal::SIGTTIN => self.set_num_workers(self.num_workers + 1),
            Signal::SIGTTOU if self.num_workers > 1 => self.set_num_workers(self.num_workers - 1),
            Signal::SIGUSR1 => self.reopen_logs(),
            Signal::SIGWINCH => self.handle_winch(),
            Signal::SIGUSR2 => self.reexec(),
            _ => {}
        }
    }

    fn slot(&self, index: usize) -> Option<&Slot> {
        self.scoreboard.slot(index)
    }
}
