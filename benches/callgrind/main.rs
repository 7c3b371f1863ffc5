//! Instruction-count bench: runs one hot-path operation `K` times, for
//! `valgrind --tool=callgrind` to count (`benches/callgrind/run.sh` drives it and compares
//! the counts with `benches/callgrind/budgets.txt`).
//!
//! ```text
//! callgrind OP K      run OP K times inside `measured`, the one function callgrind collects
//! callgrind --list    the operations, one a line
//! ```
//!
//! Operations: `pick/<strategy>/<n>` for every name in `Strategy::NAMES` and n = 8, 64;
//! `lease_drop/8` (`Lease::acquire` on a known backend, then drop, which counts it as
//! abandoned); `lease_finish/8` (`Lease::acquire`, then `finish` with a success);
//! `lease_report_drop/8` (`Lease::acquire`, `report` a success, drop);
//! `lease_latency_finish/8` (`Lease::acquire`, `record_latency`, `finish`); `info_at/8`
//! (one backend's state, totals and decayed latency); `baseline/1` (one relaxed
//! `fetch_add`, to show what the loop itself costs); `spread/<strategy>/8` for every name:
//! the same pick in a pool of two priority levels and three zones with zone-aware routing
//! (slots 4.. at level 1, zone `i mod 3`, slot 1 down, a fleet of 2, 1 and 1 proxies), the
//! cost of the spread path beside the single-level pick.
//!
//! Setup happens outside `measured`: the pool of n backends (weights 1, 2, 3, 4, 1, ...),
//! one latency sample per backend (so latency strategies compare estimates), and one
//! warm-up pick (so Maglev's table and WRR's schedule are built before counting). Inside,
//! each pick has its own key (`i × 2^64/φ`), the same clock, and the strategy's own seeded
//! random stream. Under `cargo bench` (argument `--bench`) it runs every operation once, as
//! a smoke test.

use core::hint::black_box;
use core::time::Duration;
use std::process::ExitCode;

use tinylb::ZoneAware;
use tinylb::{Config, Health, Lease, LocalityPolicy, Outcome, Pool, Request, Select, Strategy};

/// The caller's clock for every pick: one second after the latency samples.
const NOW_US: u64 = 2_000_000;

/// The one function callgrind collects (`--toggle-collect=*callgrind*measured*`).
#[inline(never)]
fn measured(k: u64, mut op: impl FnMut(u64)) {
    for i in 0..k {
        op(black_box(i));
    }
}

fn pool<const N: usize>() -> Pool<N> {
    samples(Pool::new())
}

/// [`pool`] with two levels and three zones, zone-aware routing from zone 0.
fn spread_pool<const N: usize>() -> Pool<N> {
    let config = Config::new().locality(LocalityPolicy::ZoneAware(ZoneAware::new(0)));
    let pool = samples(Pool::with_config(config).expect("a valid config"));
    for (i, id) in pool.ids().enumerate() {
        pool.set_locality(id, (i % 3) as u8)
            .expect("a live backend");
        if i >= N / 2 {
            pool.set_level(id, 1).expect("a live backend");
        }
    }
    for (z, proxies) in [2, 1, 1].into_iter().enumerate() {
        pool.set_fleet(z as u8, proxies).expect("zones 0..3 exist");
    }
    let down = pool.id_at(1).expect("slot 1 is taken");
    pool.set_health(down, Health::Down).expect("a live backend");
    pool
}

/// `pool` with n backends (weights 1, 2, 3, 4, 1, ...) and one latency sample each.
fn samples<const N: usize>(pool: Pool<N>) -> Pool<N> {
    for i in 0..N {
        let id = pool.add(1 + (i as u32 % 4)).expect("N backends fit");
        Lease::acquire(&pool, id)
            .expect("a fresh backend is eligible")
            .finish(
                Outcome::success_after(Duration::from_micros(1_000 + 100 * i as u64))
                    .at_us(1_000_000),
            );
    }
    pool
}

fn pick<const N: usize>(name: &str, k: u64) -> Result<(), String> {
    pick_in(pool::<N>(), name, k)
}

