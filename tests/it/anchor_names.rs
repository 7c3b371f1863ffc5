//! The names the anchors use for different things, each parsed to what it means here:
//! HAProxy's `static-rr` is weighted round robin; `random` is nginx's one draw, while
//! HAProxy's bare `random` (two draws) is spelled `random(2)`; `first` and `pick_first`.

use tinylb::{
    First, PickFirst, Pool, PowerOfTwo, Random, Request, Select, Strategy, WeightedRoundRobin,
};

const N: usize = 8;

fn picks<S: Select<N>>(s: &S, pool: &Pool<N>, count: usize) -> Vec<usize> {
    (0..count)
        .map(|_| s.select(pool, &mut Request::new()).unwrap().index())
        .collect()
}

fn weighted_pool() -> Pool<N> {
    let pool = Pool::new();
    for w in [5, 1, 3, 2] {
        pool.add(w).unwrap();
    }
    pool
}

/// `static-rr` (and `static_rr`) is weighted: each aligned period of `Σw = 11` picks gives
/// every backend exactly its weight, the picks of `WeightedRoundRobin` with the same seed.
#[test]
fn static_rr_is_weighted_round_robin() {
    let pool = weighted_pool();
    for name in ["static-rr", "static_rr", "STATIC-RR"] {
        let s: Strategy<N> = Strategy::from_name(name, 3).unwrap();
        assert_eq!(s.name(), "weighted_round_robin", "{name}");
        let got = picks(&s, &pool, 44);
        assert_eq!(
            got,
            picks(&WeightedRoundRobin::<N>::with_seed(3), &pool, 44)
        );
        for period in got.chunks(11) {
            let mut counts = [0u32; 4];
            for &i in period {
                counts[i] += 1;
            }
            assert_eq!(counts, [5, 1, 3, 2], "{name}: {period:?}");
        }
    }
    let rr: Strategy<N> = "rr".parse().unwrap();
    assert_eq!(rr.name(), "round_robin");
}

/// `random`, `random(1)` and `random_1` are one weighted draw (nginx's `random`,
/// HAProxy's `random(1)`); `random(2)` and `random_2` are two draws and the less loaded
/// (HAProxy's bare `random`), with the picks of the concrete strategies.
#[test]
fn random_is_one_draw_and_random_2_is_two() {
    let pool = weighted_pool();
    for name in ["random", "random(1)", "random_1", "Random-1"] {
        let s: Strategy<N> = Strategy::from_name(name, 8).unwrap();
        assert_eq!(s.name(), "random", "{name}");
        assert_eq!(
            picks(&s, &pool, 32),
            picks(&Random::with_seed(8), &pool, 32)
        );
    }
    for name in ["random(2)", "random_2", "p2c", "least_request"] {
        let s: Strategy<N> = Strategy::from_name(name, 8).unwrap();
        assert_eq!(s.name(), "p2c", "{name}");
        assert_eq!(
            picks(&s, &pool, 32),
            picks(&PowerOfTwo::with_seed(8), &pool, 32)
        );
    }
    assert!("random(3)".parse::<Strategy<N>>().is_err());
}

/// `first` and `pick_first` parse to [`First`] and to [`PickFirst`] with the seed given.
#[test]
fn first_and_pick_first() {
    let pool = weighted_pool();
    let s: Strategy<N> = "first".parse().unwrap();
    assert_eq!(s.name(), "first");
    assert_eq!(picks(&s, &pool, 8), picks(&First::new(), &pool, 8));
    for seed in [0, 1, 77, u64::MAX] {
        let s: Strategy<N> = Strategy::from_name("pick-first", seed).unwrap();
        assert_eq!(s.name(), "pick_first");
        assert_eq!(
            picks(&s, &pool, 8),
            picks(&PickFirst::with_seed(seed), &pool, 8)
        );
    }
}
