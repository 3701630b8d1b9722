//! The one integration test binary: each module is a group of tests (ripgrep's layout).

// Gunicorn's request corpus through the parser, in every chunking.
mod parser;
// The WSGI bridge with an in-memory body and a recording sink.
mod wsgi_bridge;
