#!/usr/bin/env bash
# Instruction counts of the hot paths, compared with their budgets.
#
#   bash benches/callgrind/run.sh            measure every operation, fail if any exceeds its budget
#   bash benches/callgrind/run.sh --update   print a budgets file for today's counts (+10 %)
#
# Wall-clock benches cannot fail CI honestly on a shared, noisy machine; instruction counts
# can: callgrind counts every instruction executed, the same on every run of the same binary.
# For each operation of the `callgrind` bench (benches/callgrind/main.rs) this runs
# `valgrind --tool=callgrind --toggle-collect=*measured*` on `callgrind OP K`, so only the
# K iterations inside `measured` are counted (no process start-up, no setup), and divides by
# K. The budgets in budgets.txt, next to this script, are counts at the time they were set
# plus a margin; the toolchain changes counts too, so re-measure after a compiler update.
set -euo pipefail

cd "$(dirname "$0")/../.."
here=benches/callgrind
budgets=$here/budgets.txt
K=${CALLGRIND_K:-2000}

update=false
if [ "${1:-}" = "--update" ]; then
    update=true
fi

command -v valgrind >/dev/null || { echo "callgrind: valgrind is not installed" >&2; exit 1; }

# the bench profile (release), in the shared target dir; ask cargo where the binary is
bin=$(cargo bench --no-run --bench callgrind --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "callgrind: could not build the bench binary" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# per-operation count: instructions inside `measured`, divided by K (rounded)
count() {
    local op=$1 file
    file=$out/$(echo "$op" | tr '/' '_').out
    valgrind --tool=callgrind --callgrind-out-file="$file" --toggle-collect='*measured*' \
        "$bin" "$op" "$K" >/dev/null 2>"$file.log" || {
        cat "$file.log" >&2
        return 1
    }
    awk -v k="$K" '/^summary:/ { printf "%d\n", ($2 + k / 2) / k }' "$file"
}

budget_of() {
    awk -v op="$1" '$1 == op { print $2 }' "$budgets"
}

mapfile -t ops < <("$bin" --list)

if $update; then
    echo "# Instruction budgets per operation (benches/callgrind/run.sh compares with them)."
    echo "#"
    echo "# budget = count when set x 1.10, rounded up; 'count' is that measured count."
    echo "# Measured with $(rustc --version | cut -d' ' -f1-2), bench profile, K = $K, $(uname -m)."
    echo "# Lower a budget whenever a change makes an operation cheaper (and say so in"
    echo "# the commit); raise one only with a reason in the commit message."
    echo "#"
    printf '# %-32s %10s %10s\n' operation budget count
    for op in "${ops[@]}"; do
        c=$(count "$op")
        printf '%-34s %10d %10d\n' "$op" $(( (c * 110 + 99) / 100 )) "$c"
    done
    exit 0
fi

printf '%-34s %10s %10s %7s\n' operation count budget used
fail=0
for op in "${ops[@]}"; do
    c=$(count "$op")
    b=$(budget_of "$op")
    if [ -z "$b" ]; then
        printf '%-34s %10d %10s %7s  NO BUDGET\n' "$op" "$c" - -
        fail=1
        continue
    fi
    pct=$(( c * 100 / b ))
    if [ "$c" -gt "$b" ]; then
        printf '%-34s %10d %10d %6d%%  OVER BUDGET\n' "$op" "$c" "$b" "$pct"
        fail=1
    else
        printf '%-34s %10d %10d %6d%%\n' "$op" "$c" "$b" "$pct"
    fi
done
if [ "$fail" -ne 0 ]; then
    echo "callgrind: an operation is over its budget (or has none): see $budgets" >&2
    exit 1
fi
echo "callgrind: every operation within budget (${#ops[@]} operations, K = $K)"
