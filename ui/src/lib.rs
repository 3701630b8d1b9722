//! gunicorn-rs's client side: the control-socket [`protocol`] (shared with the master), the
//! `gunicorn-rs ctl` command ([`ctl`]) and the terminal dashboard ([`dashboard`], for `--tui`
//! and `attach`). This crate never depends on the server crate or on Python (DESIGN §2): the
//! server depends on it for the protocol types and calls the entry points from its `main`.

pub mod app;
pub mod protocol;
pub mod view;
