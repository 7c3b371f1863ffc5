//! The pool's side of a lease's reports: latency samples, and the one outcome (or
//! abandonment) each lease counts into its backend's totals and failure streak when it
//! ends. The rule is stated on [`Lease`](crate::Lease#reporting-and-what-counts).
//!
//! Every write but the abandoned count is refused once the backend has been removed (the
//! slot's generation has moved on), and a lease counts before it gives back its unit (the
//! abandoned count: with it, in one operation where the target allows): while a unit is out
//! the slot cannot be reused, so a late count never lands on the next backend's totals
//! (`tests/loom.rs` checks this against a removal and reuse).

use crate::clock::{elapsed_ms, tick_ms};
use crate::ewma;
use crate::pool::{BackendId, CAS_TRIES, Pool, Slot};
use crate::sync::Ordering;

impl<const N: usize> Pool<N> {
    /// Records a finished request on `id`, unless the backend has been removed since: the
    /// latency into its estimate, the outcome into its totals and failure streak (and
    /// ejection).
    pub(crate) fn record(&self, id: BackendId, success: bool, latency_us: u64, now_us: u64) {
        let Some(slot) = self.live(id) else {
            return;
        };
        let now = tick_ms(now_us);
        self.sample_slot(slot, latency_us, now);
        self.count_slot(slot, id, success, now);
    }

    /// One latency sample on `id` at tick `now`, unless the backend has been removed since.
    pub(crate) fn sample(&self, id: BackendId, latency_us: u64, now: u32) {
        if let Some(slot) = self.live(id) {
            self.sample_slot(slot, latency_us, now);
        }
    }

    /// Counts an outcome reported earlier at tick `at`, unless the backend has been removed.
    pub(crate) fn count_end(&self, id: BackendId, success: bool, at: u32) {
        if let Some(slot) = self.live(id) {
            self.count_slot(slot, id, success, at);
        }
    }

    /// Counts a lease that ended with no outcome and gives back its unit: one atomic
    /// read-modify-write on the 64-bit server targets, two elsewhere
    /// (`src/pool/flight.rs`). No generation check: if the backend was removed, the count
    /// lands on the removed occupant's total, which no call reads any more (`info` refuses
    /// the stale id) and `add` zeroes when it claims the slot for the next backend; it
    /// cannot land on that next backend, since the count lands no later than the unit goes
    /// back, and the slot is claimed only once no unit is out. (Saves a load and a branch on
    /// every drop.)
    pub(crate) fn release_abandoned(&self, index: usize) {
        if let Some(slot) = self.slot(index) {
            slot.hot.flight.release_abandoned();
        }
    }

    /// The slot of `id` while it still holds that backend.
    #[inline]
    fn live(&self, id: BackendId) -> Option<&Slot> {
        self.slot(id.index())
            .filter(|slot| slot.generation() == id.generation())
    }

    fn count_slot(&self, slot: &Slot, id: BackendId, success: bool, now: u32) {
        // wrapping, relaxed: a total is read alone, and nothing is ordered by it
        let total = if success {
            &slot.hot.successes
        } else {
            &slot.hot.failures
        };
        total.fetch_add(1, Ordering::Relaxed);
        self.count_outcome(slot, id, success, now);
    }

    fn sample_slot(&self, slot: &Slot, latency_us: u64, now: u32) {
        let sample = u32::try_from(latency_us).unwrap_or(u32::MAX);
        let mut est = slot.hot.latency_us.load(Ordering::Relaxed);
        for _ in 0..CAS_TRIES {
            let at = slot.hot.latency_at_ms.load(Ordering::Relaxed);
            let next = ewma::update(est, sample, elapsed_ms(now, at), self.config().half_life_ms);
            match slot.hot.latency_us.compare_exchange(
                est,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    slot.hot.latency_at_ms.store(now, Ordering::Relaxed);
                    break;
                }
                Err(v) => est = v,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use crate::sync::Ordering;
    use crate::{Lease, Outcome, Pool};

    #[test]
    fn totals_wrap_at_u32_max_without_panic() {
        let pool: Pool<1> = Pool::new();
        let a = pool.add(1).unwrap();
        let slot = pool.slot(0).unwrap();
        for w in [
            &slot.hot.successes,
            &slot.hot.failures,
            &slot.hot.ejected_total,
        ] {
            w.store(u32::MAX, Ordering::Relaxed);
        }
        slot.hot.flight.set_abandoned(u32::MAX);
        let i = pool.info(a).unwrap();
        assert_eq!(i.requests, u32::MAX.wrapping_mul(3));
        let lat = Duration::from_micros(10);
        Lease::acquire(&pool, a)
            .unwrap()
            .finish(Outcome::success_after(lat).at_us(0));
        let mut l = Lease::acquire(&pool, a).unwrap();
        l.report(Outcome::failure_after(lat).at_us(0));
        drop(l);
        drop(Lease::acquire(&pool, a).unwrap());
        let i = pool.info(a).unwrap();
        assert_eq!((i.successes, i.failures, i.abandoned), (0, 0, 0));
        // three wrapped counters, each one past u32::MAX: the sum wraps the same way
        assert_eq!(i.requests, 0);
        assert_eq!(i.ejections, u32::MAX, "no ejection configured");
    }

    #[test]
    fn the_ejection_total_wraps_too() {
        let pool: Pool<2> = Pool::with_config(crate::Config::new().ejection(crate::Ejection {
            consecutive_failures: 1,
            base_ms: 1_000,
            max_ms: 1_000,
            max_ejection_percent: 100,
            ..crate::Ejection::ENVOY
        }))
        .unwrap();
        let a = pool.add(1).unwrap();
        pool.slot(0)
            .unwrap()
            .hot
            .ejected_total
            .store(u32::MAX, Ordering::Relaxed);
        Lease::acquire(&pool, a)
            .unwrap()
            .finish(Outcome::failure_after(Duration::ZERO).at_us(0));
        let i = pool.info(a).unwrap();
        assert!(i.ejected);
        assert_eq!(i.ejections, 0);
    }
}
