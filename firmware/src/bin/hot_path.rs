//! The panic-freedom check of the hot path: configuration, then for every strategy a pick
//! with a lease, and the lease's drop. Links (in release) only if none of it can panic: see
//! `panic_never.rs`. Finishing with an outcome is checked by `hot_path_finish`.
#![no_std]
#![no_main]

#[path = "../panic_never.rs"]
mod panic_never;
#[path = "../strategies.rs"]
mod strategies;
#[path = "../workload.rs"]
mod workload;

#[cortex_m_rt::entry]
fn main() -> ! {
    workload::setup(&strategies::POOL);
    loop {
        strategies::core::<false, false>();
        strategies::rest::<false, false>();
    }
}
