//! A real TCP reverse proxy on tokio, picking a backend per client connection with any of
//! tinylb's strategies by name.
//!
//! ```text
//! cargo run --example proxy -- --listen 127.0.0.1:8080 --strategy least_conn \
//!     127.0.0.1:9001=3 127.0.0.1:9002=1 127.0.0.1:9003
//!
//!   BACKEND[=WEIGHT]     a backend address and its weight (default 1), one or more
//!   --listen ADDR        where clients connect                         (default 127.0.0.1:8080)
//!   --strategy NAME      any name Strategy::from_name knows            (default round_robin)
//!   --seed N             seed of the strategy's random draws           (default 0)
//!   --down-after K       mark a backend down after K consecutive failures, probe it every
//!                        second and mark it up when it accepts again; 0 = never (default 3)
//!   --connect-timeout-ms connect timeout per attempt                   (default 1000)
//!   --replay-bytes N     when a backend closes before answering, retry the connection on
//!                        another backend if at most N request bytes were sent (HAProxy's
//!                        retry-on empty-response; idempotent protocols only) (default 0)
//! ```
//!
//! The pool lives in an `Arc<Pool<64>>`; every client connection takes a `Lease` in the
//! accept loop and moves it into its task. A failed connect is reported with
//! `Outcome::failure` and retried with the library's retry step, `SelectExt::lease_untried`,
//! which leaves out the backends in the connection's `Tried` set (at most one attempt per
//! backend); when no backend is left the connection is closed and the `NoBackend` reason
//! logged. When the connection ends its duration is reported with `Outcome::success`, which
//! feeds `least_time`'s latency estimate; a client that closes without sending a byte (a TCP
//! health check) blames no backend. A line of counters is printed every 10 s when one of them
//! changed. The proxy's logic is in `examples/proxy/core.rs`, which `tests/proxy_e2e.rs`
//! includes too, so the end-to-end test runs exactly this code.

#[cfg(not(any(target_arch = "wasm32", loom, miri)))]
#[path = "proxy/core.rs"]
mod proxy;

#[cfg(not(any(target_arch = "wasm32", loom, miri)))]
#[tokio::main]
async fn main() {
    use core::time::Duration;

    let usage = |msg: &str| -> ! {
        eprintln!("proxy: {msg}");
        eprintln!(
            "usage: proxy [--listen ADDR] [--strategy NAME] [--seed N] [--down-after K] \
             [--connect-timeout-ms MS] [--replay-bytes N] BACKEND[=WEIGHT]..."
        );
        std::process::exit(2)
    };
    let mut listen = "127.0.0.1:8080".to_string();
    let mut strategy = "round_robin".to_string();
    let mut seed = 0u64;
    let mut opts = proxy::Options::default();
    let mut backends = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            backends.push(proxy::parse_backend(&arg).unwrap_or_else(|e| usage(&e)));
            continue;
        }
        if arg == "--help" {
            usage("a TCP reverse proxy picking backends with tinylb");
        }
        let val = args
            .next()
            .unwrap_or_else(|| usage(&format!("{arg} needs a value")));
        let num = |v: &str| {
            v.parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{arg}: {v:?} is not a number")))
        };
        match arg.as_str() {
            "--listen" => listen = val,
            "--strategy" => strategy = val,
            "--seed" => seed = num(&val),
            "--down-after" => opts.down_after = u32::try_from(num(&val)).unwrap_or(u32::MAX),
            "--connect-timeout-ms" => opts.connect_timeout = Duration::from_millis(num(&val)),
            "--replay-bytes" => opts.replay_limit = usize::try_from(num(&val)).unwrap_or(0),
            _ => usage(&format!("unknown option {arg}")),
        }
    }
    let proxy = proxy::Proxy::new(&backends, &strategy, seed, opts).unwrap_or_else(|e| usage(&e));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| usage(&format!("cannot listen on {listen}: {e}")));
    eprintln!(
        "proxy: listening on {listen}, strategy {}, backends:",
        proxy.strategy_name()
    );
    for b in proxy.backends() {
        let weight = proxy.pool().info(b.id).map_or(0, |i| i.weight);
        eprintln!("  {} (weight {weight})", b.addr);
    }
    if let Err(e) = proxy.serve(listener).await {
        eprintln!("proxy: {e}");
        std::process::exit(1);
    }
}

/// tokio does not build for this target (WASM, loom, miri): the proxy is not available here.
#[cfg(any(target_arch = "wasm32", loom, miri))]
fn main() {
    eprintln!("the proxy example needs tokio and sockets, which this target does not have");
}
