//! Weighted least connections (nginx `least_conn`, Envoy full scan, HAProxy `leastconn`).

use core::cmp::Ordering as Cmp;

use crate::pool::{BackendId, Candidate, Penalty, Pool, Slot, View};
use crate::select::{Request, Select};
use crate::strategy::cost::Conns;
use crate::strategy::rule::{Lowest, nth_tie_beyond};

seeded_strategy! {
    /// The eligible backend with the fewest in-flight requests per unit of weight.
    ///
    /// Scans every slot in use and keeps the minimiser of `in_flight / weight`, compared by
    /// cross-multiplication in 64 bits (`a.in_flight * b.weight < b.in_flight * a.weight`, as
    /// nginx does), so there is no division and no rounding. Ties are broken at random, each
    /// tied backend equally likely (not always the lowest index, which would pile every idle
    /// moment onto slot 0): the scan counts the `k` backends tied for the lowest ratio (as
    /// bits of a stack mask), and a pick with a tie takes the `r`-th of them in slot order,
    /// `r` one unbiased draw in `0..k` from the request's RNG or the strategy's seeded stream
    /// (the rule's module docs say why and what happens under concurrency). A pick without a
    /// tie draws nothing.
    ///
    /// Cost: O(n) relaxed loads and no writes (the lease does the one write): per slot, its
    /// judgement, one 64-bit cross-multiplication and, for a tie, one bit set in a register
    /// (about 26 instructions a slot on x86-64, by callgrind); per pick with
    /// ties, one random draw, a population count per 64 slots up to the winner's and one
    /// more judgement of the winner. Pools past 256 slots scan again the slots past 256 when
    /// the draw lands there.
    LeastConn,
    /// Least connections with tie-breaks drawn from a stream seeded with 0 when the request
    /// carries no RNG.
    new;
    /// Least connections whose tie-break stream is seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for LeastConn {
    #[inline]
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| match Penalty::of_view(view) {
            // the plain scan when the failure penalty is off: it costs nothing then
            None => self.scan_plain(view, req),
            Some(p) => self.scan_charged(view, req, p),
        })
    }
}

impl LeastConn {
    /// The scan without a failure charge, block by block ([`Lowest::scan`]): out of line,
    /// so that its loop gets the registers to itself (inlined into
    /// [`Strategy`](crate::Strategy)'s one `select`, the lowest cost and the loop's bounds
    /// spilled to the stack).
    #[inline(never)]
    fn scan_plain<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
    ) -> Option<Candidate> {
        let cost = |c: &Candidate, _: &Slot| Conns::of(c);
        let lowest = Lowest::scan(view, Conns::WORST, cost, Conns::cmp);
        self.take(view, req, &lowest, cost)
    }

    /// The scan with failures charged (some backend of the pool has a recent failure): out
    /// of line, so that the plain scan is compiled as it was without the penalty. It offers
    /// the candidates one by one rather than block by block: the same result, and a second
    /// copy of the block loop would cost about 400 bytes of flash on a Cortex-M4 for a pick
    /// that only pools with recent failures take.
    #[inline(never)]
    fn scan_charged<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        p: Penalty,
    ) -> Option<Candidate> {
        let cost =
            |c: &Candidate, slot: &Slot| Conns::with_load(c, p.load_q16(slot, c.in_flight()));
        let mut lowest = Lowest::new(Conns::WORST);
        for (c, slot) in view.judged() {
            lowest.offer(c, cost(&c, slot), Conns::cmp);
        }
        self.take(view, req, &lowest, cost)
    }

    /// The winner of a scan: the only backend at the lowest cost, or one tie drawn.
    #[inline(always)]
    fn take<const N: usize>(
        &self,
        view: &View<'_, N>,
        req: &mut Request<'_>,
        lowest: &Lowest<Conns>,
        cost: impl Fn(&Candidate, &Slot) -> Conns,
    ) -> Option<Candidate> {
        lowest.pick(view, req, &self.stream, |r, best| {
            nth_tie_beyond(view, r, |c, slot| cost(c, slot).cmp(best) == Cmp::Equal)
        })
    }
}
