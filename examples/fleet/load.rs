//! Requests through the crate's real picks: one pool and one strategy per proxy, the subset
//! applied to the pool, leases held while a request is in flight.

use std::collections::VecDeque;

use tinylb::subset::{Member, Subset};
use tinylb::{Lease, Pool, Request, SelectExt, Strategy};

use crate::fleet::{CAP, Members};
use crate::splitmix::SplitMix;

/// Pool capacity: the backends plus the churn's added one.
pub(crate) const N: usize = 512;
/// Maglev table size of the strategy enum (a prime above `N`; unused by the strategies run
/// here, but it sizes the enum).
pub(crate) const M: usize = 521;
/// Every backend's configured weight.
pub(crate) const WEIGHT: u32 = 100;
/// A request is in flight for 1 to this many steps (uniform).
pub(crate) const MAX_STEPS: u64 = 15;

/// A proxy's pool: slot `id` holds backend `id` for every id in `backends`, and the subset
/// is applied with [`Subset::apply`] (the full mesh sets no share at all).
pub(crate) fn pool(backends: &[u32], members: &Members) -> Box<Pool<N>> {
    let pool: Box<Pool<N>> = Box::new(Pool::new());
    let ids = backends.iter().max().map_or(0, |&b| b + 1);
    for _ in 0..ids {
        pool.add(WEIGHT).expect("room");
    }
    for id in 0..ids {
        if backends.binary_search(&id).is_err() {
            let gap = pool.id_at(id as usize).expect("just added");
            pool.remove(gap).expect("idle");
        }
    }
    if members.len() < backends.len() {
        let subset: Subset<CAP> = Subset::from_members(
            members
                .iter()
                .map(|&(backend, share_q16)| Member { backend, share_q16 }),
        )
        .expect("sorted members");
        subset.apply(&*pool).expect("no concurrent change");
    }
    pool
}

/// Requests per backend id when every proxy sends `requests` requests through its own
/// `strategy` inside its subset. Each step, every proxy sends one request, in flight for 1
/// to [`MAX_STEPS`] steps, so in-flight counts are what a proxy would see.
pub(crate) fn run(
    subsets: &[Members],
    backends: &[u32],
    strategy: &str,
    requests: u32,
    seed: u64,
) -> Vec<u64> {
    let ids = backends.iter().max().map_or(0, |&b| b as usize + 1);
    let pools: Vec<Box<Pool<N>>> = subsets.iter().map(|m| pool(backends, m)).collect();
    let strategies: Vec<Strategy<N, M>> = (0..subsets.len())
        .map(|i| Strategy::from_name(strategy, seed ^ (i as u64 + 1)).expect("name"))
        .collect();
    let mut in_flight: Vec<VecDeque<(u64, Lease<&Pool<N>, N>)>> =
        (0..subsets.len()).map(|_| VecDeque::new()).collect();
    let mut counts = vec![0u64; ids];
    let mut rng = SplitMix(seed);
    for step in 0..requests as u64 {
        for ((pool, strategy), queue) in pools.iter().zip(&strategies).zip(&mut in_flight) {
            while queue.front().is_some_and(|(done, _)| *done <= step) {
                queue.pop_front();
            }
            let lease = strategy
                .lease(&**pool, &mut Request::new().with_key(rng.next()))
                .expect("a subset member is eligible");
            counts[lease.index()] += 1;
            let done = step + 1 + rng.next() % MAX_STEPS;
            let at = queue.partition_point(|(d, _)| *d <= done);
            queue.insert(at, (done, lease));
        }
    }
    counts
}
