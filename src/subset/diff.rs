//! What changed between two subsets.

use super::Member;

/// The counts of a [`Diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Change {
    /// Members of the new subset that were not in the old one: connections to open.
    pub added: u32,
    /// Members of the old subset that are not in the new one: connections to close.
    pub removed: u32,
    /// Members of both whose share changed.
    pub reweighted: u32,
    /// Members of both with the same share.
    pub kept: u32,
}

impl Change {
    /// `true` if nothing changed.
    pub const fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.reweighted == 0
    }
}

/// The difference from an old subset to a new one, from
/// [`Subset::diff`](super::Subset::diff): the members added, removed and re-weighted.
#[derive(Debug, Clone, Copy)]
pub struct Diff<'a> {
    old: &'a [Member],
    new: &'a [Member],
}

/// The member of sorted `set` with id `backend`.
fn find(set: &[Member], backend: u32) -> Option<&Member> {
    set.binary_search_by_key(&backend, |m| m.backend)
        .ok()
        .and_then(|i| set.get(i))
}

impl<'a> Diff<'a> {
    pub(super) fn new(old: &'a [Member], new: &'a [Member]) -> Self {
        Diff { old, new }
    }

    /// Members of the new subset that were not in the old one.
    pub fn added(&self) -> impl Iterator<Item = Member> + 'a {
        let old = self.old;
        self.new
            .iter()
            .filter(move |m| find(old, m.backend).is_none())
            .copied()
    }

    /// Members of the old subset that are not in the new one.
    pub fn removed(&self) -> impl Iterator<Item = Member> + 'a {
        let new = self.new;
        self.old
            .iter()
            .filter(move |m| find(new, m.backend).is_none())
            .copied()
    }

    /// Members of both whose share changed: `(old, new)`.
    pub fn reweighted(&self) -> impl Iterator<Item = (Member, Member)> + 'a {
        let old = self.old;
        self.new.iter().filter_map(move |m| {
            find(old, m.backend)
                .filter(|o| o.share_q16 != m.share_q16)
                .map(|o| (*o, *m))
        })
    }

    /// How many members were added, removed, re-weighted and kept.
    pub fn counts(&self) -> Change {
        let mut c = Change::default();
        for m in self.new {
            match find(self.old, m.backend) {
                None => c.added += 1,
                Some(o) if o.share_q16 != m.share_q16 => c.reweighted += 1,
                Some(_) => c.kept += 1,
            }
        }
        c.removed = (self.old.len() as u32).saturating_sub(c.reweighted + c.kept);
        c
    }
}
