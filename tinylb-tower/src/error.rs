//! The balancer's own errors (endpoint errors pass through boxed, as tower's balancer
//! passes them).

use std::fmt;

/// The error type of [`Balance`](crate::Balance)'s service: a boxed error, as
/// `tower::BoxError`. Endpoint errors are passed through unchanged (downcast to your
/// endpoint's error type); the balancer's own are [`NoBackend`] and [`DiscoverError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// No ready endpoint was eligible for the request when it was called: every ready one is
/// down, draining, ejected (outside panic mode) or at its in-flight cap in the pool, or a
/// weight of 0. Like Envoy's "no healthy upstream", the request fails at once rather than
/// wait for an eligibility that only time or an operator brings back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoBackend;

impl fmt::Display for NoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no ready backend is eligible for this request")
    }
}

impl std::error::Error for NoBackend {}

/// The [`Discover`](tower::discover::Discover) stream returned an error; the balancer
/// keeps the endpoints it has (as tower's `p2c::Balance`, which also fails `poll_ready`).
#[derive(Debug)]
pub struct DiscoverError(pub BoxError);

impl fmt::Display for DiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service discovery failed: {}", self.0)
    }
}

impl std::error::Error for DiscoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
