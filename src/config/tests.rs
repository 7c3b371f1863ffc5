//! Unit tests of `config.rs`.

use super::*;

#[test]
fn linear_ramp() {
    let s = SlowStart::linear(1000);
    assert_eq!(s.weight(100, 0), 10, "floor");
    assert_eq!(s.weight(100, 100), 10);
    assert_eq!(s.weight(100, 500), 50);
    assert_eq!(s.weight(100, 999), 99);
    assert_eq!(s.weight(100, 1000), 100);
    assert_eq!(s.weight(100, u32::MAX), 100);
    assert_eq!(s.weight(1, 0), 1, "never zero");
}

#[test]
fn roots_are_close() {
    for k in 1..=8u32 {
        for x in (0..=65536u32).step_by(97) {
            let y = root_q16(x, k);
            let exact = (x as f64 / 65536.0).powf(1.0 / k as f64) * 65536.0;
            assert!(y as f64 <= exact + 1e-6, "k={k} x={x} y={y} exact={exact}");
            assert!(
                exact - (y as f64) < 1.0 + 1e-6,
                "k={k} x={x} y={y} exact={exact}"
            );
        }
    }
}

#[test]
fn bad_configs() {
    assert_eq!(
        Config::new()
            .slow_start(SlowStart {
                window_ms: 0,
                ..SlowStart::linear(1)
            })
            .validate(),
        Err(ConfigError::InvalidSlowStart)
    );
    assert_eq!(
        Config::new()
            .slow_start(SlowStart {
                aggression: 9,
                ..SlowStart::linear(1)
            })
            .validate(),
        Err(ConfigError::InvalidSlowStart)
    );
    assert_eq!(
        Config::new()
            .ejection(Ejection {
                max_ms: 1,
                ..Ejection::ENVOY
            })
            .validate(),
        Err(ConfigError::InvalidEjection)
    );
    assert_eq!(
        Config::new()
            .ejection(Ejection {
                interval_ms: 0,
                ..Ejection::ENVOY
            })
            .validate(),
        Err(ConfigError::InvalidEjection)
    );
    assert_eq!(
        Config::new().panic_threshold_percent(101).validate(),
        Err(ConfigError::InvalidPercent)
    );
    assert_eq!(
        Config::new().failure_penalty_percent(10_001).validate(),
        Err(ConfigError::InvalidPercent)
    );
    assert_eq!(
        Config::new().failure_penalty_percent(10_000).validate(),
        Ok(())
    );
    assert_eq!(Config::new().validate(), Ok(()));
    assert_eq!(Config::new().failure_penalty_percent, 100, "on by default");
}

#[test]
fn multiplier_steps_as_envoy() {
    let e = Ejection::ENVOY;
    assert_eq!(e.next_times(0, None), 1);
    assert_eq!(e.next_times(3, None), 4);
    // Envoy's cap: with 30 s base and 300 s max, the multiplier stops at 11
    assert_eq!(e.next_times(10, None), 11);
    assert_eq!(e.next_times(11, None), 11);
    // one step per 10 s back: 29.999 s earns two
    assert_eq!(e.next_times(5, Some(29_999)), 4);
    assert_eq!(e.next_times(5, Some(30_000)), 3);
    assert_eq!(e.next_times(5, Some(u32::MAX)), 1);
    let one = Ejection {
        base_ms: 7,
        max_ms: 7,
        ..e
    };
    assert_eq!(one.next_times(1, None), 2, "cap: 7 × 1 < 7 + 7");
    assert_eq!(one.next_times(2, None), 2);
}

#[test]
fn ejection_durations_cap() {
    let e = Ejection::ENVOY;
    assert_eq!(e.duration_ms(1), 30_000);
    assert_eq!(e.duration_ms(3), 90_000);
    assert_eq!(e.duration_ms(100), 300_000);
    assert_eq!(e.duration_ms(u32::MAX), 300_000);
}
