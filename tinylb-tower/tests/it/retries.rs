//! A request's `Attempts`: each attempt goes to a backend not yet tried, under every
//! strategy; once all are tried, a tried one is reused rather than none.

use tinylb_tower::{Attempts, Balance};
use tower::discover::ServiceList;
use tower::{Service, ServiceExt};

use crate::{Tracked, mocks};

/// A request: its key and, maybe, its attempts.
pub(crate) type Req = (u64, Option<Attempts<8>>);

#[tokio::test]
async fn each_attempt_goes_to_a_backend_not_yet_tried() {
    for name in [
        "round_robin",
        "least_conn",
        "p2c",
        "peak_ewma",
        "maglev",
        "rendezvous",
        "random",
    ] {
        let list: Vec<_> = mocks(4).0.into_iter().map(Tracked).collect();
        let mut lb: Balance<_, Req, _, 8> = Balance::by_name(ServiceList::new(list), name)
            .unwrap()
            .key(|r: &Req| Some(r.0))
            .attempts(|r: &Req| r.1.clone())
            .build();
        for key in 0..10u64 {
            let attempts = Attempts::new();
            let mut got = Vec::new();
            for _ in 0..4 {
                let i = lb
                    .ready()
                    .await
                    .unwrap()
                    .call((key, Some(attempts.clone())))
                    .await
                    .unwrap();
                got.push(i);
            }
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3], "{name}, key {key}: {got:?}");
            assert_eq!(attempts.len(), 4);
            // all four tried: the fifth attempt still gets a backend
            let fifth = lb
                .ready()
                .await
                .unwrap()
                .call((key, Some(attempts.clone())))
                .await;
            assert!(fifth.is_ok(), "{name}");
        }
        assert_eq!(lb.monitor().in_flight(), 0);
    }
}

#[tokio::test]
async fn a_request_without_attempts_picks_as_usual() {
    let list: Vec<_> = mocks(3).0.into_iter().map(Tracked).collect();
    let mut lb: Balance<_, Req, _, 8> =
        Balance::builder(ServiceList::new(list), tinylb::RoundRobin::new())
            .attempts(|r: &Req| r.1.clone())
            .build();
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(lb.ready().await.unwrap().call((0, None)).await.unwrap());
    }
    // round robin's own rotation, every backend twice
    got.sort();
    assert_eq!(got, [0, 0, 1, 1, 2, 2]);
}
