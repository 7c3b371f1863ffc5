//! Retries on a backend not yet tried, for HTTP: [`RetryUntried`] (a `tower::retry::Policy`)
//! and [`AttemptsLayer`] (which gives each request the [`Attempts`] set its retries share).
//!
//! ```
//! use tinylb_tower::{Attempts, AttemptsLayer, RetryUntried};
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//! # fn stack<S: Clone>(balance: S) {
//! // outermost first: the attempts set, then the retries, then the balancer (built with
//! // `.attempts(tinylb_tower::attempts_in_extensions::<Body, 16>)`)
//! let client = ServiceBuilder::new()
//!     .layer(AttemptsLayer::<16>::new())
//!     .layer(RetryLayer::new(RetryUntried::new(2)))
//!     .service(balance);
//! # let _ = client; }
//! ```

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use tower::retry::Policy;
use tower::{Layer, Service};

use crate::attempts::Attempts;

/// Where [`AttemptsLayer`] puts a request's [`Attempts`]: its extensions. Pass it to
/// [`Builder::attempts`](crate::Builder::attempts).
pub fn attempts_in_extensions<B, const N: usize>(req: &http::Request<B>) -> Option<Attempts<N>> {
    req.extensions().get::<Attempts<N>>().cloned()
}

/// A `tower::retry::Policy` for HTTP: retries a request that failed (an error, or a 5xx
/// response unless [`RetryUntried::errors_only`]) up to `max` times. With the balancer
/// reading the request's [`Attempts`], each retry goes to a backend the request has not
/// tried yet.
///
/// Only retry what may be sent twice (idempotent methods, or requests your backends
/// de-duplicate); the body must be `Clone` (a `Full<Bytes>` or an `Empty`, not a stream).
#[derive(Debug, Clone, Copy)]
pub struct RetryUntried {
    left: usize,
    on_5xx: bool,
}

impl RetryUntried {
    /// At most `max` retries per request (so `max + 1` attempts), on errors and 5xx.
    pub const fn new(max: usize) -> Self {
        RetryUntried {
            left: max,
            on_5xx: true,
        }
    }

    /// Retries on errors only; a 5xx response is returned as it is.
    pub const fn errors_only(mut self) -> Self {
        self.on_5xx = false;
        self
    }
}

impl<B, RB, E> Policy<http::Request<B>, http::Response<RB>, E> for RetryUntried
where
    B: Clone,
{
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _req: &mut http::Request<B>,
        result: &mut Result<http::Response<RB>, E>,
    ) -> Option<Ready<()>> {
        let failed = match result {
            Ok(resp) => self.on_5xx && resp.status().is_server_error(),
            Err(_) => true,
        };
        if !failed || self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(ready(()))
    }

    fn clone_request(&mut self, req: &http::Request<B>) -> Option<http::Request<B>> {
        let mut out = http::Request::new(req.body().clone());
        *out.method_mut() = req.method().clone();
        *out.uri_mut() = req.uri().clone();
        *out.version_mut() = req.version();
        *out.headers_mut() = req.headers().clone();
        // the same `Attempts` (an `Arc`) and whatever else the request carries
        *out.extensions_mut() = req.extensions().clone();
        Some(out)
    }
}

/// Gives each HTTP request that has none a fresh [`Attempts`] set, in its extensions: put
/// it outside the retry layer, so the request and its retries share one set.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptsLayer<const N: usize>;

impl<const N: usize> AttemptsLayer<N> {
    /// The layer.
    pub const fn new() -> Self {
        AttemptsLayer
    }
}

impl<S, const N: usize> Layer<S> for AttemptsLayer<N> {
    type Service = WithAttempts<S, N>;

    fn layer(&self, inner: S) -> Self::Service {
        WithAttempts { inner }
    }
}

/// The service [`AttemptsLayer`] makes.
#[derive(Debug, Clone)]
pub struct WithAttempts<S, const N: usize> {
    inner: S,
}

impl<S, B, const N: usize> Service<http::Request<B>> for WithAttempts<S, N>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        if req.extensions().get::<Attempts<N>>().is_none() {
            req.extensions_mut().insert(Attempts::<N>::new());
        }
        self.inner.call(req)
    }
}
