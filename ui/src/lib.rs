//! gunicorn-rs's client side: the control-socket [`protocol`] (shared with the master), the
//! `gunicorn-rs ctl` command ([`ctl::main`]), socket [`discovery`], and the terminal dashboard
//! ([`dashboard::run`], for `--tui` and `attach`). This crate never depends on the server crate
//! or on Python (DESIGN §2): the server depends on it for the protocol types and calls these
//! entry points from its `main`.
//!
//! Inside the dashboard: [`app`] is the state and the pure `update()`, [`view`] draws it,
//! `conn` is the socket client thread, `term` owns the terminal, [`procstat`] reads /proc
//! (the master's CPU and RSS figures too).
//! [`stacks`] puts a dump's stacks beside the requests of the worker's threads (`ctl`, the
//! dashboard and the master's WORKER TIMEOUT block all print it).

pub mod app;
mod conn;
pub mod ctl;
pub mod dashboard;
pub mod discovery;
pub mod procstat;
pub mod protocol;
pub mod stacks;
mod term;
pub mod view;

#[cfg(test)]
mod testing;

pub use dashboard::{Exit, Options, SocketPath};
