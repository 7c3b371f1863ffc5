//! End to end on loopback: hyper 1 servers as backends (one fast, one slow, one failing half
//! its requests), a hyper client through `Balance`. Bounded: a few hundred requests, a few
//! seconds. A binary of its own because it starts servers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tinylb::{Config, Ejection, Strategy};
use tinylb_tower::{Balance, BoxError, Monitor};
use tokio::task::JoinSet;
use tower::discover::ServiceList;
use tower::{Service, ServiceExt};

/// How a test backend answers.
#[derive(Clone, Copy)]
enum Kind {
    Fast,
    Slow,
    /// 500 for requests 3..6, 9..12, ... of every six: half, in runs of three
    Failing,
}

/// A backend on loopback; dropping it kills it (its listener and its connections).
struct Backend {
    addr: SocketAddr,
    _tasks: JoinSet<()>,
}

async fn backend(name: &'static str, kind: Kind) -> Backend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    let conns = Arc::new(std::sync::Mutex::new(JoinSet::new()));
    let c2 = conns.clone();
    tasks.spawn(async move {
        let _keep = c2;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let served = served.clone();
            let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                let n = served.fetch_add(1, Ordering::SeqCst);
                async move {
                    if let Kind::Slow = kind {
                        tokio::time::sleep(Duration::from_millis(15)).await;
                    }
                    let status = match kind {
                        Kind::Failing if (n / 3) % 2 == 1 => StatusCode::INTERNAL_SERVER_ERROR,
                        _ => StatusCode::OK,
                    };
                    let resp = Response::builder()
                        .status(status)
                        .header("x-backend", name)
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            _keep.lock().unwrap().spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    drop(conns);
    Backend {
        addr,
        _tasks: tasks,
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// One endpoint service: the shared hyper client, aimed at one backend.
fn endpoint(
    client: HttpClient,
    addr: SocketAddr,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future = impl Send,
> + Clone
+ Send {
    tower::service_fn(move |mut req: Request<Empty<Bytes>>| {
        let client = client.clone();
        let uri = format!("http://{addr}{}", req.uri().path());
        *req.uri_mut() = uri.parse().unwrap();
        async move { client.request(req).await }
    })
}

fn get(user: u32) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri("/")
        .header("x-user", format!("user-{user}"))
        .body(Empty::new())
        .unwrap()
}

fn served_by(r: &Result<Response<Incoming>, BoxError>) -> &'static str {
    match r.as_ref().ok().and_then(|r| r.headers().get("x-backend")) {
        Some(v) if r.as_ref().is_ok_and(|r| r.status().is_server_error()) => {
            if v == "failing" {
                "failing"
            } else {
                "5xx"
            }
        }
        Some(v) => ["fast", "slow", "failing", "a", "b", "c"]
            .into_iter()
            .find(|n| v == n)
            .unwrap_or("unknown"),
        None => "error",
    }
}

/// Sends `per_task` requests from each of `tasks` clones; the count per backend name, and
/// which backend each user got.
async fn drive<B>(
    lb: B,
    tasks: u32,
    per_task: u32,
) -> (HashMap<&'static str, u32>, HashMap<u32, Vec<&'static str>>)
where
    B: Service<Request<Empty<Bytes>>, Response = Response<Incoming>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    B::Future: Send,
{
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let mut lb = lb.clone();
        set.spawn(async move {
            let mut seen = Vec::new();
            for i in 0..per_task {
                let user = (t * per_task + i) % 20;
                let r = lb.ready().await.unwrap().call(get(user)).await;
                seen.push((user, served_by(&r)));
            }
            seen
        });
    }
    let (mut shares, mut users) = (HashMap::new(), HashMap::<u32, Vec<_>>::new());
    while let Some(seen) = set.join_next().await {
        for (user, by) in seen.unwrap() {
            *shares.entry(by).or_insert(0) += 1;
            users.entry(user).or_default().push(by);
        }
    }
    (shares, users)
}

struct Setup {
    lb: Balance<ServiceList<Vec<Endpoint>>, Request<Empty<Bytes>>, Strategy<8>, 8>,
    mon: Monitor<usize, 8>,
    _backends: Vec<Backend>,
}

type Endpoint = tower::util::BoxCloneSyncService<
    Request<Empty<Bytes>>,
    Response<Incoming>,
    hyper_util::client::legacy::Error,
>;

async fn setup(strategy: &str, eject: bool) -> Setup {
    let backends = vec![
        backend("fast", Kind::Fast).await,
        backend("slow", Kind::Slow).await,
        backend("failing", Kind::Failing).await,
    ];
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let list: Vec<Endpoint> = backends
        .iter()
        .map(|b| tower::util::BoxCloneSyncService::new(endpoint(client.clone(), b.addr)))
        .collect();
    let mut config = Config::new().half_life_ms(1_000);
    if eject {
        config = config.ejection(Ejection {
            consecutive_failures: 2,
            base_ms: 60_000,
            max_ms: 60_000,
            max_ejection_percent: 34,
            ..Ejection::ENVOY
        });
    }
    let lb = Balance::by_name(ServiceList::new(list), strategy)
        .unwrap()
        .config(config)
        .unwrap()
        .key(|req: &Request<Empty<Bytes>>| {
            req.headers()
                .get("x-user")
                .map(|v| tinylb::hash::hash_bytes(v.as_bytes()))
        })
        .classify(|r| matches!(r, Ok(resp) if !resp.status().is_server_error()))
        .build();
    let mon = lb.monitor();
    Setup {
        lb,
        mon,
        _backends: backends,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_aware_strategies_send_less_to_the_slow_backend_and_eject_the_failing_one() {
    for name in ["p2c", "peak_ewma", "least_conn"] {
        let s = setup(name, true).await;
        let (shares, _) = tokio::time::timeout(Duration::from_secs(10), drive(s.lb.clone(), 8, 30))
            .await
            .expect("bounded in time");
        let [fast, slow, failing] =
            ["fast", "slow", "failing"].map(|k| *shares.get(k).unwrap_or(&0));
        println!(
            "{name}: fast {fast}, slow {slow}, failing {failing}, errors {:?}",
            shares.get("error")
        );
        assert_eq!(fast + slow + failing, 240, "{name}: every request answered");
        assert!(
            slow * 2 < fast,
            "{name}: the slow backend gets less: {shares:?}"
        );
        let status = s.mon.snapshot();
        let f = status.iter().find(|st| st.key == 2).unwrap();
        assert!(
            f.info.ejected,
            "{name}: the failing backend is ejected: {f:?}"
        );
        assert!(failing < fast / 4, "{name}: {shares:?}");
        // ejected for a minute: the next requests all go elsewhere
        let (again, _) = drive(s.lb.clone(), 4, 20).await;
        assert_eq!(again.get("failing"), None, "{name}: {again:?}");
        assert_eq!(again.get("error"), None, "{name}: {again:?}");
        assert_eq!(s.mon.in_flight(), 0, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maglev_keeps_each_user_on_one_backend() {
    let s = setup("maglev", false).await;
    let (shares, users) = tokio::time::timeout(Duration::from_secs(10), drive(s.lb.clone(), 4, 50))
        .await
        .expect("bounded in time");
    println!("maglev: {shares:?}");
    for (user, by) in &users {
        assert!(by.iter().all(|b| b == &by[0]), "user {user} moved: {by:?}");
    }
    assert!(
        shares.len() >= 3,
        "twenty users reach every backend: {shares:?}"
    );
    assert_eq!(s.mon.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_give_their_unit_back() {
    let s = setup("round_robin", false).await;
    let mut lb = s.lb.clone();
    let mut cancelled = 0;
    for user in 0..30 {
        let fut = lb.ready().await.unwrap().call(get(user));
        // the slow backend takes 15 ms: a 2 ms timeout drops its futures unfinished
        if tokio::time::timeout(Duration::from_millis(2), fut)
            .await
            .is_err()
        {
            cancelled += 1;
        }
    }
    assert!(cancelled >= 10, "{cancelled}");
    assert_eq!(s.mon.in_flight(), 0);
}

/// A backend killed mid-run loses no request that a retry on another backend can save.
#[cfg(feature = "retry")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_loses_no_request_with_retries_on_untried_backends() {
    use tinylb_tower::{AttemptsLayer, RetryUntried, attempts_in_extensions};
    use tower::retry::RetryLayer;

    for retries in [true, false] {
        let mut backends = [
            Some(backend("a", Kind::Fast).await),
            Some(backend("b", Kind::Fast).await),
            Some(backend("c", Kind::Fast).await),
        ];
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let list: Vec<Endpoint> = backends
            .iter()
            .flatten()
            .map(|b| tower::util::BoxCloneSyncService::new(endpoint(client.clone(), b.addr)))
            .collect();
        let lb: Balance<_, Request<Empty<Bytes>>, _, 8> =
            Balance::by_name(ServiceList::new(list), "round_robin")
                .unwrap()
                .config(Config::new().ejection(Ejection {
                    consecutive_failures: 2,
                    base_ms: 60_000,
                    max_ms: 60_000,
                    max_ejection_percent: 34,
                    ..Ejection::ENVOY
                }))
                .unwrap()
                .classify(|r| matches!(r, Ok(resp) if !resp.status().is_server_error()))
                .attempts(attempts_in_extensions::<Empty<Bytes>, 8>)
                .build();
        let mon = lb.monitor();
        let mut svc = tower::ServiceBuilder::new()
            .layer(AttemptsLayer::<8>::new())
            .option_layer(retries.then(|| RetryLayer::new(RetryUntried::new(2))))
            .service(lb);
        let mut shares: HashMap<&str, u32> = HashMap::new();
        let run = async {
            for i in 0..60 {
                if i == 15 {
                    backends[1] = None; // killed: its listener and connections
                }
                let r = svc.ready().await.unwrap().call(get(i)).await;
                *shares.entry(served_by(&r)).or_insert(0) += 1;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("bounded in time");
        println!("retries {retries}: {shares:?}");
        let b = mon.snapshot().into_iter().find(|s| s.key == 1).unwrap();
        assert!(b.info.ejected, "the killed backend is ejected: {b:?}");
        if retries {
            assert_eq!(shares.get("error"), None, "{shares:?}");
            assert_eq!(shares["a"] + shares["b"] + shares["c"], 60, "{shares:?}");
        } else {
            // the control: without retries, the requests the killed backend had fail
            assert!(shares.get("error").is_some_and(|&e| e >= 1), "{shares:?}");
        }
        assert_eq!(mon.in_flight(), 0);
    }
}
