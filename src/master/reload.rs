//! HUP re-reads the configuration, as Gunicorn's `Arbiter.reload` does: new settings, log files
//! reopened with the new levels and paths, listeners rebound only if `bind` changed; then the
//! caller replaces every worker. A configuration that no longer loads is logged and the running
//! one kept — a typo in a config file must not take a live server down.

use super::{ConfigReloader, Master};
use crate::config::Config;
use crate::sock;

impl<'a> Master<'a> {
    /// Give the master a way to read the configuration again on HUP.
    pub fn with_config_reloader(mut self, reloader: ConfigReloader<'a>) -> Self {
        self.config_reloader = Some(reloader);
        self
    }

    pub(super) fn reload_config(&mut self) {
        let Some(reloader) = self.config_reloader else {
            return;
        };
        let mut cfg = match reloader() {
            Ok(cfg) => cfg,
            Err(e) => {
                return crate::error!("Reload failed, keeping the running configuration: {e}")
            }
        };
        if let Err(e) = crate::log::configure(&cfg) {
            return crate::error!("Reload failed, keeping the running configuration: {e}");
        }
        if cfg.bind != self.cfg.bind && !self.rebind(&cfg) {
            return;
        }
        if cfg.metrics_bind != self.cfg.metrics_bind {
            // Not rebound on HUP (unlike `bind`): the running address is kept, and said so, so
            // that `show config` reports what is served.
            crate::warning!("--metrics-bind changed: it takes effect at the next start");
            cfg.metrics_bind = self.cfg.metrics_bind.clone();
        }
        if cfg.statsd != self.cfg.statsd {
            if let Err(e) = crate::statsd::install(cfg.statsd.as_ref()) {
                // The old socket stays: the workers of this reload inherit what is running.
                crate::error!("statsd settings not reloaded, the running ones are kept: {e}");
                cfg.statsd = self.cfg.statsd.clone();
            }
        }
        self.cfg = cfg;
        defer_accepts(&self.cfg, &self.listeners);
        self.set_num_workers(self.cfg.workers);
    }

    /// Bind the new addresses; the old listeners close in the master at once and in each old
    /// worker as it retires. On failure the old listeners stay.
    fn rebind(&mut self, cfg: &Config) -> bool {
        let opts = sock::BindOptions {
            backlog: cfg.backlog,
            reuse_port: cfg.reuse_port,
            umask: cfg.umask,
        };
        let addresses: Result<Vec<_>, _> =
            cfg.bind.iter().map(|b| sock::parse_address(b)).collect();
        let bound =
            addresses.and_then(|a| sock::bind_all(&a, opts, &mut |msg| crate::error!("{msg}")));
        match bound {
            Ok(listeners) => {
                let tls = cfg.tls.is_some();
                let listening: Vec<String> = listeners.iter().map(|l| l.url(tls)).collect();
                crate::info!("Listening at: {} ({})", listening.join(","), self.pid);
                for old in std::mem::replace(&mut self.listeners, listeners) {
                    // Old workers still hold it open and finish what they accepted.
                    old.unlink_if_rebound(&self.listeners);
                }
                true
            }
            Err(e) => {
                crate::error!("Reload failed, keeping the running configuration: {e}");
                false
            }
        }
    }
}

/// The listeners hand a connection to the workers once its first bytes are here when the
/// workers speak uwsgi (`sock::Listener::defer_accept`: the front writes its packet right
/// after connecting), and at once for HTTP, whose clients may connect ahead of a request.
/// Set again on every reload, since `--protocol` may change without a rebind.
pub(super) fn defer_accepts(cfg: &Config, listeners: &[sock::Listener]) {
    let on = matches!(cfg.protocol, crate::config::Protocol::Uwsgi);
    for listener in listeners {
        if let Err(e) = listener.defer_accept(on) {
            crate::debug!("Listener {listener}: TCP_DEFER_ACCEPT: {e}");
        }
    }
}
