//! Fleet subsetting against simple reference models: deterministic subsetting's exact
//! balance, aperture's coverage bounds, random subsetting's minimal churn, the diff, bad
//! input, and the golden vectors (`tests/golden/subset.rs`, also run on Cortex-M).

// Test helpers index vectors they sized themselves; a panic there is a test failure.
#![allow(clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tinylb::subset::{
    Change, FULL_SHARE, Member, Scheme, Subset, SubsetError, aperture, deterministic, random, slots,
};
use tinylb::{
    Backend, Config, Ejection, Health, Lease, Outcome, Pool, PowerOfTwo, Rendezvous, Request,
    RoundRobin, Select, SelectExt, Strategy as Picker, WeightedRoundRobin,
};

/// The vectors, shared with the firmware.
#[allow(unreachable_pub)]
#[path = "../../golden/subset.rs"]
pub mod golden;

/// Capacity of the subsets under test.
const CAP: usize = 64;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn ids(s: &Subset<CAP>) -> Vec<u32> {
    s.backends().collect()
}

/// The reference model of deterministic subsetting, as its docs state it: sort by the
/// round's key, read the cyclic window.
fn det_ref(proxy: u32, backends: &[u32], k: u32, seed: u64) -> Vec<u32> {
    let n = backends.len() as u32;
    if n == 0 {
        return vec![];
    }
    let k = k.min(n);
    let round_len = n / gcd(n, k);
    let (round, j) = (proxy / round_len, proxy % round_len);
    let rs = mix64(seed.wrapping_add((round as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let mut order = backends.to_vec();
    order.sort_by_key(|&b| mix64(rs ^ b as u64));
    let start = (j as u64 * k as u64 % n as u64) as usize;
    let mut out: Vec<u32> = (0..k as usize)
        .map(|t| order[(start + t) % n as usize])
        .collect();
    out.sort_unstable();
    out
}

/// The reference model of random subsetting: sort by rendezvous score, keep the top `k`.
fn random_ref(backends: &[u32], k: u32, seed: u64) -> Vec<u32> {
    let m = mix64(seed);
    let mut order = backends.to_vec();
    order.sort_by_key(|&b| {
        core::cmp::Reverse(mix64(
            m ^ (b as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93),
        ))
    });
    order.truncate(k as usize);
    order.sort_unstable();
    order
}

/// The reference model of aperture: walk the window unit by unit on the `P·B` ring and
/// count each backend's units.
fn aperture_ref(proxy: u32, proxies: u32, backends: &[u32], k: u32, seed: u64) -> Vec<Member> {
    let (p, n) = (proxies as u64, backends.len() as u64);
    let k = (k as u64).min(n);
    let turns = (k * p).div_ceil(n).clamp(1, p);
    let ring = p * n;
    let offset = ((seed >> 32) * ring) >> 32;
    let start = (proxy as u64 * n + offset) % ring;
    let mut units: BTreeMap<u32, u64> = BTreeMap::new();
    for u in start..start + turns * n {
        let b = backends[((u % ring) / p) as usize];
        *units.entry(b).or_default() += 1;
    }
    units
        .into_iter()
        .map(|(backend, c)| Member {
            backend,
            share_q16: ((c * 65_536 + p / 2) / p).clamp(1, 65_536) as u32,
        })
        .collect()
}

/// Strictly ascending ids: `n` of them, with random gaps.
fn backends_strategy(max: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(0u32..2000, 1..=max).prop_map(|s| s.into_iter().collect())
}

/// Connections per backend over proxies `0..proxies`.
#[allow(dead_code)]
fn connections(
    scheme: Scheme,
    proxies: u32,
    backends: &[u32],
    k: u32,
    seed: u64,
) -> BTreeMap<u32, u32> {
    let mut c: BTreeMap<u32, u32> = backends.iter().map(|&b| (b, 0)).collect();
    for proxy in 0..proxies {
        // random subsetting: a seed per proxy; the others: the fleet's seed
        let seed = match scheme {
            Scheme::Random => seed.wrapping_add(proxy as u64),
            _ => seed,
        };
        let s: Subset<CAP> = scheme.subset(proxy, proxies, backends, k, seed).unwrap();
        for b in s.backends() {
            *c.get_mut(&b).unwrap() += 1;
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Deterministic subsetting is its reference model, with `min(k, B)` full members.
    #[test]
    fn deterministic_matches_reference(
        backends in backends_strategy(40), k in 1u32..45, proxy in 0u32..500, seed: u64,
    ) {
        let s: Subset<CAP> = deterministic(proxy, proxy + 1, &backends, k, seed).unwrap();
        prop_assert_eq!(ids(&s), det_ref(proxy, &backends, k, seed));
        prop_assert_eq!(s.len() as u32, k.min(backends.len() as u32));
        prop_assert!(s.members().iter().all(|m| m.share_q16 == FULL_SHARE));
    }

    /// Every backend has ⌊P·k/B⌋ or ⌈P·k/B⌉ connections; exactly P·k/B when B divides P·k.
    #[test]
    fn deterministic_balance(
        backends in backends_strategy(48), k in 1u32..20, proxies in 1u32..150, seed: u64,
    ) {
        let n = backends.len() as u32;
        let k = k.min(n);
        let c = connections(Scheme::Deterministic, proxies, &backends, k, seed);
        let total = proxies * k;
        let (lo, hi) = (total / n, total.div_ceil(n));
        for (&b, &cnt) in &c {
            prop_assert!(cnt == lo || cnt == hi, "backend {} has {} (want {}..={})", b, cnt, lo, hi);
        }
        if total % n == 0 {
            prop_assert!(c.values().all(|&x| x == total / n));
        }
    }

    /// Exact balance in the divisible case, driven there directly: P = B·m / gcd(B, k).
    #[test]
    fn deterministic_exact_when_divisible(
        backends in backends_strategy(30), k in 1u32..12, m in 1u32..4, seed: u64,
    ) {
        let n = backends.len() as u32;
        let k = k.min(n);
        let proxies = n / gcd(n, k) * m;
        let c = connections(Scheme::Deterministic, proxies, &backends, k, seed);
        let want = proxies * k / n;
        prop_assert!(c.values().all(|&x| x == want), "{:?} want {}", c, want);
    }

    /// A proxy's deterministic subset does not depend on the fleet size: proxies added
    /// (or restarted) move no other proxy's connections.
    #[test]
    fn deterministic_ignores_fleet_size(
        backends in backends_strategy(40), k in 1u32..20, proxy in 0u32..300, more in 1u32..100, seed: u64,
    ) {
        let a: Subset<CAP> = deterministic(proxy, proxy + 1, &backends, k, seed).unwrap();
        let b: Subset<CAP> = deterministic(proxy, proxy + 1 + more, &backends, k, seed).unwrap();
        prop_assert_eq!(a, b);
    }

    /// Aperture is its unit-by-unit reference model.
    #[test]
    fn aperture_matches_reference(
        backends in backends_strategy(30), k in 1u32..35, proxies in 1u32..40, pick: u32, seed: u64,
    ) {
        let proxy = pick % proxies;
        let s: Subset<CAP> = aperture(proxy, proxies, &backends, k, seed).unwrap();
        prop_assert_eq!(s.members(), &aperture_ref(proxy, proxies, &backends, k, seed)[..]);
    }

    /// Aperture's bounds: every backend in ⌈N + P/B⌉ − 1 or ⌈N + P/B⌉ windows (at most P),
    /// its shares summing to N full shares (one unit of rounding per proxy), and no window
    /// larger than k + ⌈B/P⌉ + 1.
    #[test]
    fn aperture_bounds(
        backends in backends_strategy(60), k in 1u32..20, proxies in 1u32..120, seed: u64,
    ) {
        let (n, p) = (backends.len() as u64, proxies as u64);
        let kk = (k as u64).min(n);
        let turns = (kk * p).div_ceil(n).clamp(1, p);
        let hi = (turns * n + p).div_ceil(n).min(p); // ⌈N + P/B⌉, capped
        let lo = if (turns * n + p).div_ceil(n) > p { p } else { hi - 1 };
        let mut conns: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for proxy in 0..proxies {
            let s: Subset<CAP> = aperture(proxy, proxies, &backends, k, seed).unwrap();
            prop_assert!(s.len() as u64 <= (kk + n.div_ceil(p) + 1).min(n));
            for m in s.members() {
                let e = conns.entry(m.backend).or_default();
                e.0 += 1;
                e.1 += m.share_q16 as u64;
            }
        }
        prop_assert_eq!(conns.len() as u64, n);
        for (&b, &(c, sum)) in &conns {
            prop_assert!(c >= lo && c <= hi, "backend {} in {} windows, want {}..={}", b, c, lo, hi);
            let want = turns * FULL_SHARE as u64;
            prop_assert!(sum.abs_diff(want) <= c, "backend {}: shares {} want {}", b, sum, want);
        }
    }

    /// Random subsetting is its reference model.
    #[test]
    fn random_matches_reference(backends in backends_strategy(60), k in 1u32..70, seed: u64) {
        let s: Subset<CAP> = random(&backends, k, seed).unwrap();
        prop_assert_eq!(ids(&s), random_ref(&backends, k, seed));
    }

    /// Removing a backend moves only what must move: nothing if it was not a member, else
    /// exactly one replacement (when one is left to take its place).
    #[test]
    fn random_remove_moves_minimum(backends in backends_strategy(60), k in 1u32..20, pick: usize, seed: u64) {
        let old: Subset<CAP> = random(&backends, k, seed).unwrap();
        let gone = backends[pick % backends.len()];
        let rest: Vec<u32> = backends.iter().copied().filter(|&b| b != gone).collect();
        let new: Subset<CAP> = random(&rest, k, seed).unwrap();
        let c = old.diff(&new).counts();
        if old.contains(gone) {
            prop_assert_eq!(c.removed, 1);
            prop_assert_eq!(c.added, u32::from(rest.len() >= k as usize));
        } else {
            prop_assert!(c.is_empty());
        }
    }

    /// Adding a backend moves at most one connection: the new backend in, the worst out.
    #[test]
    fn random_add_moves_minimum(backends in backends_strategy(60), k in 1u32..20, extra in 2000u32..3000, seed: u64) {
        let old: Subset<CAP> = random(&backends, k, seed).unwrap();
        let mut more = backends.clone();
        more.push(extra);
        let new: Subset<CAP> = random(&more, k, seed).unwrap();
        let d = old.diff(&new);
        let c = d.counts();
        if new.contains(extra) {
            prop_assert_eq!(c.added, 1);
            prop_assert_eq!(c.removed, u32::from(backends.len() >= k as usize));
            prop_assert_eq!(d.added().next().map(|m| m.backend), Some(extra));
        } else {
            prop_assert!(c.is_empty());
        }
    }

    /// The best-scored member is where `Rendezvous` sends the key `seed` over equal weights:
    /// random subsetting ranks backends by the crate's rendezvous score.
    #[test]
    fn random_top_is_rendezvous(n in 1usize..32, seed: u64) {
        let pool: Pool<32> = Pool::new();
        for _ in 0..n {
            pool.add(1).unwrap();
        }
        let backends: Vec<u32> = (0..n as u32).collect();
        let top: Subset<CAP> = random(&backends, 1, seed).unwrap();
        let pick = Rendezvous::new().select(&pool, &mut Request::new().with_key(seed)).unwrap();
        prop_assert_eq!(ids(&top), vec![pick.index() as u32]);
    }

    /// The diff agrees with set arithmetic on the two member lists.
    #[test]
    fn diff_matches_sets(
        a in prop::collection::btree_map(0u32..40, 1u32..=FULL_SHARE, 0..20),
        b in prop::collection::btree_map(0u32..40, 1u32..=FULL_SHARE, 0..20),
    ) {
        let old = subset_of(&a);
        let new = subset_of(&b);
        let d = old.diff(&new);
        let added: BTreeSet<u32> = b.keys().filter(|k| !a.contains_key(k)).copied().collect();
        let removed: BTreeSet<u32> = a.keys().filter(|k| !b.contains_key(k)).copied().collect();
        let rew: BTreeSet<u32> = b.iter().filter(|(k, v)| a.get(k).is_some_and(|o| o != *v)).map(|(k, _)| *k).collect();
        prop_assert_eq!(d.added().map(|m| m.backend).collect::<BTreeSet<_>>(), added.clone());
        prop_assert_eq!(d.removed().map(|m| m.backend).collect::<BTreeSet<_>>(), removed.clone());
        prop_assert_eq!(d.reweighted().map(|(o, _)| o.backend).collect::<BTreeSet<_>>(), rew.clone());
        let kept = b.len() - added.len() - rew.len();
        prop_assert_eq!(d.counts(), Change {
            added: added.len() as u32,
            removed: removed.len() as u32,
            reweighted: rew.len() as u32,
            kept: kept as u32,
        });
    }
}

/// A subset with exactly `members` (id → share).
fn subset_of(members: &BTreeMap<u32, u32>) -> Subset<CAP> {
    Subset::from_members(
        members
            .iter()
            .map(|(&backend, &share_q16)| Member { backend, share_q16 }),
    )
    .unwrap()
}

#[test]
fn sre_book_case_is_the_books_algorithm() {
    // k divides B: rounds of B/k clients, each taking one slice of the round's shuffle, so
    // the clients of a round partition the backends
    let backends: Vec<u32> = (0..30).collect();
    for round in 0..4u32 {
        let mut seen = BTreeSet::new();
        for j in 0..6 {
            let s: Subset<CAP> = deterministic(round * 6 + j, 100, &backends, 5, 9).unwrap();
            for b in s.backends() {
                assert!(seen.insert(b), "backend {b} twice in round {round}");
            }
        }
        assert_eq!(seen.len(), 30);
    }
}

#[test]
fn bad_input() {
    let b = [1u32, 2, 3];
    type S = Subset<8>;
    assert_eq!(
        deterministic::<8>(0, 1, &b, 0, 0),
        Err(SubsetError::ZeroSubsetSize)
    );
    assert_eq!(aperture::<8>(0, 0, &b, 1, 0), Err(SubsetError::EmptyFleet));
    assert_eq!(
        aperture::<8>(3, 3, &b, 1, 0),
        Err(SubsetError::ProxyOutOfRange)
    );
    assert_eq!(
        deterministic::<8>(0, 1, &[1, 1], 1, 0),
        Err(SubsetError::Unsorted)
    );
    assert_eq!(random::<8>(&[3, 2], 1, 0), Err(SubsetError::Unsorted));
    assert_eq!(random::<8>(&b, 0, 0), Err(SubsetError::ZeroSubsetSize));
    assert_eq!(random::<2>(&b, 3, 0), Err(SubsetError::CapacityTooSmall));
    assert_eq!(
        Scheme::Random.subset::<8>(5, 5, &b, 1, 0),
        Err(SubsetError::ProxyOutOfRange)
    );
    // no backends: an empty subset, not an error
    for scheme in Scheme::ALL {
        let s: S = scheme.subset(0, 1, &[], 3, 0).unwrap();
        assert!(s.is_empty());
    }
    // every error has a message and is a core::error::Error
    for e in [
        SubsetError::ZeroSubsetSize,
        SubsetError::EmptyFleet,
        SubsetError::ProxyOutOfRange,
        SubsetError::Unsorted,
        SubsetError::TooManyBackends,
        SubsetError::CapacityTooSmall,
        SubsetError::InvalidShare,
    ] {
        let err: &dyn core::error::Error = &e;
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn from_members_checks() {
    let m = |backend, share_q16| Member { backend, share_q16 };
    assert!(Subset::<4>::from_members([m(1, 5), m(2, FULL_SHARE)]).is_ok());
    assert_eq!(
        Subset::<4>::from_members([m(2, 5), m(1, 5)]),
        Err(SubsetError::Unsorted)
    );
    assert_eq!(
        Subset::<4>::from_members([m(1, 5), m(1, 5)]),
        Err(SubsetError::Unsorted)
    );
    assert_eq!(
        Subset::<4>::from_members([m(1, 0)]),
        Err(SubsetError::InvalidShare)
    );
    assert_eq!(
        Subset::<4>::from_members([m(1, FULL_SHARE + 1)]),
        Err(SubsetError::InvalidShare)
    );
    assert_eq!(
        Subset::<1>::from_members([m(1, 1), m(2, 1)]),
        Err(SubsetError::CapacityTooSmall)
    );
}

#[test]
fn scheme_names_round_trip() {
    for s in Scheme::ALL {
        assert_eq!(Scheme::from_name(s.name()), Some(s));
    }
    assert_eq!(Scheme::from_name("ring"), None);
}

#[test]
fn golden_vectors() {
    let mut bad = Vec::new();
    let failed = golden::check_all(&mut |vector, row, want, got| {
        if want != got {
            let words: Vec<u32> = got
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            bad.push(format!("{vector} {row}: got {words:?}"));
        }
    });
    assert_eq!(
        failed,
        0,
        "subsets changed (a breaking change):\n{}",
        bad.join("\n")
    );
}

// ----- a subset applied to a pool -----

/// Pool size of the apply tests.
const POOL: usize = 16;

fn full_pool(config: Config) -> Pool<POOL> {
    let pool = Pool::with_config(config).unwrap();
    for _ in 0..POOL {
        pool.add(100).unwrap();
    }
    pool
}

fn explicit(members: &[u32]) -> Subset<POOL> {
    Subset::from_members(members.iter().map(|&backend| Member {
        backend,
        share_q16: FULL_SHARE,
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every strategy, given a pool with a subset applied, picks only members, with leases
    /// held and outcomes reported.
    #[test]
    fn every_strategy_picks_within_the_subset(
        scheme in prop::sample::select(Scheme::ALL.to_vec()), proxy in 0u32..10, seed: u64,
    ) {
        let pool = full_pool(Config::new());
        let backends = slots(&pool);
        let s: Subset<POOL> = scheme.subset(proxy, 10, &backends, 4, seed).unwrap();
        prop_assert_eq!(s.apply(&pool).unwrap(), s.len() as u32);
        for name in Picker::<POOL, 251>::NAMES {
            let strategy = Picker::<POOL, 251>::from_name(name, seed).unwrap();
            let mut held: Vec<Lease<&Pool<POOL>, POOL>> = Vec::new();
            for k in 0..120u64 {
                let now = k * 1000;
                let lease = strategy
                    .lease(&pool, &mut Request::new().with_key(mix64(k)).with_now_us(now))
                    .unwrap();
                prop_assert!(s.contains(lease.index() as u32), "{} picked {}", name, lease.index());
                held.push(lease);
                if held.len() > 3 {
                    held.remove(0).finish(Outcome::success_after(core::time::Duration::from_micros(100 + k % 7 * 50)).at_us(now));
                }
            }
        }
    }
}

#[test]
fn ejection_works_inside_a_subset() {
    let pool = full_pool(Config::new().ejection(Ejection {
        consecutive_failures: 3,
        base_ms: 10_000,
        max_ms: 10_000,
        max_ejection_percent: 100,
        interval_ms: 10_000,
    }));
    let s = explicit(&[2, 5, 7]);
    s.apply(&pool).unwrap();
    let five = pool.id_at(5).unwrap();
    for t in 0..3 {
        Lease::acquire(&pool, five)
            .unwrap()
            .finish(Outcome::failure_after(core::time::Duration::from_micros(100)).at_us(t * 1000));
    }
    assert!(pool.info(five).unwrap().ejected);
    let rr = RoundRobin::new();
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let id = rr
            .select(&pool, &mut Request::new().with_now_us(5_000))
            .unwrap();
        seen.insert(id.index());
    }
    assert_eq!(seen, BTreeSet::from([2, 7]));
    // once the ejection is over, 5 is back
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let id = rr
            .select(&pool, &mut Request::new().with_now_us(60_000_000))
            .unwrap();
        seen.insert(id.index());
    }
    assert_eq!(seen, BTreeSet::from([2, 5, 7]));
}

#[test]
fn backups_work_inside_a_subset() {
    let pool: Pool<POOL> = Pool::new();
    for i in 0..9 {
        let b = if i >= 6 {
            Backend::new(1).backup()
        } else {
            Backend::new(1)
        };
        pool.add_backend(b).unwrap();
    }
    let s = explicit(&[1, 4, 7]);
    s.apply(&pool).unwrap();
    let p2c = PowerOfTwo::new();
    let picks = |n: usize| -> BTreeSet<usize> {
        (0..n)
            .filter_map(|_| p2c.select(&pool, &mut Request::new()))
            .map(|id| id.index())
            .collect()
    };
    assert_eq!(picks(100), BTreeSet::from([1, 4]));
    for i in [1, 4] {
        pool.set_health(pool.id_at(i).unwrap(), Health::Down)
            .unwrap();
    }
    // the subset's backup takes over; the backups outside it do not
    assert_eq!(picks(100), BTreeSet::from([7]));
    pool.set_health(pool.id_at(7).unwrap(), Health::Down)
        .unwrap();
    assert!(picks(20).is_empty());
}

#[test]
fn reapplying_moves_the_picks_to_the_new_subset() {
    let pool = full_pool(Config::new());
    explicit(&[0, 1, 2, 3]).apply(&pool).unwrap();
    let next = explicit(&[3, 9, 12]);
    next.apply(&pool).unwrap();
    let rr = RoundRobin::new();
    let seen: BTreeSet<usize> = (0..30)
        .map(|_| rr.select(&pool, &mut Request::new()).unwrap().index())
        .collect();
    assert_eq!(seen, BTreeSet::from([3, 9, 12]));
    // aperture's partial shares scale the weight: a half share gets about half the picks
    let half = Subset::<POOL>::from_members([
        Member {
            backend: 0,
            share_q16: FULL_SHARE,
        },
        Member {
            backend: 1,
            share_q16: FULL_SHARE / 2,
        },
    ])
    .unwrap();
    half.apply(&pool).unwrap();
    let wrr = WeightedRoundRobin::<POOL>::new();
    let ones = (0..300)
        .filter(|_| wrr.select(&pool, &mut Request::new()).unwrap().index() == 1)
        .count();
    assert_eq!(ones, 100);
}
