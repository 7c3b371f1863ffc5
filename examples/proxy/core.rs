//! The TCP reverse proxy's core, shared by `examples/proxy.rs` (which adds the command line)
//! and `tests/proxy_e2e.rs` (which runs it against real backends on loopback): both include
//! this file with `#[path]`, so the test exercises exactly the code the example runs.
//!
//! One client connection is one [`Lease`]: picked in the accept loop, moved into the
//! connection's task, finished when the connection ends. Between the two:
//!
//! 1. **Connect**, retrying on another backend when a connect fails (refused, unreachable,
//!    timed out): the failed attempt is reported with [`Outcome::failure`], and the retry is
//!    the library's: every attempt is [`SelectExt::lease_untried`], which excludes the
//!    connection's [`Tried`] set from the pick (so each strategy skips the backends already
//!    tried in its own way, without re-rolling its schedule) and adds the backend it leases.
//!    So at most one attempt per backend in the pool is made.
//! 2. **Forward until the first response byte.** If the backend closes or resets before
//!    answering, the connection is retried on another backend only when that is safe: when
//!    no request byte was sent yet, or, with [`Options::replay_limit`] above zero, when every
//!    byte sent so far fits in the replay buffer (HAProxy's `retry-on empty-response`; use it
//!    only for idempotent protocols). A client that closes without sending a byte (a TCP
//!    health check) is not a backend's fault: its lease is given back without an outcome.
//! 3. **Copy both ways** until both sides are done, then report the connection's duration with
//!    [`Outcome::success`] (or a failure if reading from the backend failed). For
//!    connection-per-request protocols that duration is the response time `least_time` wants;
//!    for long-lived connections report the time to first byte instead.
//!
//! When a pick finds no backend the connection is closed and one line logs the
//! [`NoBackend`] reason: [`NoBackend::Excluded`] means every backend was tried;
//! [`NoBackend::Saturated`] and [`NoBackend::PoolSaturated`] are load being shed, not a
//! backend failing, and mark nothing down. The proxy keeps no session of its own, so it
//! prefers no backend ([`Request::prefer`]): hashing strategies keep a client on its backend
//! through the request's key (the client's IP address).
//!
//! **Marking down.** After [`Options::down_after`] consecutive failures reported on a backend
//! (the pool's `failure_streak`), it is marked [`Health::Down`]; a probe task tries to connect
//! to every backend marked down once per [`Options::probe_every`] and marks it up again on
//! success. Its failure streak stays until a request succeeds, so a backend that is up but
//! still refusing goes down again at its next failure (a half-open state).
//!
//! **One strategy per worker thread.** The pool is shared; the strategy is not: the proxy
//! builds one instance per runtime worker thread (seeded `seed + worker`, so round robin
//! and WRR start one step apart and the random streams differ), and a pick uses the instance
//! of the thread it runs on, as Envoy gives every worker its own load balancer. So picks on
//! different cores share no strategy word (no round-robin cursor, WRR ticket or random
//! stream bounces between them), and a lease writes only its backend's own line in the pool.
//! Each instance keeps its own promise: with round robin, each worker's picks rotate; with
//! WRR, each worker's picks are nginx's sequence (see `WeightedRoundRobin`'s docs).
//!
//! **Stats.** Every [`Options::stats_every`], a line of counters is logged if any counter
//! changed since the last line (none is logged while the proxy is idle).

use core::cell::OnceCell;
use core::net::{IpAddr, SocketAddr};
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering;
use core::time::Duration;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use tinylb::{
    BackendId, Health, Lease, NoBackend, Outcome, Pool, Request, SelectExt, Strategy, Tried,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "stats.rs"]
mod stats;
pub(crate) use stats::{Log, Snapshot, Stats, no_backend_line};

/// Most backends one proxy can have.
pub(crate) const MAX_BACKENDS: usize = 64;

