//! Clones share the pool's counters; each has its own endpoint copies; cancelled requests
//! give their unit back; keys stick under Maglev.

use tinylb::{LeastConn, Maglev};
use tinylb_tower::Balance;
use tower::discover::ServiceList;
use tower::{Service, ServiceExt};

use crate::{Mock, mocks};

#[tokio::test]
async fn clones_share_in_flight_counts_and_cancelled_requests_let_go() {
    let (list, gates) = mocks(2);
    let hanging: Vec<Mock> = list.into_iter().map(|m| Mock { hang: true, ..m }).collect();
    let mut a: Balance<_, u64, _, 4> =
        Balance::builder(ServiceList::new(hanging), LeastConn::new()).build();
    let mut b = a.clone();
    let mon = a.monitor();
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(a.ready().await.unwrap().call(0));
        out.push(b.ready().await.unwrap().call(0));
    }
    // least_conn over counts both clones raise: three each
    let infl: Vec<u32> = mon.snapshot().iter().map(|s| s.info.in_flight).collect();
    assert_eq!(infl, [3, 3]);
    assert_eq!(out.iter().filter(|f| f.backend().is_some()).count(), 6);
    // both clones called their own copies
    let calls: usize = gates
        .iter()
        .map(|g| g.calls.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    assert_eq!(calls, 6);
    // cancelled: dropped before completion
    out.truncate(2);
    assert_eq!(mon.in_flight(), 2);
    // one dropped inside a timeout, as an outer layer would
    let r = tokio::time::timeout(std::time::Duration::from_millis(5), out.pop().unwrap()).await;
    assert!(r.is_err());
    assert_eq!(mon.in_flight(), 1);
    drop(out);
    assert_eq!(mon.in_flight(), 0);
}

#[tokio::test]
async fn clones_on_threads_balance_to_zero() {
    let (list, _) = mocks(4);
    let lb: Balance<_, u64, _, 4> =
        Balance::builder(ServiceList::new(list), tinylb::PowerOfTwo::new()).build();
    let mon = lb.monitor();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let mut lb = lb.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    lb.ready().await.unwrap().call(0).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(mon.in_flight(), 0);
}

#[tokio::test]
async fn maglev_keys_stick_to_their_backend() {
    let (list, _) = mocks(5);
    let mut lb: Balance<_, u64, _, 8> =
        Balance::builder(ServiceList::new(list), Maglev::<8, 1021>::new())
            .on_change(|pool, m| {
                m.refresh(pool);
            })
            .key(|req: &u64| Some(tinylb::hash::hash_bytes(&req.to_le_bytes())))
            .build();
    let mut first = std::collections::HashMap::new();
    let mut used = std::collections::HashSet::new();
    for round in 0..3 {
        for key in 0..50u64 {
            let i = lb.ready().await.unwrap().call(key).await.unwrap();
            used.insert(i);
            let was = *first.entry(key).or_insert(i);
            assert_eq!(was, i, "key {key} moved in round {round}");
        }
    }
    assert_eq!(
        used.len(),
        5,
        "fifty keys over five backends reach all five"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maglev_keys_stick_across_clones_on_threads() {
    for round in 0..20 {
        let (list, _) = mocks(3);
        let lb: Balance<_, u64, _, 8> = Balance::by_name(ServiceList::new(list), "maglev")
            .unwrap()
            .key(|req: &u64| Some(tinylb::hash::hash_bytes(&req.to_le_bytes())))
            .build();
        let tasks: Vec<_> = (0..4u64)
            .map(|t| {
                let mut lb = lb.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for i in 0..50u64 {
                        let key = (t * 50 + i) % 20;
                        let fut = lb.ready().await.unwrap().call(key);
                        let backend = fut.backend().map(|b| b.index());
                        let got = fut.await.unwrap();
                        assert_eq!(backend, Some(got));
                        seen.push((key, got));
                        tokio::task::yield_now().await;
                    }
                    seen
                })
            })
            .collect();
        let mut first = std::collections::HashMap::new();
        for t in tasks {
            for (key, got) in t.await.unwrap() {
                let was = *first.entry(key).or_insert(got);
                assert_eq!(was, got, "round {round}: key {key}");
            }
        }
    }
}
