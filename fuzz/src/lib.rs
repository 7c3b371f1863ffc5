//! The fuzz harness: the operation-sequence model and the constructor checks, their inputs
//! built by `arbitrary`.
//!
//! Kept free of libfuzzer so `tests/fuzz_regressions.rs` can include the same files and
//! replay any input on stable Rust (and under miri).

#[path = "../../tests/support/splitmix.rs"]
#[allow(dead_code, clippy::should_implement_trait)]
pub mod splitmix;

pub mod config;
pub mod ops;
