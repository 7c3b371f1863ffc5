//! Requests per second through `Balance` (p2c) beside tower's own `p2c::Balance` (with
//! `PendingRequests` and with `PeakEwma`) over the same mock endpoints (`service_fn`, ready
//! at once, answering at once), and beside calling one endpoint directly (the floor: the
//! difference is the balancer's per-request cost). One task, and two tasks on two worker
//! threads: our two tasks are two clones sharing one pool; tower's balancer cannot be
//! cloned, so each of its tasks has a balancer of its own (its best case: nothing shared).
//!
//! Run: `cargo bench -p tinylb-tower --bench balance -- --warm-up-time 1 --measurement-time 3`.
//! One iteration is one request on each task, so requests/s = tasks / time.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tinylb_tower::Balance;
use tower::balance::p2c;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwmaDiscover, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

const ENDPOINTS: usize = 8;

fn endpoints() -> Vec<
    impl Service<u64, Response = u64, Error = Infallible, Future = impl Future + Send>
    + Clone
    + Send
    + 'static,
> {
    (0..ENDPOINTS as u64)
        .map(|i| tower::service_fn(move |req: u64| async move { Ok::<_, Infallible>(req ^ i) }))
        .collect()
}

/// Sends `iters` requests through `svc`, as fast as it takes them.
async fn drive<S>(mut svc: S, iters: u64) -> Duration
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for i in 0..iters {
        let r = svc.ready().await.unwrap().call(i).await;
        black_box(r.ok());
    }
    start.elapsed()
}

/// One iteration: one request on each of `tasks` tasks, each with the service `make` gives.
fn bench<S, F>(c: &mut Criterion, group: &str, name: &str, tasks: usize, make: F)
where
    F: Fn() -> S,
    S: Service<u64> + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(tasks)
        .enable_time()
        .build()
        .unwrap();
    c.bench_function(&format!("{group}/{name}"), |b| {
        b.iter_custom(|iters| {
            // build outside the timing: discovery and readiness of a fresh balancer
            let svcs: Vec<S> = (0..tasks).map(|_| make()).collect();
            rt.block_on(async {
                let start = Instant::now();
                let handles: Vec<_> = svcs
                    .into_iter()
                    .map(|s| tokio::spawn(drive(s, iters)))
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                start.elapsed()
            })
        })
    });
}

fn benches(c: &mut Criterion) {
    for tasks in [1usize, 2] {
        let group = format!("{tasks}task");
        // the floor: one endpoint, no balancer
        bench(c, &group, "direct", tasks, || endpoints().swap_remove(0));
        // ours: one balancer, a clone per task (they share the pool)
        let ours: Balance<_, u64, _, 16> =
            Balance::builder(ServiceList::new(endpoints()), tinylb::PowerOfTwo::new()).build();
        bench(c, &group, "tinylb_p2c", tasks, || ours.clone());
        let ewma: Balance<_, u64, _, 16> =
            Balance::builder(ServiceList::new(endpoints()), tinylb::PeakEwma::new()).build();
        bench(c, &group, "tinylb_peak_ewma", tasks, || ewma.clone());
        bench(c, &group, "tower_p2c_pending", tasks, || {
            let d = PendingRequestsDiscover::new(
                ServiceList::new(endpoints()),
                CompleteOnResponse::default(),
            );
            p2c::Balance::new(d)
        });
        bench(c, &group, "tower_p2c_peak_ewma", tasks, || {
            let d = PeakEwmaDiscover::new(
                ServiceList::new(endpoints()),
                Duration::from_millis(1),
                Duration::from_secs(5),
                CompleteOnResponse::default(),
            );
            p2c::Balance::new(d)
        });
    }
}

criterion_group!(balance, benches);
criterion_main!(balance);
