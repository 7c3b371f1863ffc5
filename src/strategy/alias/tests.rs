//! Unit tests of `alias.rs`: the table against the exact rational law it must give, the
//! rebuild, and the fallback.

extern crate std;
use super::*;
use crate::pool::MAX_WEIGHT;
use crate::{Random, Request, Select};
use proptest::prelude::*;
use std::vec::Vec;

/// Builds the table of `w` into plain arrays: (threshold, alias, times the column was put).
fn table(w: &[u32]) -> (u64, Vec<(u32, usize, u32)>) {
    let total: u64 = w.iter().map(|&x| x as u64).sum();
    let mut cols = std::vec![(0u32, usize::MAX, 0u32); w.len()];
    build(
        w.len(),
        total,
        |k| w[k],
        |col, thr, alias| {
            let c = &mut cols[col];
            *c = (thr, alias, c.2 + 1);
        },
    );
    (total, cols)
}

/// The reference model: slot `k`'s probability, as a numerator over `n · total`, from an
/// enumeration of the columns (own part `thr_j`, alias part `total − thr_j`).
fn law(total: u64, cols: &[(u32, usize, u32)]) -> Vec<u64> {
    let mut p = std::vec![0u64; cols.len()];
    for (j, &(thr, alias, _)) in cols.iter().enumerate() {
        p[j] += thr as u64;
        p[alias] += total - thr as u64;
    }
    p
}

fn check(w: &[u32]) -> Result<(), TestCaseError> {
    let (total, cols) = table(w);
    let n = w.len() as u64;
    for (j, &(thr, alias, times)) in cols.iter().enumerate() {
        prop_assert_eq!(times, 1, "column {} put {} times", j, times);
        prop_assert!(thr as u64 <= total);
        prop_assert!(alias < w.len());
    }
    // exactly w_k / total for every slot (zero-weight slots get nothing)
    for (k, p) in law(total, &cols).into_iter().enumerate() {
        prop_assert_eq!(p, n * w[k] as u64, "slot {} of {:?}", k, w);
    }
    Ok(())
}

/// Weights with a sum in `1..=MAX_TOTAL_WEIGHT`: mostly small, some zero, some huge.
fn weights() -> impl Strategy<Value = Vec<u32>> {
    let one = prop_oneof![
        3 => 0u32..=10,
        2 => 1u32..=1000,
        1 => Just(0u32),
        1 => Just(MAX_WEIGHT),
        1 => 0u32..=MAX_WEIGHT,
    ];
    prop::collection::vec(one, 1..=64).prop_filter("sum in range", |w| {
        let s: u64 = w.iter().map(|&x| x as u64).sum();
        s > 0 && s <= MAX_TOTAL_WEIGHT as u64
    })
}

/// 512 cases, or `PROPTEST_CASES` when set (CI lowers it under miri and WASI).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Every column is written once, and the table's law is the weights' law, exactly.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "exact arithmetic of the table's law: nothing for miri to find (runs natively and on 32-bit wasm)"
    )]
    fn table_law_is_exact(w in weights()) {
        check(&w)?;
    }
}

#[test]
fn table_edges() {
    for w in [
        &[1u32][..],
        &[5, 5, 5, 5],
        &[0, 0, 7, 0],
        &[1000, 1, 1, 1, 1, 1, 1, 1],
        &[MAX_WEIGHT, 1, 0, 1],
        &[3, 1],
        &[1, 2, 3, 4, 5, 6, 7, 8],
    ] {
        check(w).unwrap();
    }
    // the largest total a pool allows: 1024 backends of MAX_WEIGHT and one of 1023
    let mut big = std::vec![MAX_WEIGHT; 1024];
    big.push(1023);
    assert_eq!(
        big.iter().map(|&w| w as u64).sum::<u64>(),
        MAX_TOTAL_WEIGHT as u64
    );
    check(&big).unwrap();
    // equal weights: every column keeps itself whole
    let (total, cols) = table(&[4, 4, 4]);
    assert!(
        cols.iter()
            .enumerate()
            .all(|(j, c)| c.0 as u64 == total && c.1 == j)
    );
    // one weight: every other column is all alias to it
    let (_, cols) = table(&[0, 9, 0, 0]);
    assert!(cols.iter().all(|c| c.1 == 1));
}

