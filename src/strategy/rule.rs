//! The selection rules that strategies share: fair random tie-breaking and the scan for the
//! lowest cost (least connections, least time), and two (or `k`) weighted choices (P2C, P2C
//! peak-EWMA). What they compare is a metric from [`cost`](super::cost).

use core::cmp::Ordering as Cmp;

use crate::pool::{Candidate, View};
use crate::rng::Stream;
use crate::select::Request;

use super::sample::{DrawnSet, weighted_slot};

/// Fair random tie-breaking for scanning strategies: every backend tied for best is equally
/// likely to win. Priorities come from a 64-bit LCG (Knuth's MMIX constants) seeded by one
/// random draw, taken only when the first tie of a pick happens.
pub(crate) struct TieBreak {
    lcg: Option<u64>,
    leader: Option<u32>,
}

impl TieBreak {
    pub(crate) const fn new() -> Self {
        TieBreak {
            lcg: None,
            leader: None,
        }
    }

    fn next(&mut self, req: &mut Request<'_>, stream: &Stream) -> u32 {
        let x = match self.lcg {
            Some(x) => x,
            None => req.draw(stream),
        };
        let x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.lcg = Some(x);
        (x >> 32) as u32
    }

    /// A strictly better backend took the lead: its priority is drawn if it is challenged.
    pub(crate) fn new_leader(&mut self) {
        self.leader = None;
    }

    /// A backend tied with the leader: `true` if it takes the lead.
    pub(crate) fn challenge(&mut self, req: &mut Request<'_>, stream: &Stream) -> bool {
        let lead = match self.leader {
            Some(p) => p,
            None => self.next(req, stream),
        };
        let mine = self.next(req, stream);
        if mine > lead {
            self.leader = Some(mine);
            true
        } else {
            self.leader = Some(lead);
            false
        }
    }
}

/// The scanning rule: the lowest-cost candidate offered so far, ties broken fairly.
pub(crate) struct Lowest<T> {
    best: Option<(Candidate, T)>,
    ties: TieBreak,
}

impl<T> Lowest<T> {
    pub(crate) const fn new() -> Self {
        Lowest {
            best: None,
            ties: TieBreak::new(),
        }
    }

    /// Offers `c` with cost `cost`, compared to the best so far by `cmp`.
    #[inline]
    pub(crate) fn offer(
        &mut self,
        c: Candidate,
        cost: T,
        cmp: impl Fn(&T, &T) -> Cmp,
        req: &mut Request<'_>,
        stream: &Stream,
    ) {
        let ord = match &self.best {
            None => Cmp::Less,
            Some((_, b)) => cmp(&cost, b),
        };
        match ord {
            Cmp::Greater => {}
            Cmp::Less => {
                self.best = Some((c, cost));
                self.ties.new_leader();
            }
            Cmp::Equal => {
                if self.ties.challenge(req, stream) {
                    self.best = Some((c, cost));
                }
            }
        }
    }

    /// The winner and its cost.
    #[inline]
    pub(crate) fn best(self) -> Option<(Candidate, T)> {
        self.best
    }
}

/// The two-choices rule's draw: two distinct candidates, each with probability
/// proportional to its weight (the second among the others); `(a, None)` when only one is
/// eligible.
#[inline]
pub(crate) fn two_choices<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
) -> Option<(Candidate, Option<Candidate>)> {
    let a = weighted_slot(view, req, stream, &None)?;
    let b = weighted_slot(view, req, stream, &Some(a.index()));
    Some((a, b))
}

/// The two-choices rule: of two distinct weighted draws, the second if `b_wins(a, b)`, else
/// the first (the draws are already random, so a tie goes to the first); the only
/// candidate when there is one.
#[inline(always)]
pub(crate) fn better_of_two<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    b_wins: impl Fn(&Candidate, &Candidate) -> bool,
) -> Option<Candidate> {
    let (a, b) = two_choices(view, req, stream)?;
    let Some(b) = b else { return Some(a) };
    Some(if b_wins(&a, &b) { b } else { a })
}

/// The `k`-choices rule (Envoy's `choice_count`, HAProxy's `random(<draws>)`): `k` distinct
/// weighted draws, each challenging the best so far by the two-choices rule (the newcomer
/// wins if `b_wins(best, newcomer)`; a tie stays with the earlier draw). Fewer draws when
/// fewer than `k` backends are eligible. With `k = 2` this is [`better_of_two`], draw for
/// draw; with `k = 1`, one weighted draw (what [`Random`](crate::Random) picks).
#[inline]
pub(crate) fn best_of<const N: usize>(
    view: &View<'_, N>,
    req: &mut Request<'_>,
    stream: &Stream,
    k: u8,
    b_wins: impl Fn(&Candidate, &Candidate) -> bool,
) -> Option<Candidate> {
    let mut best = weighted_slot(view, req, stream, &None)?;
    let mut drawn = DrawnSet::of(best.index());
    for _ in 1..k {
        let Some(c) = weighted_slot(view, req, stream, &drawn) else {
            break;
        };
        drawn.push(c.index());
        if b_wins(&best, &c) {
            best = c;
        }
    }
    Some(best)
}