/// The pool as the proxy shares it: one `Arc`, cloned into every lease.
pub(crate) type SharedPool = Arc<Pool<MAX_BACKENDS>>;
/// A lease that can move into a spawned task.
pub(crate) type ConnLease = Lease<SharedPool, MAX_BACKENDS>;
/// The backends one client connection has tried.
pub(crate) type ConnTried = Tried<MAX_BACKENDS>;

/// Tuning knobs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// How long one connect attempt may take before it counts as failed.
    pub(crate) connect_timeout: Duration,
    /// Consecutive failures after which a backend is marked down; `0` never marks one down.
    pub(crate) down_after: u32,
    /// How often backends marked down are probed (one TCP connect each).
    pub(crate) probe_every: Duration,
    /// Request bytes kept for a retry when a backend closes before answering; `0` retries
    /// only connections that sent nothing yet.
    pub(crate) replay_limit: usize,
    /// How often the stats line is logged (when a counter changed); `None` never.
    pub(crate) stats_every: Option<Duration>,
    /// Print log lines (connect failures, health changes, connections closed for want of a
    /// backend, stats) on stderr; the last ones are kept in memory either way.
    pub(crate) log: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(1),
            down_after: 3,
            probe_every: Duration::from_secs(1),
            replay_limit: 0,
            stats_every: Some(Duration::from_secs(10)),
            log: true,
        }
    }
}

/// One backend: where it is and who it is in the pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backend {
    /// Its address.
    pub(crate) addr: SocketAddr,
    /// Its id in the pool.
    pub(crate) id: BackendId,
}

/// The proxy: a pool, a strategy per worker thread, the backends' addresses and the clock
/// leases report in.
#[derive(Debug)]
pub(crate) struct Proxy {
    pool: SharedPool,
    /// Worker 0's strategy instance ([`Proxy::strategy`] finds the calling thread's).
    first: Strategy<MAX_BACKENDS>,
    /// The instances of workers 1 and up.
    others: Vec<Strategy<MAX_BACKENDS>>,
    /// Indexed by pool slot.
    backends: Vec<Option<Backend>>,
    epoch: Instant,
    opts: Options,
    stats: Stats,
    log: Log,
}

/// Parses `ADDR[=WEIGHT]` (weight 1 when omitted).
pub(crate) fn parse_backend(arg: &str) -> Result<(SocketAddr, u32), String> {
    let (addr, weight) = match arg.rsplit_once('=') {
        Some((a, w)) => (
            a,
            w.parse::<u32>()
                .map_err(|_| format!("bad weight in {arg:?}"))?,
        ),
        None => (arg, 1),
    };
    let addr = addr
        .parse::<SocketAddr>()
        .map_err(|_| format!("bad address in {arg:?} (expected IP:PORT)"))?;
    Ok((addr, weight))
}

/// The affinity key of a client: its IP address, so hashing strategies keep a client on one
/// backend.
fn client_key(peer: SocketAddr) -> u64 {
    match peer.ip() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            (x as u64) ^ ((x >> 64) as u64)
        }
    }
}

/// What happened before the backend's first response byte.
enum First {
    /// The backend answered: these many bytes of `buf` are its first.
    Answer(usize),
    /// The backend closed or failed before answering.
    Empty,
    /// The client failed before the backend answered.
    ClientGone,
}

/// The client's side of a connection before the first answer.
#[derive(Default)]
struct Upstream {
    /// The bytes sent so far, while they fit in the replay limit.
    replay: Vec<u8>,
    /// `false` once more was sent than the replay buffer holds.
    too_long: bool,
    /// Request bytes the client sent.
    sent: usize,
    /// The client has closed its sending side.
    eof: bool,
}

