//! Every strategy as a `static` over one `static` pool, and one request through each.

use crate::workload::{N, request};
use tinylb::{
    BoundedLoad, Jump, LeastConn, LeastTime, Maglev, PeakEwma, Pool, PowerOfTwo, Random,
    Rendezvous, RoundRobin, WeightedRoundRobin,
};

pub static POOL: Pool<N> = Pool::with_half_life_ms(1000);
static RR: RoundRobin = RoundRobin::new();
static WRR: WeightedRoundRobin<N> = WeightedRoundRobin::new();
static LC: LeastConn = LeastConn::new();
static LT: LeastTime = LeastTime::new();
static RANDOM: Random = Random::new();
static P2C: PowerOfTwo = PowerOfTwo::new();
static EWMA: PeakEwma = PeakEwma::new();
static MAGLEV: Maglev<N, 251> = Maglev::new();
static HRW: Rendezvous = Rendezvous::new();
static JUMP: Jump = Jump::new();
static CHBL: BoundedLoad = match BoundedLoad::new(tinylb::strategy::DEFAULT_BALANCE_FACTOR) {
    Ok(b) => b,
    Err(_) => panic!("125 % is a valid factor"),
};

/// The core set: round robin, smooth weighted round robin, least connections.
pub fn core<const SUCCESS: bool, const FAILURE: bool>() {
    request::<_, SUCCESS, FAILURE>(&RR, &POOL);
    request::<_, SUCCESS, FAILURE>(&WRR, &POOL);
    request::<_, SUCCESS, FAILURE>(&LC, &POOL);
}

/// Every other strategy.
pub fn rest<const SUCCESS: bool, const FAILURE: bool>() {
    request::<_, SUCCESS, FAILURE>(&LT, &POOL);
    request::<_, SUCCESS, FAILURE>(&RANDOM, &POOL);
    request::<_, SUCCESS, FAILURE>(&P2C, &POOL);
    request::<_, SUCCESS, FAILURE>(&EWMA, &POOL);
    request::<_, SUCCESS, FAILURE>(&MAGLEV, &POOL);
    request::<_, SUCCESS, FAILURE>(&HRW, &POOL);
    request::<_, SUCCESS, FAILURE>(&JUMP, &POOL);
    request::<_, SUCCESS, FAILURE>(&CHBL, &POOL);
}
