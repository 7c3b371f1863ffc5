//! The panic-freedom check of finishing: as `hot_path`, and every lease finishes with an
//! outcome, a success or a failure (latency estimate, failure streak, outlier ejection).
//! Links (in release) only if none of it can panic: see `panic_never.rs`.
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
        strategies::core::<true, true>();
        strategies::rest::<true, true>();
    }
}
