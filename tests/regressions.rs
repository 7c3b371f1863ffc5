//! Regression tests for bugs found by the property tests: each once failed.

mod common;

use common::{Spec, build_pool};
use tinylb::{Lease, Pool, Request, RoundRobin, Select, WeightedRoundRobin};

/// Weighted round robin: with the heaviest backend at its cap, `select` returned `None` on
/// every third pick although backends 1 and 2 are eligible.
#[test]
fn wrr_some_while_a_backend_is_eligible() {
    let pool: Pool<4> = Pool::new();
    let a = pool.add(5).unwrap();
    pool.add(1).unwrap();
    pool.add(1).unwrap();
    pool.set_cap(a, Some(1)).unwrap();
    let _held = Lease::acquire(&pool, a).unwrap();
    let wrr = WeightedRoundRobin::<4>::new();
    let got: Vec<Option<usize>> = (0..9)
        .map(|_| wrr.select(&pool, &mut Request::new()).map(|id| id.index()))
        .collect();
    assert!(got.iter().all(Option::is_some), "{got:?}");
}

/// Round robin from two threads: a pick could come back `None` although four of seven backends
/// are eligible all the time.
#[test]
fn rr_some_under_contention() {
    let pool: Pool<8> = Pool::new();
    let specs = [
        Spec::Up(1),
        Spec::Down(1),
        Spec::Up(3),
        Spec::Zero,
        Spec::Up(1),
        Spec::AtCap(2, 1),
        Spec::Up(1),
    ];
    let _held = build_pool(&pool, &specs);
    let rr = RoundRobin::new();
    let nones: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut req = Request::new();
                    (0..1_000_000)
                        .filter(|_| rr.select(&pool, &mut req).is_none())
                        .count()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(nones, 0, "{nones} picks of 2 000 000 returned None");
}
