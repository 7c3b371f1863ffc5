//! Regression: `Pool::remove` once moved the generation on after publishing the slot as
//! removed, so a racing `add` could reuse the slot in between and hand out an id that was
//! stale at once (and whose backend could never be removed). Found by the stress test.
use core::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use tinylb::{Error, Pool};

#[test]
fn fresh_id_is_never_stale() {
    let pool: Pool<1> = Pool::new();
    let stale = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..1_000_000 {
                    if let Ok(id) = pool.add(1) {
                        match pool.remove(id) {
                            Ok(()) => {}
                            Err(Error::Stale) => {
                                stale.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
            });
        }
    });
    let stale = stale.load(Ordering::Relaxed);
    let leaked = pool.id_at(0);
    eprintln!(
        "fresh ids refused as Stale: {stale}; afterwards id_at(0) = {leaked:?}, len {}, info = {:?}, remove = {:?}, add = {:?}",
        pool.len(),
        leaked.map(|id| pool.info(id)),
        leaked.map(|id| pool.remove(id)),
        pool.add(1),
    );
    assert_eq!(stale, 0);
}
