//! Smooth weighted round robin (nginx's algorithm; HAProxy's `static-rr`), lock-free.

use crate::levels::BUILD_LEVELS;
use crate::pool::{BackendId, Candidate, Pool, View};
use crate::rng::{Stream, mix64};
use crate::select::{Request, Select};
use crate::sync::{AtomicU32, Ordering};

/// When the ticket reaches this, whole periods are subtracted from the ticket and from every
/// pick count, which leaves every credit unchanged and keeps all values far from overflow.
const FOLD_AT: u32 = 1 << 30;
/// Most steps the seeded start may skip ahead (bounds the O(steps × n) rebuild).
const MAX_PHASE: u64 = 256;
/// Where a backend's priority level sits in the weight snapshot (weights fit in 21 bits; a
/// scheduled word's weight is never 0).
const LEVEL_SHIFT: u32 = 24;
/// The level bits of a snapshot word.
const LEVEL_MASK: u32 = 0xf << LEVEL_SHIFT;
/// The weight bits of a snapshot word.
const WEIGHT_BITS: u32 = (1 << LEVEL_SHIFT) - 1;

/// Smooth weighted round robin: nginx's schedule, without nginx's lock.
///
/// nginx's smooth WRR adds every weight to every backend's `current` at each pick, takes the
/// largest `current`, and subtracts the total `W` from the winner: O(n) writes under a lock.
/// After `t` steps, `current_i = t·w_i − W·c_i` where `c_i` is how often backend `i` has been
/// picked. So this strategy keeps only a shared ticket `t` (`fetch_add`) and one pick
/// counter `c_i` per slot, and each pick computes every credit `t·w_i − W·c_i` in a scan of
/// relaxed loads, takes the largest (lowest index on ties, as nginx does) and increments
/// that backend's counter: two atomic writes per pick, no lock, no table proportional to `W`.
///
/// # What it guarantees
///
/// * Picked by one thread with static weights, the sequence **is nginx's sequence** (tested
///   against a reference implementation), so its smoothness is nginx's: over every prefix,
///   each backend's count stays within nginx's deviation of its ideal share `k·w_i/W`
///   (below one pick on most weight sets, measured up to about 1.3 on skewed many-backend
///   sets: see the README).
/// * Picked by one thread, every period of `W` picks, aligned with the start, gives each
///   backend exactly `w_i`.
/// * Under concurrency a period is not exact. Two pickers that read the counters before
///   either increments may pick the same backend, and a picker preempted between its ticket
///   and its scan decides an old step with newer counters; either way a backend gets a turn
///   out of order. Every ticket still adds one pick to one counter, so that backend's credit
///   drops by `W` and the schedule pays the turn back over its next `W/w_i` steps: the
///   period of the race can end a pick or two off `w_i`, and the error does not build up.
///   Measured with two threads on the README's weight sets (worst seen, not a proof; it
///   depends on preemption): after 2, 20 or 200 whole periods every count was within 1 of
///   `k·w_i`, and the deviation over every prefix at most 1.97 (`tests/stated_bounds.rs`
///   asserts within 8 picks after whole periods).
/// * **One instance per worker** (the README's "Many cores" pattern: worker `w` builds
///   `with_seed(seed + w)` over the one shared pool) keeps the single-thread guarantees per
///   worker: each worker's picks are nginx's sequence exactly (from its own start), so every
///   backend gets exactly `w_i` per whole period of every worker, and no worker's picks move
///   another's schedule (`tests/it/workers.rs`). That is the way to use WRR from many cores.
/// * Picks made by other threads while one thread (re)builds the schedule are not counted
///   in the new schedule (before the first build they take the eligible backends in turn,
///   ignoring weights), so they are not paid back: make the first pick after a
///   configuration change from the control path.
/// * **Retries** ([`Request::excluding`](crate::Request::excluding)): a pick that excludes
///   backends takes the leader among the others by nginx's rule over them alone (credits
///   `t·w_i − W'·c_i`, `W'` their total weight), as nginx's `tried` bitmap leaves tried
///   peers out of its scan (`ngx_http_upstream_get_peer`). An excluded backend is not
///   charged: its counter does not move, so it keeps the turn it is owed. Picks that all
///   exclude the same set follow nginx's schedule over the rest exactly.
/// * A backend that is up but at its in-flight cap *forfeits* its turn: its counter moves
///   on as if picked and the pick takes the next ticket, so the turn passes to whoever the
///   schedule names next (not to a fixed neighbour), and the capped backend does not come
///   back with a burst of saved-up credit.
///
/// # Weight and health changes
///
/// Any change of membership, weight or health moves the pool's epoch; the next pick
/// rebuilds the schedule (O(n), plus O(n · phase) for the start below) from the weights of
/// the backends that are up, without `&mut`. One thread rebuilds, in place; the others keep
/// picking meanwhile from counters that are being reset (or, before the first build, take
/// the candidates in turn), and only ever return eligible backends.
///
/// # Start
///
/// [`WeightedRoundRobin::new`] starts at nginx's first step, so every instance's first pick
/// is the heaviest backend. [`WeightedRoundRobin::with_seed`] starts `seed`-many steps into
/// the same cycle (modulo `min(W, 2n, 256)`), so instances with different seeds start on
/// different backends (Envoy's answer to the first-pick herd, made deterministic).
///
/// Cost: O(n) relaxed loads and two `fetch_add`s per pick.
#[derive(Debug)]
pub struct WeightedRoundRobin<const N: usize> {
    /// Step counters, one per priority level.
    tickets: [AtomicU32; BUILD_LEVELS],
    /// Scheduled weight totals, one per priority level.
    totals: [AtomicU32; BUILD_LEVELS],
    built_for: AtomicU32,
    rebuilding: AtomicU32,
    /// The view length for which every slot of the schedule is in level 0 with a weight
    /// (the scan then needs no mask), or `u32::MAX`.
    dense: AtomicU32,
    weights: [AtomicU32; N],
    picks: [AtomicU32; N],
    seed: u64,
    stream: Stream,
}

