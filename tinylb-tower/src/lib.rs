//! tinylb's strategies behind tower's [`Service`](tower::Service): a load balancer for tonic,
//! hyper and axum clients and gateways.
//!
//! tower's own balancer, `tower::balance::p2c::Balance`, offers one rule: power of two
//! choices over a `Load` metric (`PendingRequests` or `PeakEwma`). [`Balance`] offers every
//! tinylb strategy (round robin, smooth weighted round robin, least connections, least
//! time, random, P2C, peak-EWMA, Maglev, rendezvous, jump, bounded load), chosen in code or
//! by name, over a lock-free [`tinylb::Pool`] with slow start, outlier ejection and in-flight
//! caps, shared by every clone of the service.
//!
//! # How it follows tower
//!
//! Read beside tower's sources (`tower-rs/tower`):
//!
//! * `tower/src/discover/mod.rs`: endpoints arrive as [`Change`](tower::discover::Change)s
//!   from a [`Discover`](tower::discover::Discover) stream, which must be `Unpin` (box it
//!   with `Box::pin` otherwise), exactly as `p2c::Balance` takes them.
//! * `tower/src/ready_cache/cache.rs`: a pending/ready split of the endpoint services, only
//!   ready ones picked (the others are excluded from the pick with tinylb's
//!   `Request::excluding`, which every strategy honours its own way), a service's readiness
//!   used up by one call.
//! * `tower/src/balance/p2c/service.rs`: `poll_ready` drives discovery and the pending
//!   services, fails only when discovery fails, and drops an endpoint whose `poll_ready`
//!   fails; it is not O(n) per call (tower's "specialize the balancer for P2C" and "only
//!   balance over ready endpoints" changes removed the O(n) readiness polling of its first
//!   balancer; this one polls the pending endpoints only, one per request when all are
//!   ready).
//! * `tower/src/load/pending_requests.rs`, `tower/src/load/peak_ewma.rs`: the in-flight
//!   count and the latency estimate are tinylb's [`Lease`](tinylb::Lease) and pool, so the
//!   load metric is not a wrapper around each endpoint but state shared by all clones.
//!
//! Where it differs: the pick happens in `call`, not `poll_ready`, because hash strategies
//! need the request's key; `poll_ready` is ready when some endpoint is. A request that then
//! finds no ready endpoint eligible (all ejected or at their caps) fails with
//! [`NoBackend`] rather than wait. The balancer can be cloned (tower's cannot, and is put
//! behind a `Buffer`): clones share the pool, the strategy and discovery, and each has its own
//! copies of the endpoint services. A request can carry its [`Attempts`], so that a retry
//! layer above sends it to a backend it has not tried (feature `retry`: `RetryUntried`,
//! `AttemptsLayer`).
//!
//! Features: `tokio` (default): the default clock is `tokio::time::Instant`; `retry`: the
//! HTTP retry policy and layer (adds `tower/retry` and `http`).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use tinylb_tower::Balance;
//! use tower::{Service, ServiceExt, discover::ServiceList, service_fn};
//!
//! # async fn run() -> Result<(), tinylb_tower::BoxError> {
//! let endpoints = (0..3u32).map(|i| service_fn(move |req: u32| async move {
//!     Ok::<_, Infallible>(req + i)
//! }));
//! let mut lb: Balance<_, u32, _, 8> =
//!     Balance::by_name(ServiceList::new(endpoints), "p2c")?.build();
//! let answer = lb.ready().await?.call(10).await?;
//! assert!((10..13).contains(&answer));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod attempts;
mod balance;
mod builder;
mod clock;
mod error;
mod future;
mod local;
#[cfg(feature = "retry")]
mod retry;
mod shared;
mod status;
mod weighted;

pub use attempts::Attempts;
pub use balance::{Balance, PoolRef};
pub use builder::Builder;
#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{Clock, DefaultClock, StdClock};
pub use error::{BoxError, DiscoverError, NoBackend};
pub use future::ResponseFuture;
#[cfg(feature = "retry")]
pub use retry::{AttemptsLayer, RetryUntried, WithAttempts, attempts_in_extensions};
pub use status::{Monitor, Status};
pub use weighted::Weighted;
