#!/usr/bin/env bash
# Benchmark of `mptcp daemon` (issue 13): reaction times to rtnetlink
# events, failover stall with and without the daemon on 2 x 50 Mbit/s,
# data back on a returning path, and a soak of 1,000 random events (endpoint
# set, leaks, memory, idle CPU). The measuring program is
# crates/mptcp-daemon/benches/daemon; it runs the release `mptcp` binary
# in network namespaces it creates and removes. Then `mptcp lab`'s two
# failover phases (kernel path manager alone, then with the daemon), RUNS
# times. Both measure the stall with the same code (crates/mptcp-transfer/src/stall.rs).
#
#   sudo bench/daemon.sh                    # 7 runs per failover case
#   RUNS=9 sudo -E bench/daemon.sh
#   ONLY=failover sudo -E bench/daemon.sh   # reaction | failover | slow | soak | lab
#
# Prints Markdown tables; the raw numbers go to $OUT/daemon.json.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
OUT=${OUT:-${TMPDIR:-/tmp}/mptcp-bench}
MPTCP=${MPTCP:-$PWD/target/release/mptcp}

if [ "$(id -u)" != 0 ]; then
    echo "bench/daemon.sh needs root (it builds network namespaces); run it with sudo" >&2
    exit 1
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p mptcp-cli
fi
mkdir -p "$OUT"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- crates bench 2>/dev/null | grep -q . && echo "+local changes" || true)
echo "commit $commit$dirty, kernel $(uname -r), $(nproc) CPUs, bench/daemon.sh (RUNS=$RUNS)"
args=(--mptcp "$MPTCP" --runs "$RUNS" --json "$OUT/daemon.json")
if [ -n "${ONLY:-}" ]; then
    args+=(--only "$ONLY")
fi
if [ "${ONLY:-}" != lab ]; then
    cargo bench -q -p mptcp-daemon --bench daemon -- "${args[@]}"
    echo
    echo "raw numbers: $OUT/daemon.json"
fi
if [ -z "${ONLY:-}" ] || [ "$ONLY" = lab ]; then
    command -v jq >/dev/null || { echo "bench/daemon.sh: the lab section needs jq (apt-get install jq)" >&2; exit 1; }
    echo
    echo "### mptcp lab: failover and failover-daemon, path 1 (the initial subflow's) down half-way ($RUNS runs, median (min-max))"
    echo
    rm -f "$OUT"/lab-failover-*.json
    for i in $(seq 1 "$RUNS"); do
        if ! "$MPTCP" lab --phases failover,failover-daemon --json --no-plot >"$OUT/lab-failover-$i.json"; then
            echo "lab run $i failed: $OUT/lab-failover-$i.json" >&2
        fi
    done
    jq -s -r '
        def median: sort | length as $n | if $n == 0 then null elif $n % 2 == 1 then .[($n - 1) / 2] else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
        def show: map(select(. != null)) | if length == 0 then "-" else "\(median | round) (\(min | round)-\(max | round))" end;
        [.[] | select(.ok) | .failover] as $r
        | ($r | map(.kernel_stall_ms) | map(select(. != null)) | median) as $k
        | ($r | map(.daemon_stall_ms) | map(select(. != null)) | median) as $d
        | "| kernel path manager alone: stall, ms | with mptcp daemon: stall, ms | daemon / kernel (medians) | runs ok |",
          "|---:|---:|---:|---:|",
          "| \($r | map(.kernel_stall_ms) | show) | \($r | map(.daemon_stall_ms) | show) | \(if $k and $d and $k > 0 then ($d / $k * 100 | round) / 100 else "-" end) | \($r | length) of \(length) |"
    ' "$OUT"/lab-failover-*.json
    echo
    echo "raw numbers: $OUT/lab-failover-*.json"
fi
