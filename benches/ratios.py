#!/usr/bin/env python3
"""Ratios of benches/pick.rs results to the baseline of their criterion group.

Reads every `<criterion dir>/**/new/benchmark.json` (group and function names) with the
`estimates.json` beside it (median point estimate, in ns) and prints a markdown table:
group, function, median ns, ratio to the group's baseline (the function whose name starts
with `baseline`), and the issue's target where one applies.

Usage: python3 benches/ratios.py [CRITERION_DIR] [--group PREFIX]...
CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion next to this
script's crate. Exits 1 if a ratio misses its target (with --check), else 0.

Groups named `.../threads2/...` (benches/scale.rs) get a second table when the matching
`.../threads1/...` group was measured too: each function's 2-thread median over its
1-thread median, per operation per thread.
"""

import json
import os
import re
import sys
from pathlib import Path

# (group regex, function regex, max ratio to the group's baseline), from the issue
TARGETS = [
    (r"^rr/", r"^select", 1.5),
    (r"^rr_contended/", r"^select", 1.5),
    (r"^wrr/", r"^select", 3.0),
    (r"^least_conn/n64$", r"^select", 2.0),
    (r"^random/", r"^select", 2.0),
]


def target_for(group, function):
    for g, f, t in TARGETS:
        if re.search(g, group) and re.search(f, function):
            return t
    return None


def natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def main(argv):
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    prefixes = []
    rest = []
    it = iter(argv)
    for a in it:
        if a == "--group":
            prefixes.append(next(it, ""))
        else:
            rest.append(a)
    if rest:
        root = Path(rest[0])
    elif os.environ.get("CARGO_TARGET_DIR"):
        root = Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    else:
        root = Path(__file__).resolve().parent.parent / "target" / "criterion"
    if not root.is_dir():
        sys.exit(f"no criterion results in {root}: run `cargo bench --bench pick` first")

    groups = {}
    for bench in root.glob("**/new/benchmark.json"):
        est = bench.with_name("estimates.json")
        if not est.is_file():
            continue
        meta = json.loads(bench.read_text())
        group = meta["group_id"]
        function = meta.get("function_id") or ""
        if meta.get("value_str"):
            function = f"{function}/{meta['value_str']}"
        if prefixes and not any(group.startswith(p) for p in prefixes):
            continue
        median = json.loads(est.read_text())["median"]["point_estimate"]
        groups.setdefault(group, {})[function] = median

    print("| group | function | median ns | ratio | ratio to pool scan | target |")
    print("|---|---|---:|---:|---:|---|")
    missed = 0
    for group in sorted(groups, key=natural):
        fns = groups[group]
        base_name = next(
            (f for f in sorted(fns) if f.startswith("baseline") and f != "baseline_scan_pool"),
            None,
        )
        base = fns.get(base_name) if base_name else None
        pool_base = fns.get("baseline_scan_pool")
        order = sorted(fns, key=lambda f: (not f.startswith("baseline"), natural(f)))
        for f in order:
            ns = fns[f]
            ratio = f"{ns / base:.2f}×" if base else "-"
            pratio = f"{ns / pool_base:.2f}×" if pool_base else "-"
            t = target_for(group, f)
            mark = ""
            if t is not None and base:
                ok = ns / base <= t
                missed += not ok
                mark = f"≤ {t}× {'ok' if ok else 'MISSED'}"
            print(f"| {group} | {f} | {ns:.2f} | {ratio} | {pratio} | {mark} |")
    print_scaling(groups)
    return 1 if (check and missed) else 0


def print_scaling(groups):
    """Two threads against one: `threads2` groups beside their `threads1` twins."""
    pairs = [
        (g, groups[g], groups[g.replace("threads2", "threads1")])
        for g in sorted(groups, key=natural)
        if "threads2" in g and g.replace("threads2", "threads1") in groups
    ]
    if not pairs:
        return
    print()
    print("| group | function | 1 thread ns | 2 threads ns | 2 threads / 1 thread |")
    print("|---|---|---:|---:|---:|")
    for group, two, one in pairs:
        for f in sorted(two, key=lambda f: (not f.startswith("baseline"), natural(f))):
            if f in one:
                print(f"| {group} | {f} | {one[f]:.2f} | {two[f]:.2f} | {two[f] / one[f]:.2f}× |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
