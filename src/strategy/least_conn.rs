//! Weighted least connections (nginx `least_conn`, Envoy full scan, HAProxy `leastconn`).

use crate::pool::{BackendId, Pool};
use crate::select::{Request, Select};
use crate::strategy::cost::Conns;
use crate::strategy::rule::Lowest;

seeded_strategy! {
    /// The eligible backend with the fewest in-flight requests per unit of weight.
    ///
    /// Scans every slot in use and keeps the minimiser of `in_flight / weight`, compared by
    /// cross-multiplication in 64 bits (`a.in_flight * b.weight < b.in_flight * a.weight`, as
    /// nginx does), so there is no division and no rounding. Ties are broken at random, each
    /// tied backend equally likely (not always the lowest index, which would pile every idle
    /// moment onto slot 0): the first tie of a pick draws one random word (from the request's
    /// RNG, or the strategy's seeded stream), and each tied backend gets a priority from a
    /// 64-bit LCG seeded by it; the highest priority wins.
    ///
    /// Cost: O(n) relaxed loads and no writes (the lease does the one write).
    LeastConn,
    /// Least connections with tie-breaks drawn from a stream seeded with 0 when the request
    /// carries no RNG.
    new;
    /// Least connections whose tie-break stream is seeded with `seed`.
    with_seed
}

impl<const N: usize> Select<N> for LeastConn {
    fn select(&self, pool: &Pool<N>, req: &mut Request<'_>) -> Option<BackendId> {
        pool.pick(req, |view, req| {
            let mut lowest = Lowest::new();
            for (c, slot) in view.judged() {
                let cost = Conns::with_penalty(&c, view.failure_penalty(slot));
                lowest.offer(c, cost, Conns::cmp, req, &self.stream);
            }
            lowest.best().map(|(c, _)| c)
        })
    }
}
