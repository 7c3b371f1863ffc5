//! The balancer's contract over mock endpoints (no sockets): readiness, discovery changes,
//! failed endpoints, clones, cancellation, affinity.

mod discovery;
mod readiness;
mod retries;
mod sharing;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc;
use tower::Service;
use tower::discover::Change;

/// A discovery stream fed through a channel.
#[derive(Debug)]
pub(crate) struct Chan<S>(pub(crate) mpsc::UnboundedReceiver<Change<usize, S>>);

impl<S> futures_core::Stream for Chan<S> {
    type Item = Result<Change<usize, S>, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// A discovery stream and the sender that feeds it.
pub(crate) fn chan<S>() -> (mpsc::UnboundedSender<Change<usize, S>>, Chan<S>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Chan(rx))
}

/// What a mock endpoint is doing right now: ready or not, failing readiness, and how often
/// it was polled and called. Shared by every clone of the endpoint.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    pub(crate) closed: AtomicBool,
    pub(crate) broken: AtomicBool,
    pub(crate) polls: AtomicUsize,
    pub(crate) calls: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    pub(crate) fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// A mock endpoint: answers its own index at once (or never, with `hang`), ready as its
/// gate says.
#[derive(Debug, Clone)]
pub(crate) struct Mock {
    pub(crate) index: usize,
    pub(crate) gate: Arc<Gate>,
    pub(crate) hang: bool,
}

/// An error from a mock whose gate is broken.
#[derive(Debug)]
pub(crate) struct Broken;
impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("broken")
    }
}
impl std::error::Error for Broken {}

/// The mock answers requests of each of these types the same way.
macro_rules! mock_service {
    ($($t:ty),*) => {$(
impl Service<$t> for Mock {
    type Response = usize;
    type Error = Broken;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<usize, Broken>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Broken>> {
        self.gate.polls.fetch_add(1, Ordering::SeqCst);
        if self.gate.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err(Broken));
        }
        if self.gate.closed.load(Ordering::SeqCst) {
            *self.gate.waker.lock().unwrap() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: $t) -> Self::Future {
        self.gate.calls.fetch_add(1, Ordering::SeqCst);
        let index = self.index;
        if self.hang {
            Box::pin(std::future::pending())
        } else {
            Box::pin(async move { Ok(index) })
        }
    }
}
    )*};
}

mock_service!(u64);

/// A mock endpoint for requests that carry their `Attempts`.
#[derive(Debug, Clone)]
pub(crate) struct Tracked(pub(crate) Mock);

impl Service<crate::retries::Req> for Tracked {
    type Response = usize;
    type Error = Broken;
    type Future = <Mock as Service<u64>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Broken>> {
        Service::<u64>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: crate::retries::Req) -> Self::Future {
        self.0.call(req.0)
    }
}

/// `n` mock endpoints and their gates.
pub(crate) fn mocks(n: usize) -> (Vec<Mock>, Vec<Arc<Gate>>) {
    let gates: Vec<_> = (0..n).map(|_| Arc::new(Gate::default())).collect();
    let mocks = gates
        .iter()
        .enumerate()
        .map(|(index, gate)| Mock {
            index,
            gate: gate.clone(),
            hang: false,
        })
        .collect();
    (mocks, gates)
}

/// Polls `svc` ready once with a no-op waker.
pub(crate) fn poll_ready_now<S: Service<u64>>(svc: &mut S) -> Poll<Result<(), S::Error>> {
    svc.poll_ready(&mut Context::from_waker(Waker::noop()))
}