impl Proxy {
    /// A proxy over `backends` (`(address, weight)`) picking with the strategy `name`.
    pub(crate) fn new(
        backends: &[(SocketAddr, u32)],
        strategy: &str,
        seed: u64,
        opts: Options,
    ) -> Result<Arc<Self>, String> {
        // as many as the runtime has worker threads (tokio's default is one per core)
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut others = (0..workers as u64)
            .map(|w| Strategy::<MAX_BACKENDS>::from_name(strategy, seed.wrapping_add(w)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                let known = Strategy::<MAX_BACKENDS>::NAMES.join(", ");
                format!("unknown strategy {strategy:?} (known: {known})")
            })?;
        // at least one: `workers` is 1 or more
        let first = others.remove(0);
        if backends.is_empty() {
            return Err("no backend given".into());
        }
        let pool: SharedPool = Arc::new(Pool::new());
        let mut slots = vec![None; MAX_BACKENDS];
        for &(addr, weight) in backends {
            let id = pool
                .add(weight)
                .map_err(|e| format!("backend {addr} (weight {weight}): {e}"))?;
            if let Some(slot) = slots.get_mut(id.index()) {
                *slot = Some(Backend { addr, id });
            }
        }
        Ok(Arc::new(Proxy {
            pool,
            first,
            others,
            backends: slots,
            epoch: Instant::now(),
            log: Log::new(opts.log),
            opts,
            stats: Stats::default(),
        }))
    }

    /// The pool (for in-flight counts and health).
    pub(crate) fn pool(&self) -> &Pool<MAX_BACKENDS> {
        &self.pool
    }

    /// The counters.
    #[allow(dead_code, reason = "read by tests/proxy_e2e.rs, not by the example")]
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The last lines logged, oldest first (whether or not they were printed).
    #[allow(dead_code, reason = "read by tests/proxy_e2e.rs, not by the example")]
    pub(crate) fn recent_log(&self) -> Vec<String> {
        self.log.recent()
    }

