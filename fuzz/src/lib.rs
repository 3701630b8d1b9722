//! What the fuzz targets share: how an input's first bytes choose the parser settings and the
//! reads the bytes arrive in (`input`), a connection driven over those reads like the worker
//! drives it (`conn`), and the independent checks the results are held to (`check`).
//!
//! Every target checks invariants, not only "no panic" (issue 12):
//! - the same bytes cut into any reads give the same result as the bytes in one read;
//! - a head that parses re-serialises to bytes that parse to the same head;
//! - body framing never reads a byte twice nor skips one: what a decoder reports consumed is
//!   exactly what a plain reading of the framing spans, and the rest is the next request.
//!
//! A failed invariant panics with the two results side by side; libFuzzer keeps the input.

pub mod check;
pub mod conn;
pub mod input;
