# shellcheck shell=bash
# Portability, sourced by .ci/run after its cross-target builds: it uses .ci/run's
# `step NAME CMD...`, so every check below is timed and a failure is collected, not fatal.
#
#   - feature combinations of the library on the embedded targets (defmt, critical-section)
#   - the test suite on wasm32-wasip1 under Node's built-in WASI (.ci/wasi-runner.mjs)
#   - the golden vectors (tests/golden/vectors.rs) on Cortex-M3, M4 and M0 under QEMU
#     (firmware/src/bin/golden.rs), debug (overflow checks) and release
#   - panic-freedom of the hot path: firmware/src/bin/hot_path*.rs link only without panics
#   - footprint: .text/.data/.bss of thumbv7em release LTO images; the core set's budget
#   - no floats: no soft-float routine in the thumbv6m library or image
#
# Idempotent: tools are installed only when missing (rustup targets and llvm-tools, Node,
# qemu-system-arm). The firmware crate builds into firmware/target, so the shared target/
# cache is untouched.

PORT_TARGETS=(thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi
    riscv32imc-unknown-none-elf wasm32-wasip1)
PORT_FW_DIR="$PWD/firmware"
PORT_FW_TARGET="$PORT_FW_DIR/target"
# the core set's picking code, in bytes of .text
PORT_CORE_TEXT_BUDGET=4096

port_sudo() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# rustup targets and llvm-tools (llvm-size, llvm-nm); no-ops when present
port_rustup() {
    rustup target add "${PORT_TARGETS[@]}" && rustup component add llvm-tools
}

# Node.js for node:wasi (preview1; Node 20 is what CI runs); from Debian's packages only
# when missing
port_node() {
    if ! command -v node >/dev/null 2>&1; then
        port_sudo apt-get update -qq && port_sudo env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq nodejs >/dev/null || return 1
    fi
    echo "node $(node --version)"
}

# qemu-system-arm from Debian's packages, only when missing (about 60 s)
port_qemu() {
    if ! command -v qemu-system-arm >/dev/null 2>&1; then
        port_sudo apt-get update -qq && port_sudo env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq qemu-system-arm >/dev/null || return 1
    fi
    qemu-system-arm --version | head -n 1
}

port_llvm_bin() {
    echo "$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
}

# cargo in firmware/, with its own target directory
port_fw() {
    (cd "$PORT_FW_DIR" && CARGO_TARGET_DIR="$PORT_FW_TARGET" cargo "$@")
}

# the whole test suite under WASI: lib unit tests, tests/ and doctests. The runner
# (.ci/wasi-runner.mjs) skips, and lists, the tests that abort because they cannot spawn a
# thread; any other failure fails the step, with its panic message. --no-fail-fast: one run
# shows every failing test binary. The properties run 8 cases each here (the native run has
# them all): this run is about what a 32-bit WASM target computes, and the golden vectors,
# which do not depend on the case count, pin that exactly (16 cases took 330 s once the
# priority-level properties came in; 8 keep the step near 4 minutes).
port_wasi_test() {
    PROPTEST_CASES=8 cargo test --target wasm32-wasip1 --no-fail-fast
}

# TARGET [CARGO ARGS...]: the golden firmware on QEMU (the runner is in
# firmware/.cargo/config.toml), with priority levels and localities; its closing line is
# "golden: N passed, N failed"
port_golden() {
    local target=$1
    shift
    port_fw run --bin golden --target "$target" --features levels "$@"
}

# TARGET [CARGO ARGS...]: links the panic-freedom binaries: configuration, then pick,
# lease, finish and drop for every strategy. Their panic handler calls an undefined symbol,
# so the link fails if any panic path survives (release, LTO).
port_panic_never() {
    local target=$1
    shift
    port_fw build --release --bin hot_path --bin hot_path_finish --target "$target" \
        --features levels "$@"
}

