//! A hyper client balancing over three loopback HTTP servers with any tinylb strategy: the
//! shape a tonic or axum user copies. Endpoints come from a discovery channel (here filled
//! once; in a real proxy, from DNS, Consul or Kubernetes), requests are keyed by a header
//! (for `maglev`), 5xx answers count as failures (for outlier ejection), and a monitor task
//! prints each backend's state.
//!
//! Run: `cargo run -p tinylb-tower --example hyper_client -- maglev` (or `p2c`,
//! `peak_ewma`, `least_conn`, `round_robin`, ...).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tinylb::{Config, Ejection};
use tinylb_tower::{Balance, BoxError};
use tower::discover::Change;
use tower::{Service, ServiceExt};

/// A server on loopback that answers with its name after `delay`.
async fn server(name: &'static str, delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = hyper::service::service_fn(move |_req: Request<Incoming>| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(name))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

/// A discovery stream fed through a channel.
struct Discovery<S>(tokio::sync::mpsc::UnboundedReceiver<Change<SocketAddr, S>>);

impl<S> futures_core::Stream for Discovery<S> {
    type Item = Result<Change<SocketAddr, S>, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|c| c.map(Ok))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let strategy = std::env::args().nth(1).unwrap_or_else(|| "p2c".into());
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    // one endpoint service per backend: the shared client, aimed at that backend
    let endpoint = |addr: SocketAddr| {
        let client = client.clone();
        tower::service_fn(move |mut req: Request<Empty<Bytes>>| {
            let client = client.clone();
            *req.uri_mut() = format!("http://{addr}{}", req.uri().path())
                .parse()
                .unwrap();
            async move { client.request(req).await }
        })
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for (name, ms) in [("a", 1), ("b", 1), ("c", 10)] {
        let addr = server(name, Duration::from_millis(ms)).await;
        tx.send(Change::Insert(addr, endpoint(addr)))?;
    }

    let lb: Balance<_, Request<Empty<Bytes>>, _, 16> = Balance::by_name(Discovery(rx), &strategy)?
        .config(Config::new().ejection(Ejection::ENVOY))?
        .key(|req: &Request<Empty<Bytes>>| {
            req.headers().get("x-user").map(|v| tinylb::hash::hash_bytes(v.as_bytes()))
        })
        .classify(|r: Result<&Response<Incoming>, _>| {
            matches!(r, Ok(resp) if !resp.status().is_server_error())
        })
        .build();

    let monitor = lb.monitor();
    let mut tasks = Vec::new();
    for t in 0..4 {
        // one clone per task: they share the pool's counters
        let mut lb = lb.clone();
        tasks.push(tokio::spawn(async move {
            let mut by = std::collections::BTreeMap::<String, u32>::new();
            for i in 0..50 {
                let req = Request::builder()
                    .uri("/")
                    .header("x-user", format!("user-{}", (t * 50 + i) % 10))
                    .body(Empty::new())
                    .unwrap();
                let resp = lb.ready().await?.call(req).await?;
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await?
                    .to_bytes();
                *by.entry(String::from_utf8_lossy(&body).into_owned())
                    .or_default() += 1;
            }
            Ok::<_, BoxError>(by)
        }));
    }
    let mut total = std::collections::BTreeMap::<String, u32>::new();
    for t in tasks {
        for (k, v) in t.await?? {
            *total.entry(k).or_default() += v;
        }
    }
    println!("{strategy}: requests per backend {total:?}");
    for s in monitor.snapshot() {
        println!(
            "  {}: in flight {}, latency {:?} us, ejected {}",
            s.key, s.info.in_flight, s.info.latency_us, s.info.ejected
        );
    }
    drop(tx);
    Ok(())
}
