//! The golden vectors on a microcontroller: the same `tests/golden/vectors.rs`,
//! `tests/golden/hashing.rs`, `tests/golden/subset.rs` and `tests/golden/retry.rs` that `cargo test` checks on x86-64
//! and under WASI, checked here on Cortex-M0/M3/M4 under QEMU; then every strategy on a `static` pool. Prints one line per check and the sizes of the
//! types on this target, and exits through semihosting: status 0 when everything holds,
//! 1 on any mismatch or panic (`panic-semihosting` with `exit`).
//!
//! Run: `cargo run --bin golden --target thumbv7em-none-eabihf` from `firmware/` (the
//! runner in `.cargo/config.toml` starts QEMU); thumbv6m needs `--features critical-section`.
#![no_std]
#![no_main]

use core::mem::size_of;
use core::time::Duration;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use tinylb::{
    BoundedLoad, Health, Jump, Lease, LeastConn, LeastTime, Maglev, Outcome, PeakEwma, Pool,
    PowerOfTwo, Random, Rendezvous, Request, RoundRobin, Select, SelectExt, Strategy,
    WeightedRoundRobin,
};

// the golden files keep the integer `Outcome` and `at_us` spellings: they must not change
#[allow(deprecated)]
#[path = "../../../tests/golden/vectors.rs"]
mod vectors;

// the two vectors of the 16 KiB default Maglev table are checked on the host only
#[allow(dead_code)]
#[path = "../../../tests/golden/hashing.rs"]
mod hashing;

// fleet subsetting: every proxy's subset under each scheme
#[path = "../../../tests/golden/subset.rs"]
mod subset;

// retry sequences: each strategy's attempts for a key, each excluding the ones before
#[path = "../../../tests/golden/retry.rs"]
mod retry;

// priority levels, degraded backends and localities (tinylb's `levels` feature)
#[cfg(feature = "levels")]
#[path = "../../../tests/golden/levels.rs"]
mod levels;

use vectors::{DOWN, N, SEED, WEIGHTS};

/// The Maglev table size of the static strategy: a prime above 30 × N, small for a
/// Cortex-M0's 16 KiB of RAM.
const TABLE: usize = 251;

static POOL: Pool<N> = Pool::with_half_life_ms(1000);
static RR: RoundRobin = RoundRobin::new();
static WRR: WeightedRoundRobin<N> = WeightedRoundRobin::new();
static LC: LeastConn = LeastConn::new();
static LT: LeastTime = LeastTime::new();
static RANDOM: Random = Random::with_seed(SEED);
static P2C: PowerOfTwo = PowerOfTwo::new();
static EWMA: PeakEwma = PeakEwma::new();
static MAGLEV: Maglev<N, TABLE> = Maglev::new();
static HRW: Rendezvous = Rendezvous::new();
static JUMP: Jump = Jump::new();
static CHBL: BoundedLoad =
    match BoundedLoad::with_seed(tinylb::strategy::DEFAULT_BALANCE_FACTOR, SEED) {
        Ok(b) => b,
        Err(_) => panic!("125 % is a valid factor"),
    };

/// The bytes one backend slot adds to a pool.
const SLOT: usize = size_of::<Pool<2>>() - size_of::<Pool<1>>();
// eighteen words: the twelve a pick and a lease use, the place word (priority level and
// locality), the recent failure fraction (the failure penalty) and the four totals a status
// page reads (no pick touches those)
const _: () = assert!(SLOT <= 72, "a backend slot must stay within 72 bytes");

// The types firmware logs implement `defmt::Format` (checked at compile time).
#[cfg(feature = "defmt")]
const _: () = {
    const fn is_format<T: defmt::Format>() {}
    is_format::<tinylb::BackendError>();
    is_format::<tinylb::ConfigError>();
    is_format::<tinylb::TableError>();
    is_format::<tinylb::Backend>();
    is_format::<tinylb::Unstamped>();
    is_format::<tinylb::Health>();
    is_format::<tinylb::BackendId>();
    is_format::<tinylb::BackendInfo>();
    is_format::<tinylb::Outcome>();
    is_format::<tinylb::Config>();
    is_format::<tinylb::SlowStart>();
    is_format::<tinylb::Ejection>();
};

#[entry]
fn main() -> ! {
    hprintln!("tinylb golden vectors on {}", env!("FIRMWARE_TARGET"));
    let mut checks = 0;
    let mut report = |vector: &str, row: &str, want: &[u8], got: &[u8]| {
        checks += 1;
        if want == got {
            hprintln!("ok   {} {}", vector, row);
        } else {
            hprintln!("FAIL {} {}: want {:?}, got {:?}", vector, row, want, got);
        }
    };
    let mut failed = vectors::check_all(&mut report);
    failed += hashing::check_all(&mut report);
    failed += subset::check_all(&mut report);
    failed += retry::check_all(&mut report);
    #[cfg(feature = "levels")]
    {
        failed += levels::check_all(&mut report);
    }
    let (static_checks, static_failed) = statics();
    checks += static_checks;
    failed += static_failed;
    sizes();
    if failed == 0 {
        hprintln!("golden: {} passed, 0 failed", checks);
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("golden: {} passed, {} failed", checks - failed, failed);
        debug::exit(debug::EXIT_FAILURE);
    }
    // only reached without a semihosting host
    loop {
        cortex_m::asm::wfi();
    }
}

