//! Compile-time proof that the pool, every strategy and leases held through `&'static Pool`
//! or `Arc<Pool>` are `Send + Sync` (DESIGN.md: "Pool, strategies and leases are
//! `Send + Sync`"), and that a pool and its strategy can be `static` items.
//!
//! Every check here is a trait bound: if a type loses `Send` or `Sync` (a `Cell`, a raw
//! pointer, an `Rc` sneaking into a field), this file stops compiling.

use std::sync::Arc;

use tinylb::{
    AliasRandom, BackendId, BackendInfo, BoundedLoad, Health, Jump, Lease, LeastConn, LeastTime,
    Maglev, Outcome, ParseStrategyError, PeakEwma, Pool, PowerOfTwo, Random, Rendezvous,
    RoundRobin, Select, Strategy, WeightedRoundRobin,
};

const fn send_sync<T: Send + Sync>() {}
const fn send_static<T: Send + 'static>() {}

/// Every public type, at several pool sizes, is `Send + Sync`.
const _: () = {
    send_sync::<Pool<1>>();
    send_sync::<Pool<8>>();
    send_sync::<Pool<1024>>();
    send_sync::<RoundRobin>();
    send_sync::<WeightedRoundRobin<1>>();
    send_sync::<WeightedRoundRobin<64>>();
    send_sync::<LeastConn>();
    send_sync::<LeastTime>();
    send_sync::<Random>();
    send_sync::<AliasRandom<1>>();
    send_sync::<AliasRandom<64>>();
    send_sync::<PowerOfTwo>();
    send_sync::<PeakEwma>();
    send_sync::<tinylb::Config>();
    send_sync::<Maglev<8, 11>>();
    send_sync::<Maglev<64, 8191>>();
    send_sync::<Rendezvous>();
    send_sync::<Jump>();
    send_sync::<BoundedLoad>();
    send_sync::<Strategy<8, 0>>();
    send_sync::<Strategy<8, 101>>();
    send_sync::<Strategy<8>>();
    send_sync::<Strategy<64>>();
    send_sync::<Lease<&'static Pool<8>, 8>>();
    send_sync::<Lease<Arc<Pool<8>>, 8>>();
    send_sync::<Lease<&'static Pool<64>, 64>>();
    send_sync::<Lease<Arc<Pool<64>>, 64>>();
    send_sync::<BackendId>();
    send_sync::<BackendInfo>();
    send_sync::<Health>();
    send_sync::<tinylb::BackendError>();
    send_sync::<tinylb::ConfigError>();
    send_sync::<tinylb::TableError>();
    send_sync::<Outcome>();
    send_sync::<ParseStrategyError>();
    // leases that own their pool handle can move into a spawned thread or task
    send_static::<Lease<&'static Pool<8>, 8>>();
    send_static::<Lease<Arc<Pool<8>>, 8>>();
};

// A pool and a strategy of each kind can be `static` items built by `const fn`.
static POOL: Pool<4> = Pool::new();
static RR: RoundRobin = RoundRobin::new();
static WRR: WeightedRoundRobin<4> = WeightedRoundRobin::new();
static LC: LeastConn = LeastConn::new();
static LT: LeastTime = LeastTime::new();
static RND: Random = Random::with_seed(7);
static ALIAS: AliasRandom<4> = AliasRandom::with_seed(7);
static P2C: PowerOfTwo = PowerOfTwo::with_seed(8);
static PEWMA: PeakEwma = PeakEwma::new();
static MAGLEV: Maglev<4, 13> = Maglev::new();
static HRW: Rendezvous = Rendezvous::new();
static JUMP: Jump = Jump::new();
static BOUNDED: BoundedLoad = match BoundedLoad::new(tinylb::strategy::DEFAULT_BALANCE_FACTOR) {
    Ok(b) => b,
    Err(_) => panic!("125 % is a valid factor"), // a compile-time error for a static
};

/// Strategies are usable as trait objects shared between threads.
fn shared_strategies() -> [&'static (dyn Select<4> + Send + Sync); 12] {
    [
        &RR, &WRR, &LC, &LT, &RND, &ALIAS, &P2C, &PEWMA, &MAGLEV, &HRW, &JUMP, &BOUNDED,
    ]
}

#[test]
#[cfg_attr(target_family = "wasm", ignore = "no threads")]
fn statics_pick_from_several_threads() {
    let a = POOL.add(1).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                for s in shared_strategies() {
                    let id = s
                        .select(&POOL, &mut tinylb::Request::new())
                        .expect("one backend is up");
                    assert_eq!(id, a);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
