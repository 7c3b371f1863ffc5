//! Footprint of every strategy on a `static` pool, each picking with a lease and reporting
//! an outcome.
#![no_std]
#![no_main]

#[path = "../panic_halt.rs"]
mod panic_halt;
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
