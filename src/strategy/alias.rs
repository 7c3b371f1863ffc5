//! Weighted random from an alias table (Walker 1977, Vose 1991): O(1) whatever the weights.
//!
//! [`Random`](crate::Random) samples by rejection: cheap when the weights are alike, but a
//! pool with one heavy backend rejects most tries and often ends in the O(n) exact scan.
//! An alias table of `n` columns answers every draw in one try: each column `j` keeps its own
//! slot with probability `thr_j / T` and otherwise names its alias `a_j`. This module holds
//! the table (built without floats: see [`build`]), the rebuild protocol (a sequence counter
//! readers check, so a pick never reads half a table), and [`AliasRandom`], the strategy.
//!
//! Anchors: Vose, "A linear algorithm for generating random numbers with a given
//! distribution" (IEEE TSE 17(9), 1991); Keith Schwarz, "Darts, Dice, and Coins: Sampling from
//! a Discrete Distribution" (2011), whose pairing of one small and one large column is the
//! loop below. The rebuild-on-epoch pattern is [`WeightedRoundRobin`](crate::WeightedRoundRobin)'s.

use crate::pool::{BackendId, Candidate, MAX_TOTAL_WEIGHT, Pool, View};
use crate::rng::{Stream, below_from, below_u64};
use crate::select::{Request, Select};
use crate::strategy::sample::weighted_slot;
use crate::sync::{AtomicU16, AtomicU32, Ordering};

/// Builds the alias table of weights `w(0..n)`, whose sum is `total` (in `1..=u32::MAX`),
/// calling `put(column, threshold, alias)` once for every column in `0..n`.
///
/// Exact integer arithmetic: slot `k` carries mass `n · w(k)` and every column holds
/// exactly `total` (the mean), so a draw of column `j` (uniform in `0..n`) and of `u`
/// (uniform in `0..total`) gives `j` if `u < threshold` and else its alias, and slot `k`
/// comes out with probability `(Σ_{j=k} thr_j + Σ_{a_j=k} (total − thr_j)) / (n · total)`,
/// which is `w(k) / total` exactly (the unit tests check the equality for every slot).
/// Masses fit in `u64` (`n < 2^16`, `w < 2^32`).
///
/// The pairing is Vose's, with two scanning cursors instead of two work lists (no memory
/// proportional to `n` on the stack): the current small slot (mass below `total`) fills
/// its column from the current large one, whose remaining mass drops by what it gave; once
/// that is below `total` it becomes the next small slot. With exact sums the large slots
/// left at the end hold exactly `total` each and keep their whole column.
pub(crate) fn build(
    n: usize,
    total: u64,
    w: impl Fn(usize) -> u32,
    mut put: impl FnMut(usize, u32, usize),
) {
    let mass = |k: usize| n as u64 * w(k) as u64;
    // the next slot at or after `*from` whose initial mass is small (or large)
    let next = |from: &mut usize, small: bool| -> Option<(usize, u64)> {
        while *from < n {
            let k = *from;
            *from += 1;
            let m = mass(k);
            if (m < total) == small {
                return Some((k, m));
            }
        }
        None
    };
    let whole = total.min(u32::MAX as u64) as u32;
    let (mut sp, mut lp) = (0, 0);
    let mut small = next(&mut sp, true);
    let mut large = next(&mut lp, false);
    while let (Some((i, s)), Some((g, r))) = (small, large) {
        // s < total <= r: column i takes s of its own and total − s from g
        put(i, s as u32, g);
        let r = r - (total - s);
        if r < total {
            small = Some((g, r));
            large = next(&mut lp, false);
        } else {
            large = Some((g, r));
            small = next(&mut sp, true);
        }
    }
    // exact sums leave only large slots of mass exactly `total`; a small one left over
    // (the sum was not `total`: not reached from the strategy) keeps its column too
    for (k, _) in large
        .into_iter()
        .chain(core::iter::from_fn(|| next(&mut lp, false)))
    {
        put(k, whole, k);
    }
    for (k, _) in small
        .into_iter()
        .chain(core::iter::from_fn(|| next(&mut sp, true)))
    {
        put(k, whole, k);
    }
}