fn pick_in<const N: usize>(pool: Pool<N>, name: &str, k: u64) -> Result<(), String> {
    let s: Strategy<N> = Strategy::from_name(name, 1).map_err(|e| format!("{name}: {e}"))?;
    // build tables and schedules outside the count
    black_box(s.select(&pool, &mut Request::new().with_key(0).with_now_us(NOW_US)));
    measured(k, |i| {
        let key = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut req = Request::new().with_key(key).with_now_us(NOW_US);
        black_box(s.select(&pool, &mut req));
    });
    Ok(())
}

/// How a measured lease ends.
#[derive(Clone, Copy)]
enum End {
    /// dropped with no outcome (counted as abandoned)
    Drop,
    /// `finish` with a success
    Finish,
    /// a time-to-first-byte `report`, then dropped (the report's outcome counts)
    ReportDrop,
    /// a `record_latency`, then `finish`
    LatencyFinish,
}

fn lease<const N: usize>(end: End, k: u64) {
    let pool = pool::<N>();
    let ids: Vec<_> = pool.ids().collect();
    let ok = Outcome::success_after(Duration::from_micros(1_500)).at_us(NOW_US);
    measured(k, |i| {
        let id = ids.get(i as usize % ids.len()).copied();
        let lease = id.and_then(|id| Lease::acquire(&pool, id));
        let mut lease = black_box(lease).expect("uncapped backends always lease");
        match end {
            End::Drop => drop(lease),
            End::Finish => lease.finish(ok),
            End::ReportDrop => lease.report(ok),
            End::LatencyFinish => {
                lease.record_latency(Duration::from_micros(400), NOW_US);
                lease.finish(ok);
            }
        }
    });
}

fn info_at<const N: usize>(k: u64) {
    let pool = pool::<N>();
    let ids: Vec<_> = pool.ids().collect();
    measured(k, |i| {
        let id = ids.get(i as usize % ids.len()).copied();
        black_box(id.map(|id| pool.info_at(id, NOW_US)));
    });
}

fn baseline(k: u64) {
    let counter = core::sync::atomic::AtomicU32::new(0);
    measured(k, |_| {
        black_box(counter.fetch_add(1, core::sync::atomic::Ordering::Relaxed));
    });
}

fn ops() -> Vec<String> {
    let mut ops = Vec::new();
    for n in [8, 64] {
        for name in Strategy::<8>::NAMES {
            ops.push(format!("pick/{name}/{n}"));
        }
    }
    for name in Strategy::<8>::NAMES {
        ops.push(format!("spread/{name}/8"));
    }
    ops.extend(
        [
            "lease_drop/8",
            "lease_finish/8",
            "lease_report_drop/8",
            "lease_latency_finish/8",
            "info_at/8",
            "baseline/1",
        ]
        .map(String::from),
    );
    ops
}

fn run(op: &str, k: u64) -> Result<(), String> {
    let mut parts = op.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("pick"), Some(name), Some("8"), None) => pick::<8>(name, k),
        (Some("pick"), Some(name), Some("64"), None) => pick::<64>(name, k),
        (Some("spread"), Some(name), Some("8"), None) => pick_in(spread_pool::<8>(), name, k),
        (Some(name), Some("8"), None, None) if name.starts_with("lease_") => {
            let end = match name {
                "lease_drop" => End::Drop,
                "lease_finish" => End::Finish,
                "lease_report_drop" => End::ReportDrop,
                "lease_latency_finish" => End::LatencyFinish,
                _ => return Err(format!("unknown operation {op:?} (see --list)")),
            };
            lease::<8>(end, k);
            Ok(())
        }
        (Some("info_at"), Some("8"), None, None) => {
            info_at::<8>(k);
            Ok(())
        }
        (Some("baseline"), Some("1"), None, None) => {
            baseline(k);
            Ok(())
        }
        _ => Err(format!("unknown operation {op:?} (see --list)")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--list"] => {
            for op in ops() {
                println!("{op}");
            }
            Ok(())
        }
        // `cargo bench` passes `--bench` (and whatever follows `--`, such as a filter or
        // criterion's `--quick`): run everything once, as a smoke test
        args if args.contains(&"--bench") => ops().iter().try_for_each(|op| run(op, 1)),
        [op, k] => match k.parse::<u64>() {
            Ok(k) => run(op, k),
            Err(e) => Err(format!("K = {k:?}: {e}")),
        },
        _ => Err("usage: callgrind OP K | callgrind --list".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callgrind bench: {e}");
            ExitCode::FAILURE
        }
    }
}
