//! [`Weighted`]: an endpoint service that carries its tinylb weight through discovery.

use std::task::{Context, Poll};

use tower::Service;

/// An endpoint with the weight it should have in the pool: discover `Weighted<S>` values and
/// build the balancer with
/// [`Builder::weight_from_service`](crate::Builder::weight_from_service), or read the weight
/// from the key with [`Builder::weight`](crate::Builder::weight) instead.
///
/// It is a transparent [`Service`]: `poll_ready` and `call` go to `inner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weighted<S> {
    /// The endpoint.
    pub inner: S,
    /// Its weight (`0..=tinylb::MAX_WEIGHT`; 0 keeps it out of every pick).
    pub weight: u32,
}

impl<S> Weighted<S> {
    /// `inner` with `weight`.
    pub const fn new(inner: S, weight: u32) -> Self {
        Weighted { inner, weight }
    }
}

impl<S: Service<Req>, Req> Service<Req> for Weighted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> S::Future {
        self.inner.call(req)
    }
}