# .text/.rodata/.data/.bss of the footprint images, release, LTO: thumbv7em at opt-level
# "s" (the firmware's profile; the README's figures) and "z", thumbv6m at "s". The core
# set's picking code is `core` minus `pool` (what round robin, WRR and least connections
# add to a pool with leases and outcomes).
PORT_CORE_PICK_TARGET=4096 # the issue's target for the core set's picking code, bytes
# CI fails above this: not the target (the code is over it today, see the step's output),
# a guard against an accidental blow-up such as formatting or a panic path pulled into the
# picks (several KiB each). Lower it as the code shrinks toward the target. Raised from
# 8192 to 9216 when retries (the exclusion and preference paths, 0.6 KiB), the pool-wide
# cap and the lease's reports, and the failure penalty's charged scan (0.7 KiB, out of line
# so that the plain scan costs what it did) came in: 8540 B at that point.
# Raised to 13 KiB when WRR's scan went three times faster (a second scan loop for pools
# whose every backend is in level 0, and the plain pick's first turn inlined into the pick:
# +1.2 KiB) and least connections' ties went to one draw a pick (the tie mask, its count
# and its draw, one copy for every scan: +2.4 KiB): 12548 B at that point, a trade of
# flash for speed on the servers that pick from many cores, stated in the README.
PORT_CORE_PICK_CEILING=13312
port_footprint() {
    local llvm rc=0 target opt feats b
    llvm=$(port_llvm_bin)
    for config in thumbv7em-none-eabihf:s thumbv7em-none-eabihf:z thumbv6m-none-eabi:s; do
        target=${config%:*}
        opt=${config#*:}
        feats=()
        [ "$target" = thumbv6m-none-eabi ] && feats=(--features critical-section)
        local dir="$PORT_FW_TARGET"
        [ "$opt" = s ] || dir="$PORT_FW_TARGET/opt-$opt"
        CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" port_fw build --quiet --release \
            --target "$target" --target-dir "$dir" "${feats[@]}" --bin footprint_base \
            --bin footprint_pool --bin footprint_core --bin footprint_all || return 1
        echo "footprint, $target, release, LTO, opt-level $opt (bytes; Δ: minus base):"
        printf '  %-6s %7s %7s %7s %7s %8s\n' image .text .rodata .data .bss Δ.text
        local base=0 pool=0 text ro data bss
        for b in base pool core all; do
            read -r text ro data bss < <("$llvm/llvm-size" -A \
                "$dir/$target/release/footprint_$b" | awk '
                    $1 == ".text" { t = $2 } $1 == ".rodata" { r = $2 }
                    $1 == ".data" { d = $2 } $1 == ".bss" { s = $2 }
                    END { print t + 0, r + 0, d + 0, s + 0 }')
            [ "$b" = base ] && base=$text
            [ "$b" = pool ] && pool=$text
            printf '  %-6s %7d %7d %7d %7d %8d\n' "$b" "$text" "$ro" "$data" "$bss" \
                $((text - base))
            [ "$b" = core ] || continue
            local pick=$((text - pool))
            local verdict="within"
            [ "$pick" -le "$PORT_CORE_PICK_TARGET" ] || verdict="OVER"
            echo "  core set picking code (core - pool): $pick B of .text," \
                "$verdict the $PORT_CORE_PICK_TARGET B target"
            if [ "$target:$opt" = thumbv7em-none-eabihf:s ] &&
                [ "$pick" -gt "$PORT_CORE_PICK_CEILING" ]; then
                echo "  over the CI ceiling of $PORT_CORE_PICK_CEILING B: a size regression"
                rc=1
            fi
        done
    done
    # what priority levels, degraded backends and localities add (the `levels` feature;
    # the README's figure): the core set with it, thumbv7em at "s"
    local dir="$PORT_FW_TARGET/levels" target=thumbv7em-none-eabihf
    port_fw build --quiet --release --target "$target" --target-dir "$dir" --features levels \
        --bin footprint_pool --bin footprint_core || return 1
    local with=()
    for b in pool core; do
        with+=("$("$llvm/llvm-size" -A "$dir/$target/release/footprint_$b" |
            awk '$1 == ".text" { print $2 }')")
    done
    echo "  with the levels feature ($target, s): core set picking code" \
        "$((with[1] - with[0])) B of .text"
    return "$rc"
}

# No soft-float routine (__aeabi_f*/__aeabi_d*, int<->float conversions, libgcc's
# __*sf*/__*df*) is referenced by the thumbv6m library or linked into the image with
# every strategy.
PORT_FLOAT_SYMBOLS='__aeabi_(f|d|u?i2[fd]|u?l2[fd])|__(add|sub|mul|div|neg)[sd]f3|__(float|fix)(un)?[sdt]i|__(eq|ne|lt|le|gt|ge|un|cmp)[sd]f2|__(extend|trunc)[sd]f|__pow[sd]i2'
port_no_floats() {
    local llvm rlib image found=0
    llvm=$(port_llvm_bin)
    cargo build --lib --target thumbv6m-none-eabi --features critical-section || return 1
    port_fw build --release --target thumbv6m-none-eabi --features critical-section,levels \
        --bin footprint_all || return 1
    rlib="${CARGO_TARGET_DIR:-target}/thumbv6m-none-eabi/debug/libtinylb.rlib"
    image="$PORT_FW_TARGET/thumbv6m-none-eabi/release/footprint_all"
    for f in "$rlib" "$image"; do
        local hits
        hits=$("$llvm/llvm-nm" "$f" 2>/dev/null | grep -E "$PORT_FLOAT_SYMBOLS" || true)
        if [ -n "$hits" ]; then
            echo "soft-float routines in $f:"
            echo "$hits"
            found=1
        else
            echo "no soft-float routine in $f"
        fi
    done
    [ "$found" -eq 0 ]
}

step "portability: rustup targets, llvm-tools" port_rustup
step "portability: node" port_node
step "portability: qemu" port_qemu

# 1, 7. feature combinations of the library on the embedded targets
step "build thumbv7em defmt" cargo build --lib --release --target thumbv7em-none-eabihf \
    --features defmt
step "build thumbv6m all features" cargo build --lib --target thumbv6m-none-eabi --all-features
step "build riscv32imc all features" cargo build --lib --target riscv32imc-unknown-none-elf \
    --all-features

# 2. the tests on WASM (wasm32-wasip1, Node's WASI): port_wasi_test, run by .ci/verify.sh
#    beside the two miri targets (Node runs the tests on one thread, as miri does)

# 3, 4. the golden vectors on Cortex-M under QEMU
step "firmware fmt" port_fw fmt --check
step "firmware clippy" port_fw clippy --target thumbv7em-none-eabihf --features defmt,levels \
    -- -D warnings
step "qemu golden thumbv7m (lm3s6965evb)" port_golden thumbv7m-none-eabi
step "qemu golden thumbv7em (mps2-an386)" port_golden thumbv7em-none-eabihf
step "qemu golden thumbv7em release" port_golden thumbv7em-none-eabihf --release
step "qemu golden thumbv6m (microbit)" port_golden thumbv6m-none-eabi --features critical-section
step "firmware defmt build" port_fw build --target thumbv7em-none-eabihf --features defmt \
    --bin golden

# 6. panic-freedom of pick, lease, finish and drop
step "panic-never thumbv7em" port_panic_never thumbv7em-none-eabihf
step "panic-never thumbv7m" port_panic_never thumbv7m-none-eabi
step "panic-never thumbv6m" port_panic_never thumbv6m-none-eabi --features critical-section

# 5, 8. footprint and floats
step "footprint" port_footprint
step "no floats thumbv6m" port_no_floats
