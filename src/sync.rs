//! The one place the crate takes its atomics from.
//!
//! Everything else says `crate::sync::AtomicU32`, so a later loom build can swap the
//! implementation here without touching the algorithms (STYLE.md, point 8).

pub(crate) use portable_atomic::{AtomicU16, AtomicU32, Ordering};
