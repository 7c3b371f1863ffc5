//! Footprint of a pool without a strategy: configuration, leases on a backend the caller
//! chose, outcomes (successes and failures).
#![no_std]
#![no_main]

#[path = "../panic_halt.rs"]
mod panic_halt;
// only the set-up is used here, not `request`
#[allow(dead_code)]
#[path = "../workload.rs"]
mod workload;

use core::hint::black_box;
use core::time::Duration;
use tinylb::{Lease, Outcome, Pool};
use workload::N;

static POOL: Pool<N> = Pool::with_half_life_ms(1000);

#[cortex_m_rt::entry]
fn main() -> ! {
    workload::setup(&POOL);
    loop {
        if let Some(id) = POOL.id_at(black_box(2))
            && let Some(lease) = Lease::acquire(&POOL, id)
        {
            let (latency_us, now_us) = (black_box(850), black_box(1_000_850));
            lease.finish(if black_box(true) {
                Outcome::success_after(Duration::from_micros(latency_us)).at_us(now_us)
            } else {
                Outcome::failure_after(Duration::from_micros(latency_us)).at_us(now_us)
            });
        }
    }
}
