#!/usr/bin/env bash
# What a status check costs, next to the syscall Go's TCPConn.MultipathTCP()
# makes, in the same run: RUNS runs (default 5) of
#   cargo bench -p multipath-tcp --bench status
# and, per benchmark, the median (min-max) over the runs of criterion's
# median time per call. As root the namespace groups run too (two-subflow
# connections, inet_diag with 10,000 other connections).
#
#   bench/status.sh                 # every group
#   RUNS=3 bench/status.sh status   # only the loopback group (a criterion filter)
set -euo pipefail
RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$RUNS"); do
    echo "run $i of $RUNS" >&2
    rm -rf "$target/criterion"
    cargo bench -q -p multipath-tcp --bench status -- --warm-up-time 1 --measurement-time 3 "$@" >"$work/log-$i" 2>&1 \
        || { cat "$work/log-$i" >&2; exit 1; }
    mkdir -p "$work/$i"
    (cd "$target/criterion" && find . -path '*/new/estimates.json' | while read -r f; do
        name=${f#./}; name=${name%/new/estimates.json}
        mkdir -p "$work/$i/$name" && cp "$f" "$work/$i/$name/"
    done)
done
python3 - "$work" "$RUNS" <<'PY'
import json, os, statistics, subprocess, sys
work, runs = sys.argv[1], int(sys.argv[2])
times = {}
for i in range(1, runs + 1):
    base = os.path.join(work, str(i))
    for root, _, files in os.walk(base):
        if "estimates.json" in files:
            name = os.path.relpath(root, base)
            with open(os.path.join(root, "estimates.json")) as f:
                times.setdefault(name, []).append(json.load(f)["median"]["point_estimate"])
def fmt(t):
    """median (min-max), in µs below 0.1 ms, in ms above"""
    med = statistics.median(t)
    unit, div = ("µs", 1e3) if med < 100_000 else ("ms", 1e6)
    return f"{med / div:.2f} {unit} ({min(t) / div:.2f}-{max(t) / div:.2f})"
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
kernel = os.uname().release
print(f"commit {commit}, kernel {kernel}, {os.cpu_count()} CPUs, {runs} runs, criterion's median per call; median (min-max) over the runs\n")
go = times.get("status/go_equivalent_getsockopt_mptcp_info")
go_med = statistics.median(go) if go else None
print("| benchmark | time per call | vs Go's check (medians) |")
print("|---|---:|---:|")
for name in sorted(times):
    t = times[name]
    med = statistics.median(t)
    ratio = f"{med / go_med:.2f}" if go_med and name.startswith("status/") else ""
    print(f"| `{name}` | {fmt(t)} | {ratio} |")
PY
