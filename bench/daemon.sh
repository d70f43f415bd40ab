#!/usr/bin/env bash
# Benchmark of `mptcp daemon` (issue 13): reaction times to rtnetlink
# events, failover stall with and without the daemon on 2 x 50 Mbit/s,
# data back on a returning path, and a soak of 1,000 random events (endpoint
# set, leaks, memory, idle CPU). The measuring program is
# crates/mptcp-daemon/benches/daemon; it runs the release `mptcp` binary
# in network namespaces it creates and removes.
#
#   sudo bench/daemon.sh                    # 7 runs per failover case
#   RUNS=9 sudo -E bench/daemon.sh
#   ONLY=failover sudo -E bench/daemon.sh   # reaction | failover | soak
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
cargo bench -q -p mptcp-daemon --bench daemon -- "${args[@]}"
echo
echo "raw numbers: $OUT/daemon.json"
