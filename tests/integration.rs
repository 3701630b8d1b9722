//! The one integration-test binary (house rule 11): the real `gunicorn-rs`, real Python apps
//! (tests/apps), real sockets. Run with `cargo test --test integration -- --test-threads 2`.

mod support;

mod config_cli;
mod errors;
mod python;
mod serve;
mod signals;
