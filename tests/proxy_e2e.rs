//! End-to-end test of the TCP reverse proxy in `examples/proxy/core.rs` (the same file the
//! `proxy` example runs, included here with `#[path]`): three real backend servers on
//! 127.0.0.1 (ephemeral ports) answer a one-line protocol after 1 ms, 5 ms and 50 ms; clients
//! send a bounded number of requests through the proxy, and the test checks that
//!
//! * every request is answered, through every strategy in `Strategy::NAMES`;
//! * shares follow the strategy: round robin equal, weighted round robin by weight, least
//!   connections and least time well below the slow backend's equal share;
//! * a dead backend loses no request: connects to it fail, are retried elsewhere, and it is
//!   marked down (and up again when it comes back); a backend killed while it holds requests
//!   loses none either when the proxy may replay them, whichever strategy picks;
//! * clients that connect and close without a byte (TCP health checks) mark nothing down and
//!   count no backend failure;
//! * the stats line is logged on every interval in which any counter changed (a probe
//!   marking a backend up with no client around too), and not while the proxy is idle;
//! * a connection closed for want of a backend logs one line with the reason (the pool at
//!   its cap, every backend tried, none up) and marks nothing down;
//! * every in-flight count is back to zero at the end.
//!
//! Loopback only, bounded in requests (a few hundred) and time (every client has a 5 s
//! timeout, every test a 20 s one); every server stops with its test's runtime.
#![cfg(not(any(target_arch = "wasm32", loom, miri)))]

#[path = "../examples/proxy/core.rs"]
mod proxy;

use core::net::SocketAddr;
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tinylb::{Health, Strategy};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use proxy::{MAX_BACKENDS, Options, Proxy};

/// Backend delays: a fast, a medium and a slow backend.
const DELAYS_MS: [u64; 3] = [1, 5, 50];
const NAMES: [&str; 3] = ["fast", "medium", "slow"];
/// Longest a single client request may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole test may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A backend server: answers `ping N\n` with `NAME ping N\n` after its delay, then closes.
struct Backend {
    addr: SocketAddr,
    /// Requests answered.
    served: Arc<AtomicUsize>,
    /// Requests read and not yet answered.
    active: Arc<AtomicUsize>,
    /// The accept loop; it owns every connection task, so aborting it kills them all.
    task: JoinHandle<()>,
}

impl Backend {
    async fn start(name: &'static str, delay_ms: u64) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener, name, delay_ms)
    }

    fn start_on(listener: TcpListener, name: &'static str, delay_ms: u64) -> Backend {
        let addr = listener.local_addr().expect("local addr");
        let served = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let (s, a) = (Arc::clone(&served), Arc::clone(&active));
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while conns.try_join_next().is_some() {}
                let (s, a) = (Arc::clone(&s), Arc::clone(&a));
                conns.spawn(async move {
                    let _ = answer(stream, name, delay_ms, &s, &a).await;
                });
            }
        });
        Backend {
            addr,
            served,
            active,
            task,
        }
    }

    /// Kills the server at once: its listener and every connection it holds are closed.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn answer(
    stream: TcpStream,
    name: &str,
    delay_ms: u64,
    served: &AtomicUsize,
    active: &AtomicUsize,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    let n = tokio::time::timeout(CLIENT_TIMEOUT, BufReader::new(r).read_line(&mut line))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)??;
    if n == 0 {
        return Ok(()); // a health probe: connected and closed
    }
    active.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    let res = w
        .write_all(format!("{name} {}\n", line.trim_end()).as_bytes())
        .await;
    active.fetch_sub(1, Ordering::SeqCst);
    served.fetch_add(1, Ordering::SeqCst);
    res
}

/// Three backends with [`DELAYS_MS`].
async fn backends() -> Vec<Backend> {
    let mut v = Vec::new();
    for (name, delay) in NAMES.into_iter().zip(DELAYS_MS) {
        v.push(Backend::start(name, delay).await);
    }
    v
}

