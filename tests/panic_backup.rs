//! Regression: in panic mode with a backup tier, an ejected backup was never picked even
//! when nothing else could be (below the panic threshold every backend that is up is
//! eligible again). Found by the fuzz model.
use tinylb::{Config, Ejection, Lease, Outcome, Pool, Request, Select, Strategy};

#[test]
fn panic_makes_an_ejected_backup_eligible_when_nothing_else_is() {
    let config = Config::new()
        .ejection(Ejection {
            consecutive_failures: 1,
            base_ms: 10_000,
            max_ms: 10_000,
            max_ejection_percent: 100,
        })
        .panic_threshold_percent(50);
    let pool: Pool<4> = Pool::with_config(config).unwrap();
    let primary = pool.add(1).unwrap();
    let backup = pool.add_backup(1).unwrap();
    pool.set_health(primary, tinylb::Health::Down).unwrap();
    Lease::acquire(&pool, backup)
        .unwrap()
        .finish(Outcome::failure(100, 1_000_000));
    assert!(pool.info(backup).unwrap().ejected);
    assert!(
        pool.in_panic(),
        "1 backend up, 1 ejected: below the 50 % threshold"
    );
    for name in Strategy::<4>::NAMES {
        let s: Strategy<4> = name.parse().unwrap();
        let got = s.select(&pool, &mut Request::new().at_us(1_000_000));
        assert_eq!(
            got,
            Some(backup),
            "{name}: in panic every backend is eligible again"
        );
    }
}

#[test]
fn same_without_a_backup_tier_picks_the_ejected_primary() {
    let config = Config::new()
        .ejection(Ejection {
            consecutive_failures: 1,
            base_ms: 10_000,
            max_ms: 10_000,
            max_ejection_percent: 100,
        })
        .panic_threshold_percent(50);
    let pool: Pool<4> = Pool::with_config(config).unwrap();
    let a = pool.add(1).unwrap();
    Lease::acquire(&pool, a)
        .unwrap()
        .finish(Outcome::failure(100, 1_000_000));
    assert!(pool.info(a).unwrap().ejected && pool.in_panic());
    let s: Strategy<4> = "round_robin".parse().unwrap();
    assert_eq!(
        s.select(&pool, &mut Request::new().at_us(1_000_000)),
        Some(a)
    );
}