/// Weighted random in O(1) for any weights: an alias table over the pool's configured
/// weights, with [`Random`](crate::Random)'s exact sampler behind it.
///
/// **Pick.** One 64-bit draw gives a column (low 32 bits, uniform in `0..n` by Lemire's
/// unbiased method) and a coin (high 32 bits, uniform in `0..T`); the column's threshold
/// names slot `i`. If `i` is a candidate whose effective weight `e_i` equals its table weight
/// `t_i`, it is the pick. If `e_i < t_i` (slow start, a share lowered since the build), it is
/// kept with probability `e_i / t_i` (one more draw). Otherwise (not a candidate, a draw in
/// Lemire's rejected sliver, a table being rebuilt or out of date, a view in panic) the pick
/// is [`Random`](crate::Random)'s: rejection sampling, then the exact two-pass scan.
///
/// **Why the shares are exact.** The table is built from each slot's schedule weight `t_i`
/// (configured weight × share, for backends up or degraded; 0 otherwise) and rebuilt at
/// every change of the pool's epoch, so in a view that is not in panic every effective
/// weight satisfies `e_i ≤ t_i` (slow start, ejection, caps, exclusion, levels and
/// localities only lower a weight or remove a backend). A draw then returns `i` through the
/// table with probability `(1 − ρ) · (t_i / T) · (e_i / t_i) = (1 − ρ) · e_i / T`, with `ρ`
/// the chance of a rejected sliver, the same for every slot: proportional to `e_i`. Every
/// other draw goes to an exact sampler, which returns `i` with probability `e_i / E`. A
/// mixture of two laws proportional to `e_i` is proportional to `e_i`. (Accepting `i` only
/// when `e_i = t_i` and falling back otherwise would not be exact: a warming backend would
/// lose its share of the table's draws.) A view in panic may hold down backends
/// ([`Config::panic_picks_down`](crate::Config::panic_picks_down)) whose `t_i` is 0, so it
/// never uses the table. During a rebuild, or while a configuration change races the pick,
/// the pick falls back or keeps a draw judged by the view: it is always eligible.
///
/// **Cost.** A rebuild is O(n), once per epoch (the first pick after a change, one thread
/// at a time, without `&mut`; the others fall back meanwhile). The strategy is
/// `10 · N + 36` bytes rounded up to 8 (threshold, alias and weight per slot; 120 B at
/// `N = 8`): that is why this is a type of its own and [`Random`](crate::Random) stays 16
/// bytes and keeps its picks. Use [`Random`](crate::Random) on a microcontroller; use this
/// where the weights differ, most of all where one backend outweighs the others and
/// rejection mostly fails (see the README's speed table). A pool whose every slot has the
/// pool's largest weight ever set ([`View::weight_bound`]) builds no table: the sampler's
/// first try is then accepted whenever its slot is a candidate, and a table draw measured
/// about 15 % slower there, so such a pool gets exactly [`Random`](crate::Random)'s picks
/// for the same seed. Otherwise the picks differ from [`Random`](crate::Random)'s. Not in [`Strategy`](crate::Strategy) (whose every value would grow by the
/// table): build it in code.
#[derive(Debug)]
pub struct AliasRandom<const N: usize> {
    /// Odd while a rebuild writes the table; moves on by two at each rebuild.
    seq: AtomicU32,
    /// The pool epoch the table was built for, plus one.
    built_for: AtomicU32,
    rebuilding: AtomicU32,
    /// Columns in use (0: no table).
    cols: AtomicU32,
    /// Sum of the table's weights, `T`.
    total: AtomicU32,
    thr: [AtomicU32; N],
    alias: [AtomicU16; N],
    weight: [AtomicU32; N],
    stream: Stream,
}

