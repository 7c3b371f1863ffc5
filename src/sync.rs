//! The one place the crate takes its atomics from.
//!
//! Everything else says `crate::sync::AtomicU32` (or `AtomicU64`, which only the slot's
//! in-flight word uses, on the targets that have one). Normally these are portable-atomic's types
//! (native atomics where the target has them, a `critical-section` fallback where it does
//! not). Under `--cfg loom` they are loom's, so that `tests/loom.rs` can explore every
//! interleaving of the crate's own atomic protocols (STYLE.md, point 8).
//!
//! loom's constructors are not `const`, while the crate's are (pools and strategies can be
//! `static`). So under loom each atomic is a wrapper whose `const fn new` only records the
//! initial value; the loom atomic is created on first use, inside the model being run. A
//! loom model must therefore build its pools and strategies inside `loom::model`, never in a
//! `static`.

#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU16, AtomicU32, Ordering};
// only where the slot's in-flight word is a `u64` (`src/pool/flight.rs`), and its tests
#[cfg(all(not(loom), target_has_atomic = "64"))]
#[allow(unused_imports)]
pub(crate) use portable_atomic::AtomicU64;

#[cfg(loom)]
pub(crate) use loom_shim::{AtomicU16, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
mod loom_shim {
    // loom needs std; this module exists only in loom builds of the tests.
    extern crate std;

    pub(crate) use core::sync::atomic::Ordering;
    use std::sync::OnceLock;

    macro_rules! lazy_atomic {
        ($name:ident, $int:ty) => {
            /// A loom atomic created on first use (see the module docs).
            pub(crate) struct $name {
                init: $int,
                cell: OnceLock<loom::sync::atomic::$name>,
            }

            impl core::fmt::Debug for $name {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str(stringify!($name))
                }
            }

            #[allow(dead_code)]
            impl $name {
                pub(crate) const fn new(v: $int) -> Self {
                    Self {
                        init: v,
                        cell: OnceLock::new(),
                    }
                }
                /// Creates the loom atomic now (see `loom_init` on the public types).
                pub(crate) fn touch(&self) {
                    let _ = self.get();
                }
                fn get(&self) -> &loom::sync::atomic::$name {
                    self.cell
                        .get_or_init(|| loom::sync::atomic::$name::new(self.init))
                }
                pub(crate) fn load(&self, o: Ordering) -> $int {
                    self.get().load(o)
                }
                pub(crate) fn store(&self, v: $int, o: Ordering) {
                    self.get().store(v, o)
                }
                pub(crate) fn swap(&self, v: $int, o: Ordering) -> $int {
                    self.get().swap(v, o)
                }
                pub(crate) fn fetch_add(&self, v: $int, o: Ordering) -> $int {
                    self.get().fetch_add(v, o)
                }
                pub(crate) fn fetch_sub(&self, v: $int, o: Ordering) -> $int {
                    self.get().fetch_sub(v, o)
                }
                pub(crate) fn fetch_max(&self, v: $int, o: Ordering) -> $int {
                    self.get().fetch_max(v, o)
                }
                pub(crate) fn compare_exchange(
                    &self,
                    cur: $int,
                    new: $int,
                    s: Ordering,
                    f: Ordering,
                ) -> Result<$int, $int> {
                    self.get().compare_exchange(cur, new, s, f)
                }
                pub(crate) fn compare_exchange_weak(
                    &self,
                    cur: $int,
                    new: $int,
                    s: Ordering,
                    f: Ordering,
                ) -> Result<$int, $int> {
                    self.get().compare_exchange_weak(cur, new, s, f)
                }
                pub(crate) fn fetch_update<F>(
                    &self,
                    s: Ordering,
                    f: Ordering,
                    func: F,
                ) -> Result<$int, $int>
                where
                    F: FnMut($int) -> Option<$int>,
                {
                    self.get().fetch_update(s, f, func)
                }
            }
        };
    }

    lazy_atomic!(AtomicU32, u32);
    lazy_atomic!(AtomicU16, u16);
    lazy_atomic!(AtomicU64, u64);
}