/// A proxy in front of `backends` with these weights, serving on an ephemeral port.
async fn start_proxy(
    backends: &[Backend],
    weights: &[u32],
    strategy: &str,
    opts: Options,
) -> (Arc<Proxy>, SocketAddr) {
    let list: Vec<(SocketAddr, u32)> = backends
        .iter()
        .zip(weights)
        .map(|(b, &w)| (b.addr, w))
        .collect();
    let proxy = Proxy::new(&list, strategy, 7, opts).expect("a valid proxy");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(Arc::clone(&proxy).serve(listener));
    (proxy, addr)
}

fn quiet() -> Options {
    Options {
        log: false,
        ..Options::default()
    }
}

/// One request through the proxy: the name of the backend that answered it.
async fn request(proxy: SocketAddr, n: usize) -> Result<String, String> {
    let work = async {
        let mut s = TcpStream::connect(proxy)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(format!("ping {n}\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        BufReader::new(s)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let (name, echo) = line
            .trim_end()
            .split_once(' ')
            .ok_or_else(|| format!("no answer to request {n} (got {line:?})"))?;
        if echo != format!("ping {n}") {
            return Err(format!("request {n} got the answer {line:?}"));
        }
        Ok(name.to_string())
    };
    tokio::time::timeout(CLIENT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(format!("request {n} timed out")))
}

/// `total` requests from `clients` concurrent clients, each sending its next request when the
/// last is answered. Returns how many each backend answered; panics on any failed request.
async fn run_clients(proxy: SocketAddr, total: usize, clients: usize) -> HashMap<String, usize> {
    let next = Arc::new(AtomicUsize::new(0));
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for _ in 0..clients {
        let (next, counts, errors) = (Arc::clone(&next), Arc::clone(&counts), Arc::clone(&errors));
        set.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= total {
                    break;
                }
                match request(proxy, n).await {
                    Ok(name) => *counts.lock().expect("lock").entry(name).or_insert(0) += 1,
                    Err(e) => errors.lock().expect("lock").push(e),
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let errors = errors.lock().expect("lock");
    assert!(
        errors.is_empty(),
        "{} of {total} requests failed: {errors:?}",
        errors.len()
    );
    let counts = counts.lock().expect("lock").clone();
    assert_eq!(counts.values().sum::<usize>(), total, "{counts:?}");
    counts
}

/// Waits until every lease is given back (the proxy's tasks finish just after the client has
/// its answer), then checks every in-flight count is zero.
async fn assert_idle(proxy: &Proxy) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let busy: Vec<u32> = (0..MAX_BACKENDS)
            .map(|i| proxy.pool().in_flight_at(i))
            .collect();
        if busy.iter().all(|&f| f == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "in-flight counts not back to zero: {busy:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn count(counts: &HashMap<String, usize>, name: &str) -> usize {
    counts.get(name).copied().unwrap_or(0)
}

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test finishes within its time bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategy_answers_every_request() {
    bounded(async {
        let bs = backends().await;
        for name in Strategy::<MAX_BACKENDS>::NAMES {
            let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], name, quiet()).await;
            assert_eq!(proxy.strategy_name(), *name);
            let counts = run_clients(addr, 24, 4).await;
            eprintln!("{name}: {counts:?}");
            assert_idle(&proxy).await;
            let s = proxy.stats();
            assert_eq!(s.answered.load(Ordering::SeqCst), 24, "{name}: {counts:?}");
            assert_eq!(s.connect_failures.load(Ordering::SeqCst), 0, "{name}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_shares_are_equal() {
    bounded(async {
        let bs = backends().await;
        let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], "round_robin", quiet()).await;
        let counts = run_clients(addr, 60, 6).await;
        for name in NAMES {
            let c = count(&counts, name);
            assert!(c.abs_diff(20) <= 2, "{name}: {c} of 60, {counts:?}");
        }
        assert_idle(&proxy).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_honours_weights() {
    bounded(async {
        let bs = backends().await;
        let (proxy, addr) = start_proxy(&bs, &[3, 2, 1], "weighted_round_robin", quiet()).await;
        let counts = run_clients(addr, 60, 6).await;
        for (name, want) in NAMES.into_iter().zip([30usize, 20, 10]) {
            let c = count(&counts, name);
            assert!(
                c.abs_diff(want) <= 2,
                "{name}: {c} of 60, want {want}: {counts:?}"
            );
        }
        assert_idle(&proxy).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_aware_strategies_avoid_the_slow_backend() {
    bounded(async {
        let bs = backends().await;
        for strategy in ["least_conn", "least_time"] {
            let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], strategy, quiet()).await;
            let total = 90;
            let counts = run_clients(addr, total, 6).await;
            // equal share: 30 of 90; "clearly below" is under half of it
            eprintln!("{strategy}: {counts:?}");
            let slow = count(&counts, "slow");
            assert!(
                slow < total / 6,
                "{strategy}: the slow backend got {slow} of {total}: {counts:?}"
            );
            assert!(
                count(&counts, "fast") > count(&counts, "slow"),
                "{strategy}: {counts:?}"
            );
            assert_idle(&proxy).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_loses_no_request() {
    bounded(async {
        for strategy in ["round_robin", "least_conn"] {
            let mut bs = backends().await;
            let opts = Options {
                probe_every: Duration::from_millis(50),
                ..quiet()
            };
            let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], strategy, opts).await;
            run_clients(addr, 30, 3).await;
            assert_idle(&proxy).await;

            // kill the medium backend: every connect to it is refused from now on
            let medium = bs.remove(1);
            let medium_addr = medium.addr;
            medium.kill().await;
            let counts = run_clients(addr, 60, 6).await;
            assert_eq!(count(&counts, "medium"), 0, "{strategy}: {counts:?}");
            let s = proxy.stats();
            assert!(
                s.connect_failures.load(Ordering::SeqCst) >= 1,
                "{strategy}: no connect was refused"
            );
            assert_eq!(s.unanswered.load(Ordering::SeqCst), 0, "{strategy}");
            // three refusals in a row mark it down; the probe keeps it down while it refuses
            assert!(s.marked_down.load(Ordering::SeqCst) >= 1, "{strategy}");
            let medium_id = proxy.backends().nth(1).expect("three backends").id;
            assert_eq!(
                proxy
                    .pool()
                    .info(medium_id)
                    .expect("still in the pool")
                    .health,
                Health::Down,
                "{strategy}"
            );
            assert_idle(&proxy).await;

            // bring it back on the same port: the probe marks it up and it gets traffic again
            let Ok(listener) = TcpListener::bind(medium_addr).await else {
                eprintln!("{strategy}: {medium_addr} was taken meanwhile; skipping the return");
                continue;
            };
            let medium = Backend::start_on(listener, "medium", DELAYS_MS[1]);
            let deadline = Instant::now() + Duration::from_secs(3);
            while proxy.pool().info(medium_id).expect("in the pool").health != Health::Up {
                assert!(Instant::now() < deadline, "{strategy}: never marked up");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(proxy.stats().marked_up.load(Ordering::SeqCst) >= 1);
            let counts = run_clients(addr, 30, 3).await;
            assert!(count(&counts, "medium") > 0, "{strategy}: {counts:?}");
            assert!(medium.served.load(Ordering::SeqCst) > 0);
            assert_idle(&proxy).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_request_is_replayed_elsewhere() {
    bounded(async {
        for strategy in ["round_robin", "least_conn"] {
            let mut bs = backends().await;
            let opts = Options {
                replay_limit: 4096,
                ..quiet()
            };
            let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], strategy, opts).await;
            let clients = tokio::spawn(run_clients(addr, 90, 6));
            // kill the slow backend while it holds at least one request
            let slow = bs.remove(2);
            let deadline = Instant::now() + Duration::from_secs(5);
            while slow.active.load(Ordering::SeqCst) == 0 {
                assert!(
                    Instant::now() < deadline,
                    "{strategy}: the slow backend never got a request"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            slow.kill().await;
            // every request is answered (run_clients panics otherwise)
            let counts = clients.await.expect("no client failed");
            assert_eq!(counts.values().sum::<usize>(), 90, "{strategy}");
            let s = proxy.stats();
            assert!(
                s.replays.load(Ordering::SeqCst) >= 1,
                "{strategy}: the killed backend's requests were replayed"
            );
            assert_eq!(s.unanswered.load(Ordering::SeqCst), 0, "{strategy}");
            assert_eq!(s.no_backend.load(Ordering::SeqCst), 0, "{strategy}");
            // a request the dead backend dropped is a failure to retry, not a silent client
            assert_eq!(s.silent.load(Ordering::SeqCst), 0, "{strategy}");
            assert_idle(&proxy).await;
        }
    })
    .await;
}

/// Waits until `done` holds, for at most 3 s; `what` names it in the failure.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Asserts every backend is up with no failure streak.
fn assert_all_up(proxy: &Proxy, context: &str) {
    for b in proxy.backends() {
        let info = proxy.pool().info(b.id).expect("in the pool");
        assert_eq!(info.health, Health::Up, "{context}: {}", b.addr);
        assert_eq!(info.failure_streak, 0, "{context}: {}", b.addr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_mark_nothing_down() {
    bounded(async {
        let bs = backends().await;
        for strategy in ["round_robin", "least_conn"] {
            // down after 3 failures: before the fix, three silent clients took the pool out
            let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], strategy, quiet()).await;
            let n = 12;
            for i in 0..n {
                // a TCP health check: connect, then close without a byte; a few at once
                let mut checks = JoinSet::new();
                for _ in 0..=i % 3 {
                    checks.spawn(async move { drop(TcpStream::connect(addr).await) });
                }
                while checks.join_next().await.is_some() {}
            }
            let total = (0..n).map(|i| i % 3 + 1).sum::<u64>();
            let s = proxy.stats();
            eventually(&format!("{strategy}: {total} connections accepted"), || {
                s.accepted.load(Ordering::SeqCst) == total
            })
            .await;
            assert_idle(&proxy).await;
            assert_eq!(s.connect_failures.load(Ordering::SeqCst), 0, "{strategy}");
            assert_eq!(s.marked_down.load(Ordering::SeqCst), 0, "{strategy}");
            assert_eq!(s.replays.load(Ordering::SeqCst), 0, "{strategy}");
            assert_all_up(&proxy, strategy);
            eventually(&format!("{strategy}: {total} silent clients seen"), || {
                s.silent.load(Ordering::SeqCst) == total
            })
            .await;
            assert_eq!(s.unanswered.load(Ordering::SeqCst), 0, "{strategy}");
            // and normal requests still reach every backend
            let counts = run_clients(addr, 30, 3).await;
            for name in NAMES {
                assert!(count(&counts, name) > 0, "{strategy}: {counts:?}");
            }
            assert_all_up(&proxy, strategy);
            assert_idle(&proxy).await;
        }
    })
    .await;
}

/// The stats lines logged so far.
fn stats_lines(proxy: &Proxy) -> Vec<String> {
    let mut lines = proxy.recent_log();
    lines.retain(|l| l.starts_with("stats: "));
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_line_reports_any_change() {
    bounded(async {
        let bs = backends().await;
        let every = Duration::from_millis(20);
        let opts = Options {
            stats_every: Some(every),
            probe_every: every,
            ..quiet()
        };
        let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], "round_robin", opts).await;
        // nothing happened: nothing is logged
        tokio::time::sleep(every * 4).await;
        assert_eq!(stats_lines(&proxy), Vec::<String>::new());

        run_clients(addr, 6, 2).await;
        eventually("a stats line with the 6 answers", || {
            stats_lines(&proxy)
                .last()
                .is_some_and(|l| l.starts_with("stats: 6 connections, 6 answered,"))
        })
        .await;
        // idle again: no line on the next intervals
        let before = stats_lines(&proxy);
        tokio::time::sleep(every * 5).await;
        assert_eq!(
            stats_lines(&proxy),
            before,
            "an idle proxy logs no stats line"
        );

        // a change with no connection accepted: a backend marked down, then up by the probe
        let medium = proxy.backends().nth(1).expect("three backends").id;
        proxy
            .pool()
            .set_health(medium, Health::Down)
            .expect("in the pool");
        eventually("the probe marks the backend up", || {
            proxy.stats().marked_up.load(Ordering::SeqCst) == 1
        })
        .await;
        eventually("a stats line with the backend marked up", || {
            stats_lines(&proxy).last().is_some_and(|l| {
                l.starts_with("stats: 6 connections,") && l.ends_with(", 1 marked up")
            })
        })
        .await;
        assert_eq!(stats_lines(&proxy).len(), before.len() + 1);
        assert_idle(&proxy).await;
    })
    .await;
}

/// The log lines about connections closed for want of a backend.
fn no_backend_lines(proxy: &Proxy) -> Vec<String> {
    let mut lines = proxy.recent_log();
    lines.retain(|l| l.contains("closed unanswered, no backend: "));
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_backend_is_logged() {
    bounded(async {
        // the pool at its cap: the connection is shed, and no backend is blamed
        let bs = backends().await;
        let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], "round_robin", quiet()).await;
        proxy.pool().set_max_in_flight(NonZeroU32::new(1));
        let holder = TcpStream::connect(addr).await.expect("connect");
        eventually("the first client holds the pool's one unit", || {
            proxy.pool().pooled_in_flight() == 1
        })
        .await;
        let err = request(addr, 0).await.expect_err("no backend to answer");
        let s = proxy.stats();
        eventually(
            "the connection closed for want of a backend is counted",
            || s.no_backend.load(Ordering::SeqCst) == 1,
        )
        .await;
        let lines = no_backend_lines(&proxy);
        assert_eq!(lines.len(), 1, "{lines:?} ({err})");
        assert!(
            lines[0].ends_with("no backend: the pool is at its in-flight cap: shed"),
            "{lines:?}"
        );
        assert_eq!(s.unanswered.load(Ordering::SeqCst), 1);
        assert_eq!(s.connect_failures.load(Ordering::SeqCst), 0);
        assert_eq!(s.marked_down.load(Ordering::SeqCst), 0);
        assert_all_up(&proxy, "pool saturated");
        drop(holder);
        proxy.pool().set_max_in_flight(None);
        run_clients(addr, 6, 2).await;
        assert_idle(&proxy).await;

        // every backend down: "no backend is up"
        let down = Options {
            down_after: 0,
            ..quiet()
        };
        let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], "least_conn", down.clone()).await;
        for b in proxy.backends() {
            proxy
                .pool()
                .set_health(b.id, Health::Down)
                .expect("in the pool");
        }
        request(addr, 1).await.expect_err("no backend is up");
        eventually("the connection with every backend down is counted", || {
            proxy.stats().no_backend.load(Ordering::SeqCst) == 1
        })
        .await;
        let lines = no_backend_lines(&proxy);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].ends_with("no backend: no backend is up"),
            "{lines:?}"
        );

        // every backend dead (and never marked down): each is tried once, then "every
        // backend was tried"
        let (proxy, addr) = start_proxy(&bs, &[1, 1, 1], "p2c", down).await;
        for b in bs {
            b.kill().await;
        }
        request(addr, 2).await.expect_err("every backend refuses");
        let s = proxy.stats();
        eventually("the connection with every backend tried is counted", || {
            s.no_backend.load(Ordering::SeqCst) == 1
        })
        .await;
        let lines = no_backend_lines(&proxy);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].ends_with("no backend: every backend was tried (3 of them)"),
            "{lines:?}"
        );
        assert_eq!(s.connect_failures.load(Ordering::SeqCst), 3);
        assert_idle(&proxy).await;
    })
    .await;
}

#[test]
fn backend_arguments_parse() {
    let (addr, w) = proxy::parse_backend("127.0.0.1:9001=3").expect("valid");
    assert_eq!((addr.port(), w), (9001, 3));
    let (addr, w) = proxy::parse_backend("[::1]:9002").expect("valid");
    assert_eq!((addr.port(), w), (9002, 1));
    assert!(proxy::parse_backend("localhost:80").is_err());
    assert!(proxy::parse_backend("127.0.0.1:80=x").is_err());
    let err = Proxy::new(&[(addr, 1)], "fastest", 0, quiet()).expect_err("unknown strategy");
    assert!(err.contains("round_robin"), "{err}");
}