impl<const N: usize> Default for WeightedRoundRobin<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> WeightedRoundRobin<N> {
    /// A schedule that starts where nginx starts.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// A schedule that starts a seed-chosen number of steps into the cycle.
    pub const fn with_seed(seed: u64) -> Self {
        WeightedRoundRobin {
            tickets: [const { AtomicU32::new(0) }; BUILD_LEVELS],
            totals: [const { AtomicU32::new(0) }; BUILD_LEVELS],
            built_for: AtomicU32::new(0),
            rebuilding: AtomicU32::new(0),
            dense: AtomicU32::new(u32::MAX),
            weights: [const { AtomicU32::new(0) }; N],
            picks: [const { AtomicU32::new(0) }; N],
            seed,
            stream: Stream::new(seed ^ 0x5752_525f_7468_696e),
        }
    }

    /// loom builds only: creates every atomic of the schedule in the calling thread.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_init(&self) {
        for a in self
            .tickets
            .iter()
            .chain(&self.totals)
            .chain(&self.weights)
            .chain(&self.picks)
        {
            a.touch();
        }
        self.built_for.touch();
        self.rebuilding.touch();
        self.dense.touch();
        self.stream.touch();
    }

    /// The backend of level bits `tier` with the largest credit at step `t`, lowest index
    /// on ties.
    #[inline(always)]
    fn leader(&self, t: u32, total: i64, n: usize, tier: u32) -> Option<usize> {
        if tier == 0 && self.dense.load(Ordering::Relaxed) == n as u32 {
            let weights = self.weights.get(..n).unwrap_or(&[]);
            let picks = self.picks.get(..n).unwrap_or(&[]);
            return scan::leader_dense(weights, picks, t, total);
        }
        self.leader_where(t, total, n, tier, |_| true)
    }

    /// [`Self::leader`] among the slots `keep` accepts (the scan is in [`scan`]).
    #[inline(always)]
    fn leader_where(
        &self,
        t: u32,
        total: i64,
        n: usize,
        tier: u32,
        keep: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = n.min(N);
        let weights = self.weights.get(..n).unwrap_or(&[]);
        let picks = self.picks.get(..n).unwrap_or(&[]);
        scan::leader(weights, picks, t, total, tier, keep)
    }

    fn try_lock(&self) -> bool {
        self.rebuilding
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn unlock(&self) {
        self.rebuilding.store(0, Ordering::Release);
    }

    /// Rebuilds the schedule from the pool's current weights (one thread at a time; the
    /// others carry on with the old counters meanwhile).
    fn rebuild(&self, pool: &Pool<N>, epoch: u32) {
        if !self.try_lock() {
            return;
        }
        // no unmasked scan while the weights are rewritten
        self.dense.store(u32::MAX, Ordering::Relaxed);
        let live = pool.live_slots();
        let n = live.len().min(N);
        let mut totals = [0u32; BUILD_LEVELS];
        let mut dense = true;
        for (i, (w, c)) in self.weights.iter().zip(&self.picks).enumerate() {
            // configured weights of the backends that are up or degraded: ejected ones
            // forfeit their turns, warming ones are thinned, at pick time
            let (weight, tagged) = match live.get(i).and_then(|s| s.schedule_weight()) {
                Some((w, level)) => (w, w | (level as u32) << LEVEL_SHIFT),
                None => (0, 0),
            };
            w.store(tagged, Ordering::Relaxed);
            c.store(0, Ordering::Relaxed);
            dense &= i >= n || (1..=WEIGHT_BITS).contains(&tagged);
            // (the pool keeps the sum of all weights below 2^31)
            if let Some(t) = totals.get_mut((tagged >> LEVEL_SHIFT) as usize) {
                *t += weight;
            }
        }
        // the pool keeps the sum of all weights below 2^31
        for (k, tot) in totals.into_iter().enumerate() {
            let tier = (k as u32) << LEVEL_SHIFT;
            let tot = tot.min(i32::MAX as u32) as u64;
            if let Some(a) = self.totals.get(k) {
                a.store(tot as u32, Ordering::Relaxed);
            }
            // the seeded start: `phase` steps into the tier's cycle
            // at least 1: a pool that never had a backend still builds (and picks nothing)
            let span = tot.min(2 * n as u64).clamp(1, MAX_PHASE);
            let phase = if self.seed == 0 {
                0
            } else {
                // span <= MAX_PHASE: 32-bit arithmetic (no 64-bit division routine on MCUs)
                (mix64(self.seed) as u32) % (span as u32)
            };
            for t in 1..=phase {
                if let Some(i) = self.leader(t, tot as i64, n, tier)
                    && let Some(c) = self.picks.get(i)
                {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(a) = self.tickets.get(k) {
                a.store(phase, Ordering::Relaxed);
            }
        }
        if dense {
            self.dense.store(n as u32, Ordering::Relaxed);
        }
        self.built_for
            .store(epoch.wrapping_add(1), Ordering::Release);
        self.unlock();
    }

    /// Subtracts whole periods of tier `k` from its ticket and from its backends' counters:
    /// every credit `t·w_i − W·c_i` is unchanged.
    fn fold(&self, k: usize, tier: u32) {
        if !self.try_lock() {
            return;
        }
        if let (Some(ticket), Some(total)) = (self.tickets.get(k), self.totals.get(k)) {
            let t = ticket.load(Ordering::Relaxed);
            let total = total.load(Ordering::Relaxed);
            if t >= FOLD_AT && total > 0 {
                let periods = t / total;
                ticket.fetch_sub(periods * total, Ordering::Relaxed);
                for (w, c) in self.weights.iter().zip(&self.picks) {
                    let w = w.load(Ordering::Relaxed);
                    if w != 0 && w & LEVEL_MASK == tier {
                        // periods · w <= periods · total <= t: no overflow
                        c.fetch_sub(periods * (w & WEIGHT_BITS), Ordering::Relaxed);
                    }
                }
            }
        }
        self.unlock();
    }

    /// One pick in `view`'s level. Inlined into [`Pool::pick`]'s plain path, where the view
    /// is a constant but for its clock: a plain pick is one turn, the rest is out of line.
    #[inline(always)]
    fn pick_in(&self, view: &View<'_, N>, req: &mut Request<'_>) -> Option<Candidate> {
        // one schedule per level (one level in a build without them)
        let k = if BUILD_LEVELS > 1 {
            view.level() as usize
        } else {
            0
        };
        let tier = (k as u32) << LEVEL_SHIFT;
        let total = self.totals.get(k)?.load(Ordering::Relaxed);
        if total == 0 || view.is_narrowed() {
            return self.pick_rest(view, req, k, tier, total);
        }
        let total = total as i64;
        let n = view.len().min(N);
        match self.turn(view, req, k, tier, total, n, false)? {
            Ok(c) => Some(c),
            Err(()) => self.turns(view, req, k, tier, total, n),
        }
    }
}

/// The first candidate of `view` from `start` on, cyclically: the rare fallback while a
/// schedule is being (re)built elsewhere, kept small on purpose.
fn any_eligible<const N: usize>(view: &View<'_, N>, start: usize) -> Option<Candidate> {
    let n = view.len();
    (0..n).find_map(|k| view.get(start.wrapping_add(k) % n))
}

impl<const N: usize> Select<N> for WeightedRoundRobin<N> {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let epoch = pool.epoch();
        if self.built_for.load(Ordering::Acquire) != epoch.wrapping_add(1) {
            self.rebuild(pool, epoch);
        }
        pool.pick(req, |view, req| self.pick_in(view, req))
    }
}

mod scan;
mod turns;

#[cfg(test)]
mod tests;
