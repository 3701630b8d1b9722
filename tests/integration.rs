//! The one integration test binary: each module is a group of tests (ripgrep's layout).
//! Run with `cargo test --test integration -- --test-threads 2`.

// Gunicorn's request corpus through the parser, in every chunking.
mod parser;
// The WSGI bridge with an in-memory body and a recording sink.
mod wsgi_bridge;

// The real `gunicorn-rs` binary on port 0 with the apps of tests/apps (support.rs is the harness).
mod support;

mod config_cli;
mod errors;
mod python;
mod serve;
mod signals;
mod stuck;