impl<const N: usize> Default for AliasRandom<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AliasRandom<N> {
    const SIZE_OK: () = assert!(N <= u16::MAX as usize, "a pool holds at most 65535 slots");

    /// An alias sampler with a stream seeded with 0 for requests without an RNG.
    pub const fn new() -> Self {
        Self::with_seed(0)
    }

    /// An alias sampler with a stream seeded with `seed`.
    pub const fn with_seed(seed: u64) -> Self {
        let () = Self::SIZE_OK;
        AliasRandom {
            seq: AtomicU32::new(0),
            built_for: AtomicU32::new(0),
            rebuilding: AtomicU32::new(0),
            cols: AtomicU32::new(0),
            total: AtomicU32::new(0),
            thr: [const { AtomicU32::new(0) }; N],
            alias: [const { AtomicU16::new(0) }; N],
            weight: [const { AtomicU32::new(0) }; N],
            stream: Stream::new(seed),
        }
    }

    /// loom builds only: creates every atomic of the table in the calling thread.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_init(&self) {
        for a in self.thr.iter().chain(&self.weight) {
            a.touch();
        }
        for a in &self.alias {
            a.touch();
        }
        for a in [
            &self.seq,
            &self.built_for,
            &self.rebuilding,
            &self.cols,
            &self.total,
        ] {
            a.touch();
        }
        self.stream.touch();
    }

    /// loom builds only: the table as one consistent read sees it (`T`, then per column
    /// threshold, alias and weight), or `None` when the read overlapped a rebuild: the
    /// protocol of every pick ([`Self::consistent`]).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_snapshot(&self) -> Option<(u32, [(u32, u16, u32); N])> {
        self.consistent(None, |_, total| {
            let mut out = [(0, 0, 0); N];
            for (k, o) in out.iter_mut().enumerate() {
                *o = (
                    self.thr.get(k)?.load(Ordering::Acquire),
                    self.alias.get(k)?.load(Ordering::Acquire),
                    self.weight.get(k)?.load(Ordering::Acquire),
                );
            }
            Some((total, out))
        })
    }

    /// Runs `read` (given the column count and `T`) on the table, and returns what it read
    /// only if no rebuild overlapped it (and, with `epoch`, if the table is that epoch's).
    /// `read` must load the table's words with `Acquire`: then a read that sees any value a
    /// rebuild wrote also sees `seq` moved on, and is dropped.
    #[inline(always)]
    fn consistent<R>(
        &self,
        epoch: Option<u32>,
        read: impl FnOnce(u32, u32) -> Option<R>,
    ) -> Option<R> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            return None;
        }
        if let Some(e) = epoch
            && self.built_for.load(Ordering::Acquire) != e.wrapping_add(1)
        {
            return None;
        }
        let n = self.cols.load(Ordering::Acquire);
        let total = self.total.load(Ordering::Acquire);
        let got = read(n, total)?;
        (self.seq.load(Ordering::Relaxed) == s1).then_some(got)
    }

    /// Rebuilds the table from the pool's schedule weights, one thread at a time; a thread
    /// that finds the lock taken returns at once (its pick falls back meanwhile).
    #[cold]
    #[inline(never)]
    fn rebuild(&self, pool: &Pool<N>) {
        if self
            .rebuilding
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // the epoch before the weights: a change after this read moves it on again
        let epoch = pool.epoch();
        if self.built_for.load(Ordering::Relaxed) != epoch.wrapping_add(1) {
            self.write(pool, epoch);
        }
        self.rebuilding.store(0, Ordering::Release);
    }

    /// The table writes, under the rebuild lock. Readers check `seq` around their reads:
    /// it is odd from the first write on, and every data store is `Release` (read with
    /// `Acquire`), so a reader that sees any new value also sees `seq` moved on.
    fn write(&self, pool: &Pool<N>, epoch: u32) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        let live = pool.live_slots();
        let n = live.len().min(N);
        let mut total = 0u64;
        for (k, a) in self.weight.iter().enumerate() {
            let w = match live.get(k) {
                Some(slot) if k < n => slot.schedule_weight().map_or(0, |(w, _)| w),
                _ => 0,
            };
            a.store(w, Ordering::Release);
            total += w as u64;
        }
        let weight = |k: usize| self.weight.get(k).map_or(0, |a| a.load(Ordering::Relaxed));
        // every slot at the pool's weight bound: the sampler accepts its first try, for
        // less than a table draw costs (the README's speed table), so no table
        let bound = pool.weight_bound();
        let alike = (0..n).all(|k| weight(k) == bound);
        // weights read while another change lands may sum past the pool's limit: no table
        let usable = total > 0 && total <= MAX_TOTAL_WEIGHT as u64 && !alike;
        if usable {
            build(n, total, weight, |col, thr, alias| {
                if let (Some(t), Some(a)) = (self.thr.get(col), self.alias.get(col)) {
                    t.store(thr, Ordering::Release);
                    a.store(alias as u16, Ordering::Release);
                }
            });
        }
        let (cols, total) = if usable {
            (n as u32, total as u32)
        } else {
            (0, 0)
        };
        self.cols.store(cols, Ordering::Release);
        self.total.store(total, Ordering::Release);
        self.built_for
            .store(epoch.wrapping_add(1), Ordering::Release);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// One draw from the table, or `None` to fall back (see the type's docs).
    #[inline(always)]
    fn table_draw(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        epoch: u32,
    ) -> Option<Candidate> {
        let (i, t) = self.consistent(Some(epoch), |n, total| {
            if n == 0 {
                // no table (see `write`): no draw spent on it
                return None;
            }
            let r = req.draw(&self.stream);
            let j = below_from(r as u32, n)? as usize;
            let u = below_from((r >> 32) as u32, total)?;
            let i = if u < self.thr.get(j)?.load(Ordering::Acquire) {
                j
            } else {
                self.alias.get(j)?.load(Ordering::Acquire) as usize
            };
            Some((i, self.weight.get(i)?.load(Ordering::Acquire)))
        })?;
        let c = view.get(i)?;
        let e = c.weight();
        if e == t {
            return Some(c);
        }
        if e > t {
            // the weight moved since the build (a change racing this pick)
            return None;
        }
        // keep with probability e / t, exactly (rejection inside `below_u64`, so the
        // acceptance does not depend on t beyond e / t)
        thin(req, &self.stream, c, t)
    }
}

/// Keeps `c` (effective weight `e < t`) with probability `e / t`: the cold part of a draw.
#[cold]
#[inline(never)]
fn thin(req: &mut Request<'_>, stream: &Stream, c: Candidate, t: u32) -> Option<Candidate> {
    let v = below_u64(|| req.draw(stream), t as u64);
    (v < c.weight() as u64).then_some(c)
}

impl<const N: usize> Select<N> for AliasRandom<N> {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        let epoch = pool.epoch();
        if self.built_for.load(Ordering::Acquire) != epoch.wrapping_add(1) {
            self.rebuild(pool);
        }
        if self.cols.load(Ordering::Relaxed) == 0 {
            // no table (not built yet, or not worth it: see `write`): `Random`'s pick, with
            // `Random`'s code (a hint only: a stale read just picks by the exact sampler)
            return pool.pick(req, |view, req| {
                weighted_slot(view, req, &self.stream, &None)
            });
        }
        pool.pick(req, |view, req| {
            if !view.in_panic()
                && let Some(c) = self.table_draw(view, req, epoch)
            {
                return Some(c);
            }
            weighted_slot(view, req, &self.stream, &None)
        })
    }
}

#[cfg(test)]
mod tests;
