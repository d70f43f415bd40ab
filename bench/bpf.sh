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
#   sudo bench/bpf.sh --guest 6.12          # inside a kernel of the qemu matrix
#
# --guest LABEL boots the kernel matrix's image of LABEL (from the last run
# of tests/kernels/run.sh; started with `--suite run_bpf LABEL` when there is
# none) with this script, bash, a static build of the loop and the release
# `mptcp` added, runs the rows in there and prints the table: for hosts whose
# kernel refuses BPF trampolines, like ours. qemu emulates the CPU (no KVM
# here): times are several times the host's; read the ratios of one run.
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
[ -n "${LOOP:-}" ] || command -v gcc >/dev/null || { echo "bench/bpf.sh: gcc is not installed (apt-get install gcc)" >&2; exit 1; }
if [ ! -x "$MPTCP" ] || [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p mptcp-cli
fi
mkdir -p "$OUT"

# The measured loop: socket()+close() N times (protocol argv[2], default 0);
# prints nanoseconds per pair.
loop_source() {
    cat <<'EOF'
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
}

if [ "${1:-}" = --guest ]; then
    label=${2:?--guest needs a kernel label of the matrix (5.10, 6.1, 6.12, sid)}
    work=${KERNELS_WORK:-$PWD/target/kernels}
    kdir=${KERNELS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mptcp-kernels}/kernels/$label
    if [ ! -f "$work/$label/initrd" ] || [ ! -f "$kdir/vmlinuz" ]; then
        echo "bench/bpf.sh: no image of $label yet: tests/kernels/run.sh --suite run_bpf $label" >&2
        tests/kernels/run.sh --suite run_bpf "$label" >/dev/null ||
            { echo "bench/bpf.sh: tests/kernels/run.sh --suite run_bpf $label failed" >&2; exit 1; }
    fi
    root=$(mktemp -d)
    initrd=$(mktemp)
    trap 'rm -rf "$root" "$initrd"' EXIT
    mkdir -p "$root/bench" "$root/suite" "$root/etc"
    # The loop, static: the guest has no compiler.
    loop_source | gcc -O2 -static -o "$root/bench/sockloop" -x c -
    cp "$MPTCP" "$root/bench/mptcp"
    cp "$0" "$root/bench/bpf.sh"
    # bash (this script needs it; the guest's shell is busybox) and its libraries.
    for f in /bin/bash $(ldd /bin/bash | grep -oE '/[^ ]+'); do
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
    done
    {
        zstd -dc "$work/$label/kernel.cpio.zst" | cpio -i --to-stdout --quiet etc/mptcp-kernel.env |
            grep -E '^(KERNEL_LABEL|MPTCP_EXPECT)='
        printf 'SUITES="bpfcost"\nARGS_bpfcost=""\n'
    } > "$root/etc/mptcp-kernel.env"
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    # Run by the guest's init as a suite; it says "test result" as libtest does.
    {
        echo '#!/bin/sh'
        echo "if COMMIT=$commit NO_BUILD=1 MPTCP=/bench/mptcp LOOP=/bench/sockloop RUNS=$RUNS N=$N OUT=/tmp/bpfcost /bin/bash /bench/bpf.sh; then"
        echo '    echo "test result: ok. 1 passed; 0 failed; 0 ignored"'
        echo 'else'
        echo '    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored"'
        echo 'fi'
    } > "$root/suite/bpfcost"
    chmod 755 "$root/suite/bpfcost"
    # A third archive after the image's two: its files replace theirs.
    { cat "$work/$label/initrd"; (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | zstd -q -3); } > "$initrd"
    console=$OUT/guest-$label.log
    echo "bench/bpf.sh in the $label guest (qemu -accel ${KERNEL_ACCEL:-tcg,thread=single}); console: $console" >&2
    timeout -k 10 "${KERNEL_TIMEOUT:-1200}" qemu-system-x86_64 -accel "${KERNEL_ACCEL:-tcg,thread=single}" -cpu max \
        -m "${KERNEL_MEM:-1536}" -smp 2 -nographic -no-reboot -nic none -display none \
        -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1 quiet" < /dev/null 2>&1 |
        tr -d '\r' > "$console" || true
    sed -n '/^commit /,/^test result/p' "$console" | grep -v '^test result'
    grep -q '^test result: ok' "$console" || { echo "bench/bpf.sh: the guest run failed (console: $console)" >&2; exit 1; }
    exit 0
fi

if [ -z "${LOOP:-}" ]; then
    loop_source > "$OUT/sockloop.c"
    gcc -O2 -o "$OUT/sockloop" "$OUT/sockloop.c"
    LOOP=$OUT/sockloop
fi

# "median (min-max)" of the numbers on stdin.
stats() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "-"; exit}
    m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
    printf "%.0f (%.0f-%.0f)", m, v[1], v[NR]}'; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
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
