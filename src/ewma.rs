//! Integer-only, peak-sensitive moving average of latency (Finagle's and tower's peak-EWMA,
//! without floats).
//!
//! The estimate `e` (microseconds, `u32`) moves towards each sample `s`:
//!
//! * a sample above the estimate replaces it at once (`e = s`): the estimate is *peak-sensitive*,
//!   so one slow response penalises a backend immediately;
//! * a sample at or below it pulls it down by a time-weighted average
//!   `e = s + (e - s) * 2^(-dt / half_life)`, so fast responses lower it gradually;
//! * between samples the estimate read by a pick decays towards zero with the same half-life
//!   (`e * 2^(-dt / half_life)`), so a backend penalised long ago gets retried: its cost falls
//!   until it is picked again and a fresh sample puts it where it belongs.
//!
//! `2^(-x)` is computed in Q16 fixed point: whole half-lives are a right shift, the fraction
//! is the chord `1 - f/2` between the powers of two, which is never below the exact curve
//! (up to the 2^-16 truncation of Q16) and at most 6.2 % above it (worst near `f = 0.56`; at `f = 1/2`: `0.75` against `2^(-1/2) = 0.7071`).

/// `2^(-elapsed / half_life)` in Q16 (65536 = 1.0). A zero half-life means "no memory":
/// the factor is 0 for any positive elapsed time.
pub(crate) const fn decay_q16(elapsed_ms: u32, half_life_ms: u32) -> u32 {
    if elapsed_ms == 0 {
        return 1 << 16;
    }
    if half_life_ms == 0 {
        return 0;
    }
    let whole = elapsed_ms / half_life_ms;
    if whole >= 17 {
        return 0;
    }
    let rem = elapsed_ms % half_life_ms;
    // chord between 2^0 and 2^-1 at f = rem / half_life: 1 - f/2, in Q16.
    let frac = (1u64 << 16) - (((rem as u64) << 15) / half_life_ms as u64);
    (frac >> whole) as u32
}

/// `value * q16 / 65536`, rounding down.
pub(crate) const fn scale(value: u32, q16: u32) -> u32 {
    ((value as u64 * q16 as u64) >> 16) as u32
}

/// The estimate `est` (last updated `elapsed_ms` ago) as a pick sees it now.
pub(crate) const fn decayed(est: u32, elapsed_ms: u32, half_life_ms: u32) -> u32 {
    scale(est, decay_q16(elapsed_ms, half_life_ms))
}

/// The estimate after a sample of `sample_us`, `elapsed_ms` after the last one.
/// `est == 0` means "no sample yet": the first sample is taken as it is.
pub(crate) const fn update(est: u32, sample_us: u32, elapsed_ms: u32, half_life_ms: u32) -> u32 {
    // 0 is reserved for "never sampled": a real 0 µs sample is stored as 1 µs.
    let sample = if sample_us == 0 { 1 } else { sample_us };
    if est == 0 || sample >= est {
        return sample;
    }
    let w = decay_q16(elapsed_ms, half_life_ms);
    // est > sample here, so the difference is positive and the result lies in [sample, est].
    sample + scale(est - sample, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_endpoints_and_halvings() {
        assert_eq!(decay_q16(0, 1000), 65536);
        assert_eq!(decay_q16(1000, 1000), 32768);
        assert_eq!(decay_q16(2000, 1000), 16384);
        assert_eq!(decay_q16(500, 1000), 49152); // 0.75, exact curve 0.7071
        assert_eq!(decay_q16(17_000, 1000), 0);
        assert_eq!(decay_q16(u32::MAX, 1), 0);
        assert_eq!(decay_q16(5, 0), 0);
        assert_eq!(decay_q16(u32::MAX, u32::MAX), 32768);
    }

    #[test]
    #[cfg_attr(miri, ignore = "arithmetic over a grid: nothing for miri to find")]
    fn decay_is_monotone_and_close_to_the_curve() {
        let h = 977;
        let mut prev = u32::MAX;
        for t in 0..20 * h {
            let d = decay_q16(t, h);
            assert!(d <= prev, "not monotone at {t}");
            prev = d;
            // never below the exact curve, at most 6.2 % above it (checked in f64 in the test only)
            let exact = 65536.0 * (2f64).powf(-(t as f64) / h as f64);
            assert!(d as f64 >= exact - 1.0, "t={t} d={d} exact={exact}");
            assert!(d as f64 <= exact * 1.062 + 1.0, "t={t} d={d} exact={exact}");
        }
    }

    #[test]
    fn peak_sensitive_update() {
        assert_eq!(update(0, 500, 0, 1000), 500, "first sample taken as is");
        assert_eq!(
            update(100, 5000, 0, 1000),
            5000,
            "slow sample raises at once"
        );
        // a fast sample right after the last one barely moves it
        assert_eq!(update(5000, 100, 0, 1000), 5000);
        // one half-life later, it moves halfway
        assert_eq!(update(5000, 100, 1000, 1000), 100 + 2450);
        // long after, it is the sample
        assert_eq!(update(5000, 100, 60_000, 1000), 100);
        assert_eq!(
            update(5000, 0, 60_000, 1000),
            1,
            "zero latency is stored as 1"
        );
        assert_eq!(update(u32::MAX, u32::MAX, u32::MAX, 1), u32::MAX);
        assert_eq!(update(u32::MAX, 1, 0, 1), u32::MAX);
    }

    #[test]
    fn decayed_reaches_zero() {
        assert_eq!(decayed(1_000_000, 0, 1000), 1_000_000);
        assert_eq!(decayed(1_000_000, 1000, 1000), 500_000);
        assert_eq!(decayed(1_000_000, 40_000, 1000), 0);
    }
}
