//! The caller's clock, as the pool keeps it.
//!
//! Times kept in atomics are wrapping 32-bit millisecond ticks (`now_us / 1000`), compared
//! with wrapping arithmetic, as TCP compares sequence numbers: intervals up to 2^31 ms
//! (about 24.8 days) are measured exactly; a longer gap between two samples of the same
//! backend is read as a short one. A clock that goes backwards reads as no time passing.

/// Converts the caller's microsecond clock to the wrapping millisecond tick kept in atomics.
#[inline]
pub(crate) const fn tick_ms(now_us: u64) -> u32 {
    (now_us / 1000) as u32
}

/// Milliseconds from `then` to `now` on the wrapping tick; backwards or over 2^31 reads as 0.
#[inline]
pub(crate) const fn elapsed_ms(now: u32, then: u32) -> u32 {
    let d = now.wrapping_sub(then);
    if d > i32::MAX as u32 { 0 } else { d }
}

/// Tags a tick as "set" (odd) so that 0 can mean "not yet stamped".
#[inline]
pub(crate) const fn stamp(tick: u32) -> u32 {
    tick | 1
}

/// `true` once `now` has reached `deadline` on the wrapping tick.
#[inline]
pub(crate) const fn reached(now: u32, deadline: u32) -> bool {
    now.wrapping_sub(deadline) <= i32::MAX as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_ticks() {
        assert_eq!(tick_ms(1_999), 1);
        assert_eq!(elapsed_ms(5, 3), 2);
        assert_eq!(elapsed_ms(3, 5), 0, "backwards is no time");
        assert_eq!(elapsed_ms(2, u32::MAX), 3, "across the wrap");
        assert!(reached(10, 10) && reached(11, 10) && !reached(9, 10));
        assert_eq!(stamp(4), 5);
        assert_eq!(stamp(0), 1);
    }
}
