# shellcheck shell=bash
# Proofs under threads, faults and bad input, sourced by .ci/run, which defines
# `step NAME CMD...` (timed; a failure is recorded and the run goes on). Every command here
# runs inside a step, so nothing in this file can stop CI by itself.
#
#   stress release   tests/stress.rs again with optimisations: more interleavings per second
#   miri             the unit tests and part of tests/ under the interpreter (x86_64, i686)
#   fuzz             each cargo-fuzz target for a fixed 30 s on nightly
#   callgrind        instruction counts of every hot path against benches/callgrind/budgets.txt
#
# Measured on the 2-core CI machine from a clean clone (CI=true bash .ci/run, whole run 533 s):
# stress release 3 s, miri 87 s, miri i686 50 s, fuzz build 22 s (+85 s once per machine
# to install cargo-fuzz), fuzz ops 31 s, fuzz config 31 s, callgrind budgets 6 s: 230 s.

# --- stress, optimised --------------------------------------------------------------------
step "stress release" cargo test --release --test stress

# --- miri -----------------------------------------------------------------------------------
# Interprets the tests, reporting undefined behaviour (in our dependencies' unsafe code:
# tinylb itself forbids it), data races between the test threads, leaks, and arithmetic
# that differs on a 32-bit target. Roughly 1000× slower than native, so: few proptest cases
# and a list of what runs (separate target dir under target/miri, chosen by cargo-miri).
#
# Runs: the unit tests; in the contract-test binary (tests/it), selected by module path,
# the pool and lease contracts (pool::, lease::), bad input (bad_input::table::), threads
# (send_sync::) and round_robin::; stress (a few hundred iterations per thread under miri; on
# x86-64) and the fuzz harness on seeded inputs (fuzz_regressions; on i686). Left out, and why (each costs minutes under miri, measured on this
# machine, and checks arithmetic or statistics rather than anything miri finds):
#
#   tests/it: bad_input:: outside its table, ejection, p2c, peak_ewma, least_conn,
#   slow_start: every strategy on every check, with a Maglev table of 8191 entries built
#   per pool (> 2 min each, several > 5 min)
#   tests/it: hashing, value_stability, wrr, random: balance, disruption, golden sequences
#   and chi-square over 10^5..10^6 picks
#   tests/it: threads, resilience_threads, and the tests skipped below by name: threads or
#   model runs of 10^5..10^6 steps (> 4 min each; tests/stress.rs covers the same protocols
#   at miri's pace), and the two panic regressions that parse every strategy name (a Maglev
#   table of 8191 entries each: > 10 min)
#   fuzz_regressions: the four priority-level regressions, each a pick and a lease with every
#   strategy at two pool sizes, the model's checks after every op (> 3 min each; the seeded
#   sequences run the same code paths)
#   unit tests neg_log2_precision, roots_are_close: 10^5..10^6 evaluations against f64;
#   and, ignored under miri in the code (cfg_attr), the arithmetic-only unit tests: the
#   worker streams' gaps and the alias table's exact law (16 s and 33 s under miri on
#   i686; their 32-bit arithmetic runs on wasm32 under WASI)
#   tests/loom.rs (needs --cfg loom), proxy_e2e.rs (tokio sockets), no_alloc.rs (a global
#   allocator), firmware (bare metal): not for miri
#
# The module filters apply to every binary of one cargo invocation, so tests/it runs in a
# cargo call of its own. PROPTEST_CASES lowers every property's case count (tests/it's
# support::cases).
#
# -Zmiri-compare-exchange-weak-failure-rate=0.05: miri's default makes compare_exchange_weak
# fail spuriously 80 % of the time, and the crate's CAS loops give up after 16 tries, so an
# uncontended Lease::acquire failed 2.8 % of the time before they moved to the strong form.
# 5 % still sends every weak CAS loop through its retry path.
VERIFY_MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-compare-exchange-weak-failure-rate=0.05"
VERIFY_MIRI_SKIP=(
    --skip neg_log2_precision --skip roots_are_close
    --skip select_lease_never_exceeds_a_cap_and_moves_on --skip pool_agrees_with_the_model
    --skip id_at_sees_a_backend_whose_weight_is_changing --skip rr_some_under_contention
    --skip two_threads_counts_stay_exact --skip fresh_id_is_never_stale
    --skip panic_makes_an_ejected_backup_eligible_when_nothing_else_is
    --skip same_without_a_backup_tier_picks_the_ejected_primary
    --skip is_eligible_is_false_where_panic_fails_every_pick
    --skip is_eligible_is_false_for_a_level_in_panic_without_load
    --skip is_eligible_sees_the_views_after_its_census
    --skip levels_spill_and_degraded_backends_take_the_rest
)
# the subjects of tests/it that run under miri (libtest filters: module paths)
# (regressions:: left out since backup pools take the priority-level path: alone it ran past
# 200 s under miri; it runs natively and under WASI)
# (least_time:: left out since ties are drawn from a mask: its properties against the tie
# model build pools of 300 slots, minutes under miri; they run natively and under WASI)
VERIFY_MIRI_IT=(pool:: lease:: bad_input::table:: send_sync:: round_robin::)
VERIFY_MIRI_IT_I686=(pool:: lease:: bad_input::table::)
# CASES TARGET BINS [IT-FILTER...]: under miri on TARGET with CASES proptest cases, the unit
# tests and the test binaries BINS (a space-separated list: stress, fuzz_regressions), then
# tests/it's subjects named by the filters
verify_miri() {
    local cases=$1 target=$2 bins=() rc=0 b
    for b in $3; do
        bins+=(--test "$b")
    done
    shift 3
    MIRIFLAGS="$VERIFY_MIRIFLAGS" PROPTEST_CASES=$cases cargo +nightly miri test \
        --target "$target" --lib "${bins[@]}" -- "${VERIFY_MIRI_SKIP[@]}" || rc=1
    MIRIFLAGS="$VERIFY_MIRIFLAGS" PROPTEST_CASES=$cases cargo +nightly miri test \
        --target "$target" --test it -- "$@" "${VERIFY_MIRI_SKIP[@]}" || rc=1
    return "$rc"
}
# the two targets split stress (threads: x86-64) and the fuzz harness (i686), so that the two
# runs side by side take about as long as each other
verify_miri_x86() {
    verify_miri 2 x86_64-unknown-linux-gnu stress "${VERIFY_MIRI_IT[@]}"
}
verify_miri_i686() {
    CARGO_TARGET_DIR=target/miri-i686 verify_miri 2 i686-unknown-linux-gnu fuzz_regressions \
        "${VERIFY_MIRI_IT_I686[@]}"
}
step "miri components" rustup component add --toolchain nightly miri rust-src
# two proptest cases a property, as on i686 (four took 377 s once backup pools took the
# priority-level path: every pick there counts the levels first)
# The interpreter runs on one thread, so the two targets run side by side (i686 in a
# target dir of its own, so that neither waits on the other's build lock).
# The WASI tests (.ci/portability.sh's port_wasi_test: Node, one thread, 174 s alone) run
# beside them: three one-thread jobs on two cores end sooner than two, then one.
step_bg "test wasm32-wasip1 (WASI)" port_wasi_test
step_bg "miri" verify_miri_x86
# 32-bit (usize and pointers of 4 bytes): the contracts, bad input, the fuzz harness
step_bg "miri i686" verify_miri_i686
step_join

# --- fuzzing --------------------------------------------------------------------------------
# fuzz/ is its own cargo-fuzz crate (own workspace and target dir). No sanitizer: the
# library forbids unsafe code, so AddressSanitizer would only slow every run down; the
# build keeps debug assertions and overflow checks, so an overflow is a crash. A crash
# fails the step and leaves the input in fuzz/artifacts/<target>/.
verify_fuzz_install() {
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
}
step "fuzz install" verify_fuzz_install
# libFuzzer's output is long: keep it in a log, show the totals, or the end on a crash
verify_fuzz_run() {
    local target=$1 log rc=0
    log=$(mktemp)
    cargo +nightly fuzz run -s none "$target" -- -max_total_time=30 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
    else
        tail -n 60 "$log"
    fi
    rm -f "$log"
    return "$rc"
}
step "fuzz build" cargo +nightly fuzz build -s none
# one libFuzzer process each: side by side
step_bg "fuzz ops 30s" verify_fuzz_run ops
step_bg "fuzz config 30s" verify_fuzz_run config
step_join

# --- instruction counts ---------------------------------------------------------------------
step "callgrind budgets" bash benches/callgrind/run.sh
