//! The response future: carries the request's [`Lease`] and finishes it with the outcome.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tinylb::{Lease, Outcome, Pool};

use crate::clock::Clock;
use crate::error::{BoxError, NoBackend};

/// Decides whether a response (or error) counts as the backend's success.
pub(crate) type ClassifyFn<T, E> = Arc<dyn Fn(Result<&T, &E>) -> bool + Send + Sync>;

/// What a response future needs to report its outcome: the clock and the classifier. Each
/// balancer clone has its own (the pointers inside are shared), so that the reference count
/// a request takes on it is not a cache line every clone writes.
pub(crate) struct Finish<T, E> {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) classify: ClassifyFn<T, E>,
}

impl<T, E> Clone for Finish<T, E> {
    fn clone(&self) -> Self {
        Finish {
            clock: self.clock.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Finish<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finish").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] fut: F },
        NoBackend,
        Done,
    }
}

pin_project_lite::pin_project! {
    /// The future [`Balance`](crate::Balance) returns: the endpoint's response future, with
    /// the request's lease on its backend.
    ///
    /// When the endpoint's future completes, the lease is finished with the outcome: the
    /// classifier you gave ([`Builder::classify`](crate::Builder::classify); by default
    /// `Ok` is a success and `Err` a failure) and the latency since the pick on the
    /// balancer's clock. That feeds the backend's latency estimate and failure streak
    /// (and so peak-EWMA, least-time and outlier ejection). If the future is dropped
    /// first (cancelled, timed out by an outer layer), the lease's `Drop` gives the
    /// in-flight unit back, exactly once, and records nothing.
    ///
    /// `L` is the lease: `tinylb::Lease<Arc<Pool<N>>, N>`.
    pub struct ResponseFuture<F, T, E, L> {
        #[pin]
        state: State<F>,
        lease: Option<L>,
        started_us: u64,
        finish: Arc<Finish<T, E>>,
    }
}

impl<F, T, E, L: fmt::Debug> fmt::Debug for ResponseFuture<F, T, E, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("lease", &self.lease)
            .field("started_us", &self.started_us)
            .finish()
    }
}

impl<F, T, E, P, const N: usize> ResponseFuture<F, T, E, Lease<P, N>>
where
    P: Deref<Target = Pool<N>>,
{
    pub(crate) fn called(
        fut: F,
        lease: Lease<P, N>,
        started_us: u64,
        finish: Arc<Finish<T, E>>,
    ) -> Self {
        ResponseFuture {
            state: State::Called { fut },
            lease: Some(lease),
            started_us,
            finish,
        }
    }

    pub(crate) fn no_backend(finish: Arc<Finish<T, E>>) -> Self {
        ResponseFuture {
            state: State::NoBackend,
            lease: None,
            started_us: 0,
            finish,
        }
    }

    /// The backend the request went to (`None` when no backend was eligible).
    pub fn backend(&self) -> Option<tinylb::BackendId> {
        self.lease.as_ref().map(Lease::id)
    }
}

impl<F, T, E, P, const N: usize> Future for ResponseFuture<F, T, E, Lease<P, N>>
where
    P: Deref<Target = Pool<N>>,
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = match this.state.as_mut().project() {
            StateProj::Called { fut } => match fut.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            },
            StateProj::NoBackend => {
                this.state.set(State::Done);
                return Poll::Ready(Err(NoBackend.into()));
            }
            // polled after completion: the lease is long gone, say so without panicking
            StateProj::Done => return Poll::Ready(Err(NoBackend.into())),
        };
        this.state.set(State::Done);
        if let Some(lease) = this.lease.take() {
            let now = this.finish.clock.now_us();
            let latency = Duration::from_micros(now.saturating_sub(*this.started_us));
            let outcome = if (this.finish.classify)(result.as_ref()) {
                Outcome::success_after(latency)
            } else {
                Outcome::failure_after(latency)
            };
            lease.finish(outcome.at_us(now));
        }
        Poll::Ready(result.map_err(Into::into))
    }
}
