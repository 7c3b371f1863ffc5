//! Discovery changes: insert, replace (same key), remove with requests out, slot reuse.

use std::sync::atomic::Ordering;

use tinylb::{Health, LeastConn, RoundRobin};
use tinylb_tower::{Balance, Weighted};
use tower::discover::Change;
use tower::{Service, ServiceExt};

use crate::{Mock, chan, mocks};

#[tokio::test]
async fn insert_remove_and_replace() {
    let (tx, rx) = chan();
    let (list, gates) = mocks(3);
    let mut lb: Balance<_, u64, _, 4> = Balance::builder(rx, RoundRobin::new()).build();
    let mon = lb.monitor();
    tx.send(Change::Insert(10, list[0].clone())).unwrap();
    tx.send(Change::Insert(11, list[1].clone())).unwrap();
    let mut got = [0usize; 3];
    for _ in 0..20 {
        got[lb.ready().await.unwrap().call(0).await.unwrap()] += 1;
    }
    assert_eq!(got, [10, 10, 0]);

    // a new service for key 11 keeps its backend (and counters), calls go to the new one
    let id11 = mon.snapshot().iter().find(|s| s.key == 11).unwrap().info.id;
    tx.send(Change::Insert(11, list[2].clone())).unwrap();
    let mut got = [0usize; 3];
    for _ in 0..20 {
        got[lb.ready().await.unwrap().call(0).await.unwrap()] += 1;
    }
    assert_eq!(got, [10, 0, 10]);
    let now11 = mon.snapshot().iter().find(|s| s.key == 11).unwrap().info.id;
    assert_eq!(id11, now11);

    tx.send(Change::Remove(10)).unwrap();
    for _ in 0..5 {
        assert_eq!(lb.ready().await.unwrap().call(0).await.unwrap(), 2);
    }
    assert_eq!(mon.snapshot().len(), 1);
    assert_eq!(gates[0].calls.load(Ordering::SeqCst), 20);
    assert_eq!(mon.in_flight(), 0);
}

#[tokio::test]
async fn a_removed_backend_keeps_its_slot_until_its_requests_let_go() {
    let (tx, rx) = chan();
    let (list, _) = mocks(3);
    let hang = Mock {
        hang: true,
        ..list[0].clone()
    };
    let mut lb: Balance<_, u64, _, 2> = Balance::builder(rx, LeastConn::new()).build();
    let mon = lb.monitor();
    tx.send(Change::Insert(0, hang)).unwrap();
    let out: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(lb.ready().await.unwrap().call(0));
        }
        v
    };
    assert_eq!(mon.in_flight(), 3);
    tx.send(Change::Remove(0)).unwrap();
    tx.send(Change::Insert(1, list[1].clone())).unwrap();
    tx.send(Change::Insert(2, list[2].clone())).unwrap();
    lb.ready().await.unwrap();
    // slot 0 still has three requests out: the pool (N = 2) has room for one of the two
    assert_eq!(mon.snapshot().len(), 1);
    assert_eq!(mon.refused(), 1);
    assert_eq!(mon.in_flight(), 3);
    drop(out);
    assert_eq!(mon.in_flight(), 0);
    tx.send(Change::Insert(2, list[2].clone())).unwrap();
    for _ in 0..4 {
        lb.ready().await.unwrap().call(0).await.unwrap();
    }
    let mut keys: Vec<usize> = mon.snapshot().iter().map(|s| s.key).collect();
    keys.sort();
    assert_eq!(keys, [1, 2]);
}

#[tokio::test]
async fn weights_from_the_service_and_from_the_key() {
    let (list, _) = mocks(2);
    let weighted = vec![
        Weighted::new(list[0].clone(), 3),
        Weighted::new(list[1].clone(), 1),
    ];
    let mut lb: Balance<_, u64, _, 4> = Balance::builder(
        tower::discover::ServiceList::new(weighted),
        tinylb::WeightedRoundRobin::new(),
    )
    .weight_from_service()
    .build();
    let mut got = [0usize; 2];
    for _ in 0..40 {
        got[lb.ready().await.unwrap().call(0).await.unwrap()] += 1;
    }
    assert_eq!(got, [30, 10]);

    let (tx, rx) = chan();
    let mut lb: Balance<_, u64, _, 4> = Balance::builder(rx, tinylb::WeightedRoundRobin::new())
        .weight(|key, _| *key as u32)
        .build();
    tx.send(Change::Insert(1, list[0].clone())).unwrap();
    tx.send(Change::Insert(4, list[1].clone())).unwrap();
    let mut got = [0usize; 2];
    for _ in 0..50 {
        got[lb.ready().await.unwrap().call(0).await.unwrap()] += 1;
    }
    assert_eq!(got, [10, 40]);
    // the operator's word still counts: a backend marked down is not picked
    let mon = lb.monitor();
    let id = mon.snapshot()[1].info.id;
    mon.pool().set_health(id, Health::Down).unwrap();
    for _ in 0..10 {
        assert_eq!(lb.ready().await.unwrap().call(0).await.unwrap(), 0);
    }
}

/// A discovery stream that gives one endpoint, then fails once, then has nothing more.
struct Failing(Vec<Result<Change<usize, Mock>, std::io::Error>>);

impl futures_core::Stream for Failing {
    type Item = Result<Change<usize, Mock>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.pop())
    }
}

#[tokio::test]
async fn a_discovery_error_fails_poll_ready_and_keeps_the_endpoints() {
    let (list, _) = mocks(1);
    let stream = Failing(vec![
        Err(std::io::Error::other("registry down")),
        Ok(Change::Insert(7, list[0].clone())),
    ]);
    let mut lb: Balance<_, u64, _, 4> = Balance::builder(stream, RoundRobin::new()).build();
    let err = crate::poll_ready_now(&mut lb);
    match err {
        std::task::Poll::Ready(Err(e)) => {
            let d = e
                .downcast_ref::<tinylb_tower::DiscoverError>()
                .expect("a DiscoverError");
            assert!(d.to_string().contains("registry down"), "{d}");
        }
        other => panic!("expected the discovery error, got {other:?}"),
    }
    // the endpoint it gave before failing is still balanced to
    assert_eq!(lb.ready().await.unwrap().call(0).await.unwrap(), 0);
    assert_eq!(lb.monitor().snapshot().len(), 1);
}