/// `count` plain picks of a static strategy over the static pool, against a vector.
fn same<S: Select<N>>(name: &str, s: &S, want: &[u8]) -> bool {
    let mut ok = true;
    for &w in want {
        let got = s
            .select(&POOL, &mut Request::new())
            .map_or(vectors::NONE, |id| id.index() as u8);
        ok &= got == w;
    }
    hprintln!("{} static {}", if ok { "ok  " } else { "FAIL" }, name);
    ok
}

/// Every strategy as a `static`, over the static pool (the vectors' pool: [`WEIGHTS`],
/// backend [`DOWN`] down): the first picks equal the vectors made with local values; then
/// 200 requests per strategy, each with a lease held for four requests and an outcome
/// (every seventh a failure): every pick is an eligible backend, and once the leases are
/// dropped nothing is left in flight. Returns (checks, failures).
fn statics() -> (usize, usize) {
    for w in WEIGHTS {
        POOL.add(w).unwrap();
    }
    POOL.set_health(POOL.id_at(DOWN).unwrap(), Health::Down)
        .unwrap();
    let mut checks = 0;
    let mut failed = 0;
    for ok in [
        same("ROUND_ROBIN", &RR, &vectors::ROUND_ROBIN),
        same("WEIGHTED_ROUND_ROBIN", &WRR, &vectors::WEIGHTED_ROUND_ROBIN),
        same("RANDOM_SEEDED", &RANDOM, &vectors::RANDOM_SEEDED),
    ] {
        checks += 1;
        failed += usize::from(!ok);
    }
    let all: [(&str, &dyn Select<N>); 11] = [
        ("round_robin", &RR),
        ("weighted_round_robin", &WRR),
        ("least_conn", &LC),
        ("least_time", &LT),
        ("random", &RANDOM),
        ("maglev", &MAGLEV),
        ("rendezvous", &HRW),
        ("jump", &JUMP),
        ("bounded_load", &CHBL),
        ("p2c", &P2C),
        ("peak_ewma", &EWMA),
    ];
    for (name, s) in all {
        let mut held: [Option<Lease<&'static Pool<N>, N>>; 4] = [const { None }; 4];
        let mut bad = 0;
        for k in 0..200usize {
            let now = k as u64 * 1000;
            if let Some(lease) = held[k % 4].take() {
                let lat = 200 + 100 * lease.index() as u64;
                lease.finish(if k % 7 == 0 {
                    Outcome::failure_after(Duration::from_micros(lat)).at_us(now)
                } else {
                    Outcome::success_after(Duration::from_micros(lat)).at_us(now)
                });
            }
            let lease = s.lease(
                &POOL,
                &mut Request::new().with_key(vectors::key(k)).with_now_us(now),
            );
            match &lease {
                Some(l) if l.index() < WEIGHTS.len() && l.index() != DOWN => {}
                _ => bad += 1,
            }
            held[k % 4] = lease;
        }
        drop(held);
        let left: u32 = (0..N).map(|i| POOL.in_flight_at(i)).sum();
        checks += 1;
        if bad == 0 && left == 0 {
            hprintln!("ok   static {}: 200 leases", name);
        } else {
            failed += 1;
            hprintln!(
                "FAIL static {}: {} bad picks, {} left in flight",
                name,
                bad,
                left
            );
        }
    }
    (checks, failed)
}

/// The sizes of the types on this target, for the README's footprint table.
fn sizes() {
    hprintln!("size: backend slot {} B", SLOT);
    hprintln!(
        "size: Pool<1> {} B, Pool<8> {} B",
        size_of::<Pool<1>>(),
        size_of::<Pool<8>>()
    );
    hprintln!("size: RoundRobin {} B", size_of::<RoundRobin>());
    hprintln!(
        "size: WeightedRoundRobin<8> {} B",
        size_of::<WeightedRoundRobin<8>>()
    );
    hprintln!("size: LeastConn {} B", size_of::<LeastConn>());
    hprintln!("size: LeastTime {} B", size_of::<LeastTime>());
    hprintln!("size: Random {} B", size_of::<Random>());
    hprintln!("size: PowerOfTwo {} B", size_of::<PowerOfTwo>());
    hprintln!("size: PeakEwma {} B", size_of::<PeakEwma>());
    hprintln!("size: Maglev<8, 251> {} B", size_of::<Maglev<8, TABLE>>());
    hprintln!("size: Rendezvous {} B", size_of::<Rendezvous>());
    hprintln!("size: Jump {} B", size_of::<Jump>());
    hprintln!("size: BoundedLoad {} B", size_of::<BoundedLoad>());
    hprintln!("size: Strategy<8, 0> {} B", size_of::<Strategy<8, 0>>());
    hprintln!(
        "size: Lease<&Pool<8>, 8> {} B",
        size_of::<Lease<&Pool<8>, 8>>()
    );
    hprintln!("size: Request {} B", size_of::<Request<'_>>());
}
