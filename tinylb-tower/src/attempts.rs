//! [`Attempts`]: the backends one request has been sent to, shared by its retries.

use std::fmt;
use std::sync::{Arc, Mutex};

use tinylb::{BackendId, Tried};

use crate::shared::lock;

/// The backends one request (and its retries) has been sent to: put one in the request
/// (for HTTP, in its extensions), and [`Balance`](crate::Balance) excludes those backends
/// when it picks for the request and adds the one it picks. A retry of the request
/// carries the same handle (a clone of the request clones it: it is an `Arc`), so each
/// attempt goes to a backend not yet tried, whatever the strategy (tinylb's exclusion: each
/// strategy skips tried backends in its own way, without re-rolling its schedule).
///
/// When every backend the request could get has been tried, the pick takes a tried one
/// again (as Envoy does when its previous-hosts predicate runs out of hosts) rather than
/// fail the attempt.
///
/// The mutex belongs to one request and its retries, which run one after another: it is
/// never contended, and no lock shared between requests is taken on the request path.
pub struct Attempts<const N: usize>(Arc<Mutex<Tried<N>>>);

impl<const N: usize> Clone for Attempts<N> {
    /// Another handle on the same set.
    fn clone(&self) -> Self {
        Attempts(self.0.clone())
    }
}

impl<const N: usize> Default for Attempts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Attempts<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Attempts").field(&*lock(&self.0)).finish()
    }
}

impl<const N: usize> Attempts<N> {
    /// No backend tried yet.
    pub fn new() -> Self {
        Attempts(Arc::new(Mutex::new(Tried::new())))
    }

    /// A copy of the set.
    pub fn tried(&self) -> Tried<N> {
        lock(&self.0).clone()
    }

    /// How many distinct backends have been tried.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// `true` before the first attempt.
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }

    /// Records an attempt on `id`.
    pub fn insert(&self, id: BackendId) {
        lock(&self.0).insert(id);
    }
}
