//! One clone's own copies of the endpoint services, and their readiness: a ready/pending
//! split in the manner of tower's `ReadyCache` (`tower/src/ready_cache/cache.rs`).
//!
//! * A copy starts **pending**. `poll_ready` of the balancer polls the pending copies only;
//!   one that answers `Ready` becomes **ready** and is not polled again until it is used.
//! * Calling a ready copy consumes its readiness (tower's contract: one `poll_ready`, one
//!   `call`), so it goes back to pending and is polled by the next `poll_ready`. In the
//!   common case (every endpoint ready at once) that is one poll per request, not one per
//!   endpoint: `poll_ready` is O(1), not O(n) (the O(n) polling that tower's balancer had and
//!   removed in its "specialize the balancer for P2C" and "only balance over ready
//!   endpoints" changes).
//! * A copy whose `poll_ready` fails is dropped here and its endpoint removed from the
//!   shared registry and pool, as tower's balancer drops a failed endpoint.
//!
//! tower's cache polls only the pending services that were woken (a `FuturesUnordered`);
//! this one polls every pending copy, which is the same in the common case and at most `N`
//! polls when many endpoints are pending at once.
//!
//! Readiness is this clone's business (its copies, its connections), so it is not written
//! into the shared pool's health (which is the operator's and the health checker's, and
//! which `set_health` changes also end ejections and restart slow start): a pick excludes
//! the copies that are not ready through the request's exclusion set (`tinylb::Tried`,
//! `Request::excluding`), which every strategy honours in its own way.

use tinylb::BackendId;
use tower::Service;

use std::task::{Context, Poll};

/// One copy of an endpoint service.
#[derive(Debug)]
pub(crate) struct Local<S> {
    pub(crate) id: BackendId,
    pub(crate) rev: u64,
    pub(crate) svc: S,
    ready: bool,
}

/// This clone's copies, by pool slot index.
#[derive(Debug)]
pub(crate) struct Endpoints<S> {
    slots: Vec<Option<Local<S>>>,
    /// Indices of copies that are not known to be ready.
    pending: Vec<usize>,
    ready: usize,
    /// The registry revision these copies were taken at (`None`: never).
    pub(crate) seen: Option<u64>,
}

/// What polling the pending copies found.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    /// Copies whose `poll_ready` failed (already dropped here): `(id, rev)`.
    pub(crate) failed: Vec<(BackendId, u64)>,
}

impl<S> Endpoints<S> {
    /// No copies yet, and no allocation: a clone made per request (as `tower::retry`
    /// makes one) costs nothing until it is polled.
    pub(crate) fn new() -> Self {
        Endpoints {
            slots: Vec::new(),
            pending: Vec::new(),
            ready: 0,
            seen: None,
        }
    }

    /// Number of ready copies.
    pub(crate) fn ready_len(&self) -> usize {
        self.ready
    }

    /// `true` if the copy at `index` is the backend `id` and ready to be called.
    pub(crate) fn is_ready(&self, index: usize, id: BackendId) -> bool {
        matches!(self.slots.get(index), Some(Some(l)) if l.ready && l.id == id)
    }

    /// `true` if no copy is pending (every copy this clone has is ready).
    pub(crate) fn all_ready(&self) -> bool {
        self.pending.is_empty()
    }

    /// Ids of the pending copies: what a pick must exclude.
    pub(crate) fn pending_ids(&self) -> impl Iterator<Item = BackendId> + '_ {
        self.pending
            .iter()
            .filter_map(|&i| self.slots.get(i)?.as_ref().map(|l| l.id))
    }

    /// Replaces the copies by the registry's, keeping each copy whose backend and revision
    /// are unchanged (its readiness too). `entries` yields `(index, id, rev, service)`.
    pub(crate) fn sync<'a, I>(&mut self, entries: I, rev: u64)
    where
        I: Iterator<Item = (usize, Option<(BackendId, u64, &'a S)>)>,
        S: Clone + 'a,
    {
        for (index, entry) in entries {
            if self.slots.len() <= index {
                self.slots.resize_with(index + 1, || None);
            }
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            let keep =
                matches!((&*slot, entry), (Some(l), Some((id, r, _))) if l.id == id && l.rev == r);
            if keep {
                continue;
            }
            if let Some(old) = slot.take()
                && old.ready
            {
                self.ready -= 1;
            }
            if let Some((id, rev, svc)) = entry {
                *slot = Some(Local {
                    id,
                    rev,
                    svc: svc.clone(),
                    ready: false,
                });
                self.pending.push(index);
            }
        }
        let slots = &self.slots;
        self.pending
            .retain(|&i| matches!(slots.get(i), Some(Some(l)) if !l.ready));
        self.pending.sort_unstable();
        self.pending.dedup();
        self.seen = Some(rev);
    }

    /// Polls every pending copy once; ready ones leave the pending list.
    pub(crate) fn poll_pending<Req>(&mut self, cx: &mut Context<'_>) -> Polled
    where
        S: Service<Req>,
    {
        let mut polled = Polled::default();
        let mut i = 0;
        while let Some(&index) = self.pending.get(i) {
            let Some(Some(local)) = self.slots.get_mut(index) else {
                self.pending.swap_remove(i);
                continue;
            };
            match local.svc.poll_ready(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(Ok(())) => {
                    local.ready = true;
                    self.ready += 1;
                    self.pending.swap_remove(i);
                }
                Poll::Ready(Err(_)) => {
                    polled.failed.push((local.id, local.rev));
                    if let Some(slot) = self.slots.get_mut(index) {
                        *slot = None;
                    }
                    self.pending.swap_remove(i);
                }
            }
        }
        polled
    }

    /// Calls the ready copy at `index` (which [`Endpoints::is_ready`] approved): its
    /// readiness is used up, so it goes back to the pending list.
    pub(crate) fn call<Req>(&mut self, index: usize, req: Req) -> Option<S::Future>
    where
        S: Service<Req>,
    {
        let local = self.slots.get_mut(index)?.as_mut()?;
        if !local.ready {
            return None;
        }
        local.ready = false;
        self.ready -= 1;
        self.pending.push(index);
        Some(local.svc.call(req))
    }
}
