//! The `with` functions of the input types: numbers steered towards the edges (0, 1, the
//! documented limits and one past them, `i32::MAX`, `u32::MAX`), and the crate's own types
//! (`Config`, `SlowStart`, `Ejection`), which do not implement `Arbitrary`, built from them.

use core::num::NonZeroU32;

use arbitrary::{Result, Unstructured};
use tinylb::{Config, Ejection, MAX_IN_FLIGHT, MAX_WEIGHT, SlowStart};

/// 0, 1, small numbers, the edges of `LIMIT` (one past it included), `i32::MAX`, 2^31,
/// `u32::MAX`, or anything.
pub(super) fn near<const LIMIT: u32>(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=11u8)? {
        0 => 0,
        1 => 1,
        2 => LIMIT,
        3 => LIMIT.wrapping_add(1),
        4 => LIMIT.wrapping_sub(1),
        5 => i32::MAX as u32,
        6 => 1 << 31,
        7 => u32::MAX,
        8 => u.arbitrary()?,
        _ => u.int_in_range(0..=15)?,
    })
}

pub(super) fn in_range<const LO: u32, const HI: u32>(u: &mut Unstructured<'_>) -> Result<u32> {
    u.int_in_range(LO..=HI)
}

/// `K` numbers in `1..=HI`.
pub(super) fn small<const HI: u32, const K: usize>(u: &mut Unstructured<'_>) -> Result<[u32; K]> {
    let mut out = [1; K];
    for w in &mut out {
        *w = u.int_in_range(1..=HI)?;
    }
    Ok(out)
}

pub(super) fn drive_cap(u: &mut Unstructured<'_>) -> Result<Option<NonZeroU32>> {
    Ok(if u.ratio(1, 4)? {
        NonZeroU32::new(u.int_in_range(1..=3)?)
    } else {
        None
    })
}

pub(super) fn heavy(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => MAX_WEIGHT,
        1 => near::<MAX_WEIGHT>(u)?,
        _ => MAX_WEIGHT - u.arbitrary::<u8>()? as u32,
    })
}

pub(super) fn repeat(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(1 + u.int_in_range(0..=63u32)? * 20)
}

/// No cap, or a cap near 1 or near `MAX_IN_FLIGHT` (at or above it: the same as none).
pub(super) fn weight_cap(u: &mut Unstructured<'_>) -> Result<Option<NonZeroU32>> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => None,
        1 => NonZeroU32::new(near::<1>(u)?),
        _ => NonZeroU32::new(near::<MAX_IN_FLIGHT>(u)?),
    })
}

pub(super) fn slow_start(u: &mut Unstructured<'_>) -> Result<SlowStart> {
    if u.ratio(1, 4)? {
        return Ok(SlowStart::linear(near::<1>(u)?));
    }
    Ok(SlowStart {
        window_ms: near::<1>(u)?,
        aggression: near::<8>(u)?,
        min_weight_percent: near::<100>(u)?,
    })
}

pub(super) fn ejection(u: &mut Unstructured<'_>) -> Result<Ejection> {
    let base_ms = near::<1000>(u)?;
    Ok(Ejection {
        consecutive_failures: near::<5>(u)?,
        base_ms,
        max_ms: match u.int_in_range(0..=2u8)? {
            0 => base_ms,
            1 => near::<{ i32::MAX as u32 }>(u)?,
            _ => base_ms.saturating_mul(u.int_in_range(1..=4)?),
        },
        max_ejection_percent: near::<100>(u)?,
        // from the base (no more bytes read, so seeded inputs decode as before); 0 when the
        // base is 0, so the zero interval is checked too
        interval_ms: base_ms / 2,
    })
}

/// Any config, valid or not: each part out of range now and then.
pub(super) fn config(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = Config::new().half_life_ms(near::<5000>(u)?);
    if u.arbitrary()? {
        c = c.slow_start(slow_start(u)?);
    }
    if u.arbitrary()? {
        c = c.ejection(ejection(u)?);
    }
    Ok(c.panic_threshold_percent(near::<100>(u)?))
}