/// The rebuild writes `build`'s table of the pool's schedule weights (down and weight-0
/// backends count 0), and the next change of the pool makes the next pick rebuild.
#[test]
fn rebuild_follows_the_epoch() {
    let pool: Pool<8> = Pool::new();
    let ids: Vec<_> = [3u32, 1, 7, 2]
        .iter()
        .map(|&w| pool.add(w).unwrap())
        .collect();
    pool.set_health(ids[1], crate::Health::Down).unwrap();
    let s = AliasRandom::<8>::with_seed(1);
    s.select(&pool, &mut Request::new()).unwrap();
    assert_eq!(
        s.built_for.load(Ordering::Relaxed),
        pool.epoch().wrapping_add(1)
    );
    let read = |s: &AliasRandom<8>| -> (u32, Vec<(u32, usize, u32)>) {
        let n = s.cols.load(Ordering::Relaxed) as usize;
        let cols = (0..n)
            .map(|k| {
                let thr = s.thr[k].load(Ordering::Relaxed);
                let alias = s.alias[k].load(Ordering::Relaxed) as usize;
                (thr, alias, 1)
            })
            .collect();
        (s.total.load(Ordering::Relaxed), cols)
    };
    let (total, cols) = read(&s);
    assert_eq!((total as u64, cols), table(&[3, 0, 7, 2]));
    pool.set_weight(ids[2], 1).unwrap();
    s.select(&pool, &mut Request::new()).unwrap();
    let (total, cols) = read(&s);
    assert_eq!((total as u64, cols), table(&[3, 0, 1, 2]));
    assert_eq!(s.seq.load(Ordering::Relaxed), 4);
}

/// With the table out of use (never built: its rebuild lock is held elsewhere), every pick
/// is `Random`'s, pick for pick; once the lock is free the next pick builds it.
#[test]
fn without_the_table_the_picks_are_randoms() {
    let pool: Pool<8> = Pool::new();
    for w in [1000u32, 1, 1, 1, 5] {
        pool.add(w).unwrap();
    }
    let alias = AliasRandom::<8>::with_seed(9);
    alias.rebuilding.store(1, Ordering::Relaxed);
    let random = Random::with_seed(9);
    for _ in 0..200 {
        assert_eq!(
            alias.select(&pool, &mut Request::new()),
            random.select(&pool, &mut Request::new())
        );
    }
    assert_eq!(alias.seq.load(Ordering::Relaxed), 0);
    alias.rebuilding.store(0, Ordering::Relaxed);
    alias.select(&pool, &mut Request::new()).unwrap();
    assert_eq!(
        alias.built_for.load(Ordering::Relaxed),
        pool.epoch().wrapping_add(1)
    );
}

/// A draw from the table whose backend has all of its table weight takes one word of the
/// stream.
#[test]
fn one_draw_a_pick_on_the_table() {
    let pool: Pool<4> = Pool::new();
    pool.add(1).unwrap();
    pool.add(3).unwrap();
    let s = AliasRandom::<4>::with_seed(0);
    for _ in 0..10 {
        s.select(&pool, &mut Request::new()).unwrap();
    }
    assert_eq!(s.cols.load(Ordering::Relaxed), 2);
    let next = s.stream.next_u64();
    let fresh = Stream::new(0);
    for _ in 0..10 {
        fresh.next_u64();
    }
    assert_eq!(next, fresh.next_u64());
}

/// A pool whose weights are all the bound builds no table and makes `Random`'s picks.
#[test]
fn alike_weights_build_no_table() {
    let pool: Pool<8> = Pool::new();
    for _ in 0..5 {
        pool.add(4).unwrap();
    }
    let (alias, random) = (AliasRandom::<8>::with_seed(3), Random::with_seed(3));
    for _ in 0..100 {
        assert_eq!(
            alias.select(&pool, &mut Request::new()),
            random.select(&pool, &mut Request::new())
        );
    }
    assert_eq!(alias.cols.load(Ordering::Relaxed), 0);
    assert_eq!(
        alias.built_for.load(Ordering::Relaxed),
        pool.epoch().wrapping_add(1)
    );
}

/// The footprint the docs state: `10 · N + 36` bytes rounded up to 8 where a `u64` is
/// 8-aligned (Cortex-M, 64-bit targets): five words, three per-slot arrays and the stream
/// (its seed and counter, padded to 16 there; 12 bytes on i686, where a `u64` is 4-aligned).
#[test]
fn footprint() {
    use core::mem::{align_of, size_of};
    let stream = size_of::<Stream>();
    assert_eq!(stream, 12_usize.next_multiple_of(align_of::<u64>()));
    for (n, size) in [
        (8, size_of::<AliasRandom<8>>()),
        (64, size_of::<AliasRandom<64>>()),
    ] {
        assert_eq!(
            size,
            (10 * n + 20 + stream).next_multiple_of(align_of::<u64>())
        );
    }
    if align_of::<u64>() == 8 {
        assert_eq!(size_of::<AliasRandom<8>>(), 120);
    }
}
