//! The proxy's counters, the stats line made of them, and its log (stderr, plus the last
//! lines kept in memory so the end-to-end test can read what the proxy said).

use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tinylb::NoBackend;

/// Counters, for logs and tests.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Client connections accepted.
    pub(crate) accepted: AtomicU64,
    /// Client connections forwarded to a backend that answered.
    pub(crate) answered: AtomicU64,
    /// Client connections closed unanswered: no backend could take them
    /// ([`Stats::no_backend`]), or a backend closed before answering and a retry was not safe.
    pub(crate) unanswered: AtomicU64,
    /// Of the unanswered, those closed because a pick found no backend (the reason is logged).
    pub(crate) no_backend: AtomicU64,
    /// Client connections that closed without sending a byte before any answer (a TCP health
    /// check, a port scan): no backend is blamed for them.
    pub(crate) silent: AtomicU64,
    /// Connect attempts that failed.
    pub(crate) connect_failures: AtomicU64,
    /// Connections retried after a backend closed before answering.
    pub(crate) replays: AtomicU64,
    /// Times a backend was marked down.
    pub(crate) marked_down: AtomicU64,
    /// Times a probe marked a backend up again.
    pub(crate) marked_up: AtomicU64,
}

/// Every counter of [`Stats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    accepted: u64,
    answered: u64,
    unanswered: u64,
    no_backend: u64,
    silent: u64,
    connect_failures: u64,
    replays: u64,
    marked_down: u64,
    marked_up: u64,
}

impl Stats {
    /// Reads every counter (each one atomically; together, a moment's approximation).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            accepted: get(&self.accepted),
            answered: get(&self.answered),
            unanswered: get(&self.unanswered),
            no_backend: get(&self.no_backend),
            silent: get(&self.silent),
            connect_failures: get(&self.connect_failures),
            replays: get(&self.replays),
            marked_down: get(&self.marked_down),
            marked_up: get(&self.marked_up),
        }
    }
}

impl Snapshot {
    /// The stats line.
    pub(crate) fn line(&self) -> String {
        format!(
            "stats: {} connections, {} answered, {} unanswered ({} for want of a backend), \
             {} silent, {} connect failures, {} replays, {} marked down, {} marked up",
            self.accepted,
            self.answered,
            self.unanswered,
            self.no_backend,
            self.silent,
            self.connect_failures,
            self.replays,
            self.marked_down,
            self.marked_up,
        )
    }
}

/// What the log line of a connection closed for want of a backend says about `why`; `tried`
/// is how many backends this connection had tried.
pub(crate) fn no_backend_line(
    peer: impl core::fmt::Display,
    why: NoBackend,
    tried: usize,
) -> String {
    let what = match why {
        NoBackend::Excluded => format!("every backend was tried ({tried} of them)"),
        // the pool or every backend at its cap: shedding load, not a backend's failure
        NoBackend::Saturated | NoBackend::PoolSaturated => format!("{why}: shed"),
        _ => why.to_string(),
    };
    format!("{peer}: closed unanswered, no backend: {what}")
}

/// How many log lines the proxy keeps in memory.
const KEEP_LINES: usize = 256;

/// The proxy's log: each line goes to stderr when printing is on, and the last
/// [`KEEP_LINES`] are kept either way (log lines are rare events, so one lock is cheap).
#[derive(Debug)]
pub(crate) struct Log {
    print: bool,
    recent: Mutex<VecDeque<String>>,
}

impl Log {
    /// A log that prints on stderr if `print`.
    pub(crate) fn new(print: bool) -> Self {
        Log {
            print,
            recent: Mutex::new(VecDeque::with_capacity(KEEP_LINES)),
        }
    }

    /// Logs `line`.
    pub(crate) fn line(&self, line: String) {
        if self.print {
            eprintln!("proxy: {line}");
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == KEEP_LINES {
            recent.pop_front();
        }
        recent.push_back(line);
    }

    /// The last lines logged, oldest first.
    #[allow(dead_code, reason = "read by tests/proxy_e2e.rs, not by the example")]
    pub(crate) fn recent(&self) -> Vec<String> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().cloned().collect()
    }
}
