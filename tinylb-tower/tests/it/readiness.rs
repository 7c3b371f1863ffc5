//! Only ready endpoints are picked; pending ones are polled, ready ones are not re-polled
//! until used; an endpoint whose readiness fails is removed.

use std::sync::atomic::Ordering;
use std::task::Poll;

use tinylb::{PowerOfTwo, RoundRobin};

use tinylb_tower::Balance;
use tower::discover::ServiceList;
use tower::{Service, ServiceExt};

use crate::{mocks, poll_ready_now};

#[tokio::test]
async fn a_pending_endpoint_gets_nothing_until_it_is_ready() {
    // least_conn and maglev would choose the pending endpoint again and again if it were
    // not excluded from their picks
    for name in ["round_robin", "least_conn", "maglev", "p2c"] {
        let (list, gates) = mocks(3);
        gates[1].closed.store(true, Ordering::SeqCst);
        let mut lb: Balance<_, u64, _, 8> = Balance::by_name(ServiceList::new(list), name)
            .unwrap()
            .key(|k: &u64| Some(*k))
            .build();
        let mut got = [0usize; 3];
        for k in 0..90 {
            let i = lb.ready().await.unwrap().call(k).await.unwrap();
            got[i] += 1;
        }
        assert_eq!(got[1], 0, "{name}: {got:?}");
        assert!(got[0] > 15 && got[2] > 15, "{name}: {got:?}");
        gates[1].open();
        let mut got = [0usize; 3];
        for k in 0..90 {
            let i = lb.ready().await.unwrap().call(k).await.unwrap();
            got[i] += 1;
        }
        assert!(got.iter().all(|&g| g >= 15), "{name}: {got:?}");
        assert_eq!(lb.monitor().in_flight(), 0);
    }
}

#[tokio::test]
async fn poll_ready_polls_what_is_pending_not_every_endpoint() {
    let (list, gates) = mocks(8);
    let mut lb: Balance<_, u64, _, 8> =
        Balance::builder(ServiceList::new(list), PowerOfTwo::with_seed(7)).build();
    lb.ready().await.unwrap();
    let before: usize = gates.iter().map(|g| g.polls.load(Ordering::SeqCst)).sum();
    assert_eq!(
        before, 8,
        "the first poll_ready polls each new endpoint once"
    );
    for _ in 0..100 {
        lb.ready().await.unwrap().call(0).await.unwrap();
    }
    let after: usize = gates.iter().map(|g| g.polls.load(Ordering::SeqCst)).sum();
    // one poll per request after the first: the endpoint the previous call used (its
    // readiness was spent); the others stay ready and are not polled again
    assert_eq!(after - before, 99, "polls per 100 requests");
}

#[tokio::test]
async fn pending_while_nothing_is_ready_and_woken_when_one_is() {
    let (list, gates) = mocks(2);
    for g in &gates {
        g.closed.store(true, Ordering::SeqCst);
    }
    let mut lb: Balance<_, u64, _, 8> =
        Balance::builder(ServiceList::new(list), RoundRobin::new()).build();
    assert!(poll_ready_now(&mut lb).is_pending());
    let g = gates[0].clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        g.open();
    });
    let i = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        lb.ready().await.unwrap().call(0).await.unwrap()
    })
    .await
    .expect("woken when the endpoint became ready");
    assert_eq!(i, 0);
}

#[tokio::test]
async fn an_endpoint_whose_poll_ready_fails_is_removed() {
    let (list, gates) = mocks(3);
    let mut lb: Balance<_, u64, _, 8> =
        Balance::builder(ServiceList::new(list), RoundRobin::new()).build();
    let mon = lb.monitor();
    for _ in 0..6 {
        lb.ready().await.unwrap().call(0).await.unwrap();
    }
    assert_eq!(mon.snapshot().len(), 3);
    gates[2].broken.store(true, Ordering::SeqCst);
    let mut got = [0usize; 3];
    for _ in 0..30 {
        let i = lb.ready().await.unwrap().call(0).await.unwrap();
        got[i] += 1;
    }
    // at most the one call that used the readiness it had before it broke
    assert!(got[2] <= 1, "{got:?}");
    let keys: Vec<usize> = mon.snapshot().iter().map(|s| s.key).collect();
    assert_eq!(keys, [0, 1]);
    assert_eq!(lb.pool().len(), 2);
    assert!(matches!(poll_ready_now(&mut lb), Poll::Ready(Ok(()))));
}