    /// The backends, in pool slot order.
    pub(crate) fn backends(&self) -> impl Iterator<Item = Backend> + '_ {
        self.backends.iter().flatten().copied()
    }

    /// The strategy's canonical name.
    pub(crate) fn strategy_name(&self) -> &'static str {
        self.strategy().name()
    }

    /// The calling thread's strategy: threads are numbered in the order they first pick,
    /// and thread `k` takes instance `k mod workers` (more threads than instances, as
    /// with blocking threads, share an instance: still correct, only shared).
    fn strategy(&self) -> &Strategy<MAX_BACKENDS> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static WORKER: OnceCell<usize> = const { OnceCell::new() };
        }
        let k = WORKER.with(|w| *w.get_or_init(|| NEXT.fetch_add(1, Ordering::Relaxed)));
        match k % (self.others.len() + 1) {
            0 => &self.first,
            i => self.others.get(i - 1).unwrap_or(&self.first),
        }
    }

    /// The clock leases report in: microseconds since the proxy started.
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn backend(&self, index: usize) -> Option<Backend> {
        self.backends.get(index).copied().flatten()
    }

    /// One attempt for a client with affinity `key`: a lease on a backend not in `tried`,
    /// added to it.
    fn lease_untried(&self, key: u64, tried: &mut ConnTried) -> Result<ConnLease, NoBackend> {
        let mut req = Request::new().with_key(key).with_now_us(self.now_us());
        self.strategy()
            .lease_untried(Arc::clone(&self.pool), &mut req, tried)
    }

    /// Accepts clients forever: a lease per connection, picked here and moved into the
    /// connection's task. Also runs the probe task that marks backends up again, and the
    /// stats line's.
    pub(crate) async fn serve(self: Arc<Self>, listener: TcpListener) -> io::Result<()> {
        if self.opts.down_after > 0 {
            tokio::spawn(Arc::clone(&self).probe());
        }
        if let Some(every) = self.opts.stats_every {
            tokio::spawn(Arc::clone(&self).report(every));
        }
        loop {
            let (client, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors and the like: wait a little and go on
                    self.log.line(format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            let key = client_key(peer);
            let mut tried = ConnTried::new();
            let first = self.lease_untried(key, &mut tried);
            let me = Arc::clone(&self);
            tokio::spawn(async move { me.handle(client, peer, tried, first).await });
        }
    }

    /// Forwards one client connection; `first` is the accept loop's pick, already in `tried`.
    pub(crate) async fn handle(
        &self,
        mut client: TcpStream,
        peer: SocketAddr,
        mut tried: ConnTried,
        first: Result<ConnLease, NoBackend>,
    ) {
        let _ = client.set_nodelay(true);
        let key = client_key(peer);
        let mut next = Some(first);
        let mut up = Upstream::default();
        let mut buf = vec![0u8; 16 * 1024];
        // every pass leases one more backend into `tried`, so this ends within the pool's size
        for _ in 0..=MAX_BACKENDS {
            let (lease, mut backend, t0) = match self.connect(&mut tried, next.take(), key).await {
                Ok(c) => c,
                Err(why) => {
                    self.stats.no_backend.fetch_add(1, Ordering::Relaxed);
                    self.log.line(no_backend_line(peer, why, tried.len()));
                    break;
                }
            };
            let first = self
                .until_first_byte(&mut client, &mut backend, &mut buf, &mut up)
                .await;
            match first {
                First::Answer(n) => {
                    let answer = buf.get(..n).unwrap_or_default();
                    let ok = client.write_all(answer).await.is_ok()
                        && copy_rest(&mut client, &mut backend, up.eof).await;
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                    let now = self.now_us();
                    let took = duration_us(t0);
                    lease.finish(if ok {
                        Outcome::success_after(Duration::from_micros(took)).at_us(now)
                    } else {
                        Outcome::failure_after(Duration::from_micros(took)).at_us(now)
                    });
                    return;
                }
                First::ClientGone => return, // the lease goes back without a sample
                First::Empty if up.eof && up.sent == 0 => {
                    // The client closed without sending a byte (a TCP health check, a port
                    // scan) and the backend then closed too, as it should: no backend failed
                    // and there is nothing to retry. The lease goes back without an outcome:
                    // a failure would mark healthy backends down (a health checker in front
                    // of the proxy would take the whole pool out), and a success would reset
                    // the failure streak of a backend that fails real requests and give
                    // `least_time` a latency sample of no request.
                    drop(lease);
                    self.stats.silent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                First::Empty => {
                    let i = lease.index();
                    lease.finish(
                        Outcome::failure_after(Duration::from_micros(duration_us(t0)))
                            .at_us(self.now_us()),
                    );
                    self.after_failure(i);
                    if up.too_long {
                        break;
                    }
                    self.stats.replays.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats.unanswered.fetch_add(1, Ordering::Relaxed);
    }

    /// A connected backend not tried yet by this connection, with its lease and the time the
    /// attempt started (`first` is the accept loop's lease on the first pass); the pick's
    /// reason when no backend is left to try.
    async fn connect(
        &self,
        tried: &mut ConnTried,
        first: Option<Result<ConnLease, NoBackend>>,
        key: u64,
    ) -> Result<(ConnLease, TcpStream, Instant), NoBackend> {
        let mut next = first;
        // every pass leases one more backend into `tried`: the last one ends in `Excluded`
        for _ in 0..=MAX_BACKENDS {
            let lease = match next.take() {
                Some(l) => l?,
                None => self.lease_untried(key, tried)?,
            };
            let Some(backend) = self.backend(lease.index()) else {
                continue; // not one of ours (cannot happen): it stays tried
            };
            let t0 = Instant::now();
            let res =
                tokio::time::timeout(self.opts.connect_timeout, TcpStream::connect(backend.addr))
                    .await;
            match res {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((lease, stream, t0));
                }
                Ok(Err(e)) => self.connect_failed(lease, backend, t0, &e.to_string()),
                Err(_) => self.connect_failed(lease, backend, t0, "timed out"),
            }
        }
        Err(NoBackend::Excluded)
    }

    fn connect_failed(&self, lease: ConnLease, backend: Backend, t0: Instant, why: &str) {
        self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
        self.log
            .line(format!("connect to {} failed: {why}", backend.addr));
        let i = lease.index();
        lease.finish(
            Outcome::failure_after(Duration::from_micros(duration_us(t0))).at_us(self.now_us()),
        );
        self.after_failure(i);
    }

    /// Marks the backend at `index` down once its failure streak reaches the threshold.
    fn after_failure(&self, index: usize) {
        let Some(b) = self.backend(index) else {
            return;
        };
        if self.opts.down_after == 0 {
            return;
        }
        let Ok(info) = self.pool.info(b.id) else {
            return;
        };
        if info.health == Health::Up
            && info.failure_streak >= self.opts.down_after
            && self.pool.set_health(b.id, Health::Down).is_ok()
        {
            self.stats.marked_down.fetch_add(1, Ordering::Relaxed);
            self.log.line(format!(
                "{} marked down after {} consecutive failures",
                b.addr, info.failure_streak
            ));
        }
    }

    /// Forwards client bytes until the backend's first byte, keeping them for a replay while
    /// they fit.
    async fn until_first_byte(
        &self,
        client: &mut TcpStream,
        backend: &mut TcpStream,
        buf: &mut [u8],
        up: &mut Upstream,
    ) -> First {
        // a retry first sends what the previous backend got
        if !up.replay.is_empty() && backend.write_all(&up.replay).await.is_err() {
            return First::Empty;
        }
        if up.eof {
            let _ = backend.shutdown().await;
        }
        let mut cbuf = [0u8; 4096];
        loop {
            tokio::select! {
                r = backend.read(buf) => return match r {
                    Ok(0) | Err(_) => First::Empty,
                    Ok(n) => First::Answer(n),
                },
                r = client.read(&mut cbuf), if !up.eof => match r {
                    Ok(0) => {
                        up.eof = true;
                        let _ = backend.shutdown().await;
                    }
                    Ok(n) => {
                        let bytes = cbuf.get(..n).unwrap_or_default();
                        up.sent += n;
                        if !up.too_long {
                            if up.sent <= self.opts.replay_limit {
                                up.replay.extend_from_slice(bytes);
                            } else {
                                up.too_long = true;
                                up.replay = Vec::new();
                            }
                        }
                        if backend.write_all(bytes).await.is_err() {
                            return First::Empty;
                        }
                    }
                    Err(_) => return First::ClientGone,
                },
            }
        }
    }

    /// Tries every backend marked down, once per `probe_every`, and marks it up when a TCP
    /// connect succeeds.
    async fn probe(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.opts.probe_every).await;
            for b in self.backends() {
                let down = self
                    .pool
                    .info(b.id)
                    .is_ok_and(|info| info.health == Health::Down);
                if !down {
                    continue;
                }
                let res =
                    tokio::time::timeout(self.opts.connect_timeout, TcpStream::connect(b.addr))
                        .await;
                if matches!(res, Ok(Ok(_))) && self.pool.set_health(b.id, Health::Up).is_ok() {
                    self.stats.marked_up.fetch_add(1, Ordering::Relaxed);
                    self.log
                        .line(format!("{} answers again: marked up", b.addr));
                }
            }
        }
    }

    /// Logs the stats line every `every` when any counter changed since the last line (so an
    /// idle proxy stays quiet, and a probe marking a backend up with no client around is
    /// still reported).
    async fn report(self: Arc<Self>, every: Duration) {
        let mut last = Snapshot::default();
        loop {
            tokio::time::sleep(every).await;
            let now = self.stats.snapshot();
            if now != last {
                self.log.line(now.line());
                last = now;
            }
        }
    }
}

/// Copies both ways until both sides are done; `false` if reading from the backend failed.
async fn copy_rest(client: &mut TcpStream, backend: &mut TcpStream, client_eof: bool) -> bool {
    let (mut cr, mut cw) = client.split();
    let (mut br, mut bw) = backend.split();
    let up = async {
        if !client_eof {
            let _ = tokio::io::copy(&mut cr, &mut bw).await;
            let _ = bw.shutdown().await;
        }
    };
    let down = async {
        let ok = tokio::io::copy(&mut br, &mut cw).await.is_ok();
        let _ = cw.shutdown().await;
        ok
    };
    let ((), ok) = tokio::join!(up, down);
    ok
}

fn duration_us(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX)
}
