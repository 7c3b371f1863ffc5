//! Footprint of the core set: round robin, smooth weighted round robin and least
//! connections on a `static` pool, each picking with a lease and reporting an outcome.
#![no_std]
#![no_main]

#[path = "../panic_halt.rs"]
mod panic_halt;
// only the core set is used here: the other statics are left out of the image
#[allow(dead_code)]
#[path = "../strategies.rs"]
mod strategies;
#[path = "../workload.rs"]
mod workload;

#[cortex_m_rt::entry]
fn main() -> ! {
    workload::setup(&strategies::POOL);
    loop {
        strategies::core::<true, true>();
    }
}
