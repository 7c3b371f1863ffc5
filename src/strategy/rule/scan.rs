//! The lowest-cost scan, block by block ([`Lowest::scan`]): 64 slots a block, the block's
//! tie bits in a register and stored once at its end, and an inner loop that only judges a
//! slot on the view's fast path ([`View::judge_fast`]) and compares it. A lower cost or a
//! slot for the view's slow path leaves that loop and is judged again outside it, so the
//! loop makes no call and its state (the lowest cost, the bits, the bounds) stays in
//! registers: with a call in it, x86-64's six callee-saved registers could not hold them
//! and the lowest cost and the bits went to the stack. By callgrind, least connections went
//! from 2946 to 2161 instructions a pick at n = 64 idle (46 → 26 a backend in the loop),
//! 699 at n = 8 as before.

use core::cmp::Ordering as Cmp;

use crate::pool::{Candidate, Slot, View};

use super::{Lowest, TIE_WORDS};

impl<T: Copy> Lowest<T> {
    /// Every candidate of `view` offered in slot order, costed by `cost` and compared by
    /// `cmp`: what [`Lowest::offer`] over [`View::judged`] gives, block by block, so that
    /// the lowest cost and the current block's tie bits stay in registers (one `or` into a
    /// register a tie, one store a block) and nothing is kept of a candidate but the first
    /// at the lowest cost.
    #[inline(always)]
    pub(crate) fn scan<const N: usize>(
        view: &View<'_, N>,
        worst: T,
        cost: impl Fn(&Candidate, &Slot) -> T,
        cmp: impl Fn(&T, &T) -> Cmp,
    ) -> Self {
        // a view that excludes backends or holds more than one state or level sends every
        // slot to the slow path, where the block loop would only leave and re-enter its
        // inner loop at each slot: such a view is offered one slot at a time (by callgrind,
        // 1950 instructions a spread pick at n = 8 the block way, 1784 this way); without
        // the `levels` feature only a retry's exclusion does that, and the firmware's core
        // set keeps the flash this second loop costs there (1224 B on thumbv7em; 336 B with
        // `levels`)
        if cfg!(feature = "levels") && view.is_narrowed() {
            let mut lowest = Lowest::new(worst);
            for (c, slot) in view.judged() {
                lowest.offer(c, cost(&c, slot), &cmp);
            }
            return lowest;
        }
        let mut first = None;
        let mut best = worst;
        let mut mask = [0u64; TIE_WORDS];
        let mut beyond = 0u32;
        for (b, block) in view.blocks().enumerate() {
            let mut bits = 0u64;
            let mut j = 0;
            loop {
                // the loop most slots see (a judgement on the fast path, then a tie or a
                // higher cost) keeps to a few registers and carries nothing out: it stops
                // at a lower cost or at a slot for the slow path, which is judged again
                // below (with a call, out of the loop), and the scan goes on after it
                while let Some(slot) = block.get(j) {
                    match view.judge_fast(64 * b + j, slot) {
                        Err(()) => break,
                        Ok(None) => {}
                        Ok(Some((c, slot))) => match cmp(&cost(&c, slot), &best) {
                            Cmp::Greater => {}
                            Cmp::Equal => bits |= 1 << (j % 64),
                            Cmp::Less => break,
                        },
                    }
                    j += 1;
                }
                let Some(slot) = block.get(j) else {
                    break;
                };
                if let Some((c, slot)) = view.judge_slot(64 * b + j, slot) {
                    let k = cost(&c, slot);
                    match cmp(&k, &best) {
                        Cmp::Greater => {}
                        Cmp::Equal => bits |= 1 << (j % 64),
                        Cmp::Less => {
                            first = Some(c);
                            best = k;
                            mask = [0; TIE_WORDS];
                            beyond = 0;
                            bits = 1 << (j % 64);
                        }
                    }
                }
                j += 1;
            }
            match mask.get_mut(b) {
                Some(w) => *w = bits,
                None => beyond += bits.count_ones(),
            }
        }
        Lowest {
            first,
            cost: best,
            mask,
            beyond,
        }
    }
}
