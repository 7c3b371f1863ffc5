//! The fuzz harness: byte decoding, the operation-sequence model, the constructor checks.
//!
//! Kept free of libfuzzer so `tests/fuzz_regressions.rs` can include the same files and
//! replay any input on stable Rust (and under miri).

pub mod config;
pub mod input;
pub mod ops;
