//! What a firmware does with tinylb on its hot path, for the footprint images and the
//! panic-freedom check: configure the pool once, then per request pick with a lease,
//! forward (here: nothing), report the outcome. Inputs come through [`black_box`], so the
//! compiler can neither fold the picks away nor specialise them for constants; every
//! strategy is driven through the same generic function, as a proxy would.

use core::hint::black_box;
use core::time::Duration;
// links cortex-m's `critical-section-single-core` implementation, which tinylb's atomics
// use on thumbv6m (no compare-and-swap) through its `critical-section` feature
use cortex_m as _;
use tinylb::{Health, Outcome, Pool, Request, Select, SelectExt};

/// Slots in the pool.
pub const N: usize = 8;

/// Configuration, once at start-up: five backends, one marked down.
pub fn setup(pool: &Pool<N>) {
    for w in [3, 1, 4, 1, 5] {
        let _ = pool.add(black_box(w));
    }
    if let Some(id) = pool.id_at(black_box(3)) {
        let _ = pool.set_health(id, Health::Down);
    }
}

/// One request: the caller's clock and key, a pick with a lease, the outcome: a success
/// when `SUCCESS`, a failure when `FAILURE`, either (chosen at run time) when both, none
/// (the lease is just dropped) when neither.
#[inline(never)]
pub fn request<S: Select<N>, const SUCCESS: bool, const FAILURE: bool>(
    strategy: &S,
    pool: &'static Pool<N>,
) {
    let now_us = black_box(1_000_000u64);
    let mut req = Request::new().with_key(black_box(7)).with_now_us(now_us);
    if let Some(lease) = strategy.lease(pool, &mut req) {
        if !SUCCESS && !FAILURE {
            return;
        }
        let latency_us = black_box(850u64);
        let ok = if SUCCESS && FAILURE {
            black_box(true)
        } else {
            SUCCESS
        };
        lease.finish(if ok {
            Outcome::success_after(Duration::from_micros(latency_us)).at_us(now_us + latency_us)
        } else {
            Outcome::failure_after(Duration::from_micros(latency_us)).at_us(now_us + latency_us)
        });
    }
}
