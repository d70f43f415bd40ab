#!/usr/bin/env bash
# What the BPF hook of `mptcp run --via bpf` adds to socket(): the cost of
# socket(AF_INET, SOCK_STREAM, 0) + close() in a tight loop (a small C
# program, built here with gcc), RUNS runs per row, median (min-max) in ns
# per pair, with ratios against no hook:
#
#   tcp, no hook          the loop alone (TCP sockets)
#   mptcp, no hook        the loop asking for IPPROTO_MPTCP itself: what a
#                         converted socket costs without any hook
#   bpf, out of scope     TCP sockets of a process outside a run while a
#                         `mptcp run --via bpf` is attached (the hook runs and
#                         leaves the socket alone)
#   bpf, in scope         the loop under `mptcp run --via bpf` (converted)
#   preload               the loop under `mptcp run --via preload` (converted)
#
#   sudo bench/bpf.sh                       # 7 runs of 200000 pairs per row
#   RUNS=11 N=500000 sudo -E bench/bpf.sh
#   MPTCP=target/release/mptcp sudo -E bench/bpf.sh
#
# Needs root (BPF) and gcc. Where the hook cannot be attached (kernel before
# 6.6, a kernel that refuses fmod_ret programs, MPTCP disabled) its rows say
# why instead of a number. Numbers from a loaded machine (see `uptime`, printed
# first) are not worth comparing.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
N=${N:-200000}
MPTCP=${MPTCP:-target/release/mptcp}
OUT=${OUT:-${TMPDIR:-/tmp}/mptcp-bench-bpf}

if [ "$(id -u)" != 0 ]; then
    echo "bench/bpf.sh needs root (BPF programs); run it with sudo" >&2
    exit 1
fi
command -v gcc >/dev/null || { echo "bench/bpf.sh: gcc is not installed (apt-get install gcc)" >&2; exit 1; }
if [ ! -x "$MPTCP" ] || [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p mptcp-cli
fi
mkdir -p "$OUT"

cat >"$OUT/sockloop.c" <<'EOF'
/* socket()+close() N times; prints nanoseconds per pair. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int proto = argc > 2 ? atoi(argv[2]) : 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, proto);
        if (fd < 0) { perror("socket"); return 1; }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
EOF
gcc -O2 -o "$OUT/sockloop" "$OUT/sockloop.c"
LOOP=$OUT/sockloop

# "median (min-max)" of the numbers on stdin.
stats() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "-"; exit}
    m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
    printf "%.0f (%.0f-%.0f)", m, v[1], v[NR]}'; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "commit $commit, kernel $(uname -r), $(nproc) CPUs, $N socket()+close() pairs per run, $RUNS runs per row"
echo "load: $(uptime | sed 's/.*load average/load average/')"

# Whether the hook can be attached here, and why not.
why=""
if ! probe=$("$MPTCP" run --via bpf -- true 2>&1); then
    why=$(printf '%s' "$probe" | sed -n 's/^mptcp: error: //p' | head -1)
elif printf '%s' "$probe" | grep -q 'nothing attached'; then
    why=$(printf '%s' "$probe" | sed -n 's/^mptcp run: //p' | head -1)
fi

# Rows are interleaved (one run of each per round, RUNS rounds), so that a
# change of load during the script spreads over every row alike.
declare -A rows
names=("tcp, no hook" "mptcp, no hook" "preload")
declare -A cmds=(
    ["tcp, no hook"]="$LOOP $N"
    ["mptcp, no hook"]="$LOOP $N 262"
    ["preload"]="$MPTCP run --via preload -- $LOOP $N"
)
holder=""
trap '[ -z "$holder" ] || kill "$holder" 2>/dev/null || true' EXIT
if [ -z "$why" ]; then
    names+=("bpf, in scope" "bpf, out of scope")
    cmds["bpf, in scope"]="$MPTCP run --via bpf -- $LOOP $N"
    cmds["bpf, out of scope"]="$LOOP $N"
fi
for _ in $(seq 1 "$RUNS"); do
    for name in "${names[@]}"; do
        if [ "$name" = "bpf, out of scope" ]; then
            # A run holds the hook meanwhile; this loop is outside its tree.
            "$MPTCP" run --via bpf -- sleep 600 &
            holder=$!
            sleep 0.3
        fi
        # shellcheck disable=SC2086 # the command line is split on purpose
        v=$(${cmds[$name]})
        rows[$name]+="$v"$'\n'
        if [ -n "$holder" ]; then
            kill "$holder" 2>/dev/null || true
            wait "$holder" 2>/dev/null || true
            holder=""
        fi
    done
done

base=$(printf '%s' "${rows["tcp, no hook"]}" | median)
echo
echo "| socket()+close() | ns per pair, median (min-max) | / tcp, no hook |"
echo "|---|---:|---:|"
for name in "tcp, no hook" "mptcp, no hook" "bpf, out of scope" "bpf, in scope" "preload"; do
    if [ -z "${rows[$name]:-}" ]; then
        echo "| $name | not measured: ${why:-?} | - |"
        continue
    fi
    m=$(printf '%s' "${rows[$name]}" | median)
    echo "| $name | $(printf '%s' "${rows[$name]}" | stats) | $(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2f", a / b }') |"
done
