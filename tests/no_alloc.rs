//! No allocation on any path: a counting global allocator around every hot path (select,
//! lease, `record_latency`, `report`, finish, drop) of every strategy, at n = 8 and n = 64,
//! with and without a caller RNG; around the retry path (exclusion, preference, the reason
//! for a miss, the pool-wide cap); and around every configuration call of the pool.
//!
//! The counter is a `thread_local!` `Cell` initialised with `const { ... }`: counting never
//! allocates itself, and allocations by libtest's other threads (other tests, the output
//! capture) are not counted.

// The one test that needs `unsafe`: implementing `GlobalAlloc`. The library itself stays
// `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]
#![allow(clippy::indexing_slicing)]

#[path = "support/splitmix.rs"]
mod splitmix;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::hint::black_box;
use core::num::NonZeroU32;
use core::time::Duration;
use std::alloc::System;

use splitmix::SplitMix;
use tinylb::{
    AliasRandom, Backend, BackendError, BackendId, Health, Lease, MAX_WEIGHT, Outcome, Pool,
    Request, Select, SelectExt, Strategy, Tried,
};

/// `System`, counting every allocation, reallocation and deallocation on this thread.
struct Counting;

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    CALLS.with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is a const-initialised thread-local `Cell`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count();
        // SAFETY: forwarded as is
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocator calls made on this thread while `f` runs.
fn allocator_calls<R>(f: impl FnOnce() -> R) -> u64 {
    let before = CALLS.with(Cell::get);
    black_box(f());
    CALLS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_allocations() {
    // without this, a broken counter would make every other test pass
    assert!(
        allocator_calls(|| black_box(Box::new(7u64))) >= 2,
        "alloc + dealloc"
    );
    let mut v: Vec<u8> = Vec::new();
    assert!(allocator_calls(|| v.extend_from_slice(&[1; 100])) >= 1);
    assert_eq!(allocator_calls(|| black_box(3u64) * 2), 0);
}

/// A pool of `n` backends with varied weights, a few capped and one down.
fn pool_of<const N: usize>() -> Pool<N> {
    let pool: Pool<N> = Pool::new();
    for i in 0..N {
        let id = pool.add(1 + (i as u32 * 7) % 5).unwrap();
        if i % 5 == 1 {
            pool.set_cap(id, NonZeroU32::new(2)).unwrap();
        }
        if i == N / 2 {
            pool.set_health(id, Health::Down).unwrap();
        }
    }
    pool
}

/// select, lease, finish and drop in a loop, with a few leases held across iterations so
/// that in-flight counts, caps and latency estimates vary.
fn hot_path<const N: usize>(name: &str, with_rng: bool) {
    let pool = pool_of::<N>();
    let s: Strategy<N> = Strategy::from_name(name, 42).unwrap();
    let mut rng = SplitMix(9);
    let mut held: [Option<Lease<&Pool<N>, N>>; 4] = [None, None, None, None];
    let mut picked = 0u32;
    let calls = allocator_calls(|| {
        for k in 0..2_000u64 {
            let now = k * 250;
            let mut req = if with_rng {
                Request::new().with_rng(&mut rng)
            } else {
                Request::new()
            };
            req = req.with_key(k).with_now_us(now);
            if let Some(id) = s.select(&pool, &mut req) {
                black_box(id);
                picked += 1;
            }
            req.set_now_us(now + 1);
            let Some(mut lease) = s.lease(&pool, &mut req) else {
                continue;
            };
            let lat = 100 + (k * 37 + lease.index() as u64 * 1_000) % 5_000;
            match k % 3 {
                0 => lease.finish(Outcome::success_after(Duration::from_micros(lat)).at_us(now)),
                1 => lease.finish(Outcome::failure_after(Duration::from_micros(lat)).at_us(now)),
                _ => {
                    // a latency sample and a report on a lease kept, then (every other
                    // time) dropped with its report counted
                    lease.record_latency(Duration::from_micros(lat / 2), now);
                    if k % 2 == 0 {
                        lease.report(Outcome::success_after(Duration::from_micros(lat)).at_us(now));
                    }
                    // replacing drops the lease held before
                    if let Some(slot) = held.get_mut((k / 3 % 4) as usize) {
                        *slot = Some(lease);
                    }
                }
            }
        }
        drop(held);
    });
    assert_eq!(calls, 0, "{name} at n = {N} (rng: {with_rng}) allocated");
    assert!(picked > 1_000, "{name} at n = {N}: only {picked} picks");
    assert!((0..N).all(|i| pool.in_flight_at(i) == 0));
}

#[test]
fn every_strategy_picks_without_allocating_at_n_8() {
    for name in Strategy::<8>::NAMES {
        hot_path::<8>(name, false);
        hot_path::<8>(name, true);
    }
}

#[test]
fn every_strategy_picks_without_allocating_at_n_64() {
    for name in Strategy::<64>::NAMES {
        hot_path::<64>(name, false);
        hot_path::<64>(name, true);
    }
}

/// The retry path: a retry loop of `lease_untried` until `NoBackend`, a preferred pick, a
/// miss's reason, and the pool-wide cap, for every strategy.
fn retry_path<const N: usize>(name: &str) {
    let pool = pool_of::<N>();
    pool.set_max_in_flight(core::num::NonZeroU32::new(N as u32 * 4));
    let s: Strategy<N> = Strategy::from_name(name, 42).unwrap();
    let mut attempts = 0u32;
    let calls = allocator_calls(|| {
        for k in 0..200u64 {
            let mut tried = Tried::<N>::new();
            let mut req = Request::new().with_key(k).with_now_us(k * 250);
            let mut held: [Option<Lease<&Pool<N>, N>>; 4] = [None, None, None, None];
            for slot in held.iter_mut() {
                match s.lease_untried(&pool, &mut req, &mut tried) {
                    Ok(lease) => {
                        attempts += 1;
                        *slot = Some(lease);
                    }
                    Err(why) => {
                        black_box(why);
                        break;
                    }
                }
            }
            let first = held.first().and_then(|l| l.as_ref().map(Lease::id));
            if let Some(id) = first {
                let mut sticky = Request::new().prefer(id).excluding(&tried);
                black_box(s.try_select(&pool, &mut sticky).err());
            }
            black_box(pool.why_none(&Request::new().excluding(&tried)));
            drop(held);
        }
    });
    assert_eq!(calls, 0, "{name} at n = {N}: the retry path allocated");
    assert!(attempts > 200, "{name}: only {attempts} attempts");
    assert!((0..N).all(|i| pool.in_flight_at(i) == 0));
    assert_eq!(pool.pooled_in_flight(), 0);
}

#[test]
fn every_strategy_retries_without_allocating() {
    for name in Strategy::<8>::NAMES {
        retry_path::<8>(name);
    }
    for name in Strategy::<64>::NAMES {
        retry_path::<64>(name);
    }
}

#[test]
fn strategy_parsing_does_not_allocate() {
    for name in Strategy::<8>::NAMES {
        let calls = allocator_calls(|| {
            let s: Strategy<8> = name.parse().unwrap();
            assert_eq!(s.name(), *name);
            let upper = Strategy::<8>::from_name("  Least-Conn ", 3).unwrap();
            assert!("no such strategy".parse::<Strategy<8>>().is_err());
            (s, upper)
        });
        assert_eq!(calls, 0, "parsing {name}");
    }
}

#[test]
fn pool_configuration_does_not_allocate() {
    let calls = allocator_calls(|| {
        let pool: Pool<64> = Pool::new();
        let ids: [BackendId; 8] = core::array::from_fn(|i| {
            pool.add_backend(Backend::new(i as u32).health(Health::Up))
                .unwrap()
        });
        for (k, &id) in ids.iter().enumerate() {
            pool.set_weight(id, k as u32 * 3).unwrap();
            pool.set_health(id, Health::Draining).unwrap();
            pool.set_health(id, Health::Up).unwrap();
            pool.set_cap(id, NonZeroU32::new(k as u32 + 1)).unwrap();
            pool.set_cap(id, None).unwrap();
            black_box(pool.info(id).unwrap());
            black_box(pool.info_at(id, k as u64 * 1_000_000).unwrap());
        }
        let l = Lease::acquire(&pool, ids[3]).unwrap();
        pool.remove(ids[3]).unwrap();
        black_box((
            pool.len(),
            pool.is_empty(),
            pool.total_weight(),
            pool.capacity(),
        ));
        black_box(pool.ids());
        for i in 0..70 {
            black_box((
                pool.id_at(i),
                pool.in_flight_at(i),
                pool.is_eligible(i, 1_000),
            ));
        }
        // the error paths
        assert_eq!(pool.info(ids[3]), Err(BackendError::Stale));
        assert_eq!(
            pool.set_weight(ids[0], MAX_WEIGHT + 1),
            Err(BackendError::WeightTooLarge)
        );
        assert_eq!(
            pool.set_share(ids[0], tinylb::FULL_SHARE + 1),
            Err(BackendError::ShareTooLarge)
        );
        pool.set_cap(ids[0], NonZeroU32::new(3)).unwrap();
        pool.set_share(ids[0], 1 << 15).unwrap();
        drop(l);
        while pool.add(1).is_ok() {}
        assert_eq!(pool.add(1), Err(BackendError::Full));
        let small: Pool<2> = Pool::with_half_life_ms(10);
        assert_eq!(small.info(ids[7]), Err(BackendError::NoSuchBackend));
        pool.len()
    });
    assert_eq!(calls, 0);
}

/// `AliasRandom` (not a `Strategy` variant): picks, its table's rebuilds after weight and
/// health changes, and its fallback, without allocating.
#[test]
fn alias_random_picks_and_rebuilds_without_allocating() {
    let pool = pool_of::<64>();
    let s = AliasRandom::<64>::with_seed(3);
    let ids = pool.ids();
    let mut rng = SplitMix(5);
    let calls = allocator_calls(|| {
        for k in 0..2_000u32 {
            if k % 100 == 0
                && let Some(&id) = ids.as_slice().get((k / 100) as usize % 64)
            {
                pool.set_weight(id, 1 + k % 1000).unwrap();
            }
            let mut req = if k % 2 == 0 {
                Request::new().with_rng(&mut rng)
            } else {
                Request::new()
            };
            black_box(s.select(&pool, &mut req));
        }
    });
    assert_eq!(calls, 0, "AliasRandom allocated");
}
