//! Where latencies and the pool's clock come from: a [`Clock`] the caller may inject.
//!
//! tinylb itself never reads a clock (its pool takes `now_us` from the caller); this crate
//! reads one at two points per request, when the backend is picked and when its response
//! future completes, and reports the difference as the latency of the lease's outcome.

/// A monotonic clock in microseconds (any epoch): the time a pick judges at and the two
/// ends of a request's latency.
///
/// Implement it to drive the balancer from a simulated clock or a runtime other than tokio.
/// It is called twice per request, from any thread.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the clock's own epoch; never decreasing (tinylb treats time going
    /// backwards as no time passing, so a clock that does is harmless but wrong).
    fn now_us(&self) -> u64;
}

/// `std::time::Instant`, counted from the moment the clock was built.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    base: std::time::Instant,
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StdClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        StdClock {
            base: std::time::Instant::now(),
        }
    }
}

impl Clock for StdClock {
    fn now_us(&self) -> u64 {
        micros(self.base.elapsed())
    }
}

/// `tokio::time::Instant`, counted from the moment the clock was built: the default clock
/// with the `tokio` feature, so that `tokio::time::pause` and `advance` reach the latencies
/// (as they reach tower's `PeakEwma`, which reads the same clock).
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        TokioClock {
            base: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now_us(&self) -> u64 {
        micros(self.base.elapsed())
    }
}

/// The clock a balancer uses unless told otherwise: [`TokioClock`] with the `tokio`
/// feature (the default), [`StdClock`] without it.
#[cfg(feature = "tokio")]
pub type DefaultClock = TokioClock;
/// The clock a balancer uses unless told otherwise: [`TokioClock`] with the `tokio`
/// feature (the default), [`StdClock`] without it.
#[cfg(not(feature = "tokio"))]
pub type DefaultClock = StdClock;

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_clock_does_not_go_backwards() {
        let c = StdClock::new();
        let a = c.now_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = c.now_us();
        assert!(b >= a + 2_000, "{a} then {b}");
    }
}
