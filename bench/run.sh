#!/usr/bin/env bash
# Throughput benchmark: `mptcp bench` against `mptcpize run iperf3` on the
# `mptcp lab` topology (client and server namespaces joined by tbf-shaped
# veth paths), same duration, same congestion control (cubic).
#
#   sudo bench/run.sh                 # 10 s per transfer, release build
#   DURATION=20 sudo -E bench/run.sh
#   MPTCP=target/release/mptcp sudo -E bench/run.sh
#
# Needs root, iperf3 and mptcpize (Debian: apt-get install iperf3 mptcpize),
# jq. Prints a Markdown table; the raw JSON of each run goes to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
OUT=${OUT:-${TMPDIR:-/tmp}/mptcp-bench}
MPTCP=${MPTCP:-target/release/mptcp}

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh needs root (it builds network namespaces); run it with sudo" >&2
    exit 1
fi
for t in iperf3 mptcpize jq; do
    command -v "$t" >/dev/null || { echo "bench/run.sh: $t is not installed (apt-get install iperf3 mptcpize jq)" >&2; exit 1; }
done
if [ ! -x "$MPTCP" ] || [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p mptcp-cli
fi
mkdir -p "$OUT"

# name | --rates | target fraction of the physical limit ("" = none)
SCENARIOS=(
    "2 x 50 Mbit/s|50mbit,50mbit|0.98"
    "10 + 40 Mbit/s|10mbit,40mbit|0.95"
    "4 x 25 Mbit/s|25mbit,25mbit,25mbit,25mbit|0.98"
    "2 x unshaped veth (CPU-bound)|unshaped,unshaped|"
)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- crates bench 2>/dev/null | grep -q . && echo "+local changes" || true)
echo "commit $commit$dirty, kernel $(uname -r), $(nproc) CPUs, ${DURATION} s per transfer, congestion cubic"
echo
echo "| paths | mptcp bench | mptcpize iperf3 | ours / iperf3 | ours / limit | iperf3 / limit | subflows | integrity | targets |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
fail=0
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name rates target <<<"$s"
    file="$OUT/$(echo "$rates" | tr ',' '_').json"
    if ! "$MPTCP" lab --rates "$rates" --phases mptcp,iperf3 --duration "$DURATION" --congestion cubic --json --no-plot >"$file"; then
        echo "| $name | lab failed, see $file | | | | | | | no |"
        fail=1
        continue
    fi
    row=$(jq -r --arg target "$target" '
        def mbit: if . == null or . == 0 then "-" else (. / 1e6 * 10 | round / 10 | tostring) + " Mbit/s" end;
        def fr: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;
        (.phases[] | select(.name == "mptcp")) as $m
        | (.phases[] | select(.name == "iperf3")) as $i
        | ($m.goodput_bps / (if $i.goodput_bps > 0 then $i.goodput_bps else null end)) as $ratio
        | (if $m.limit_bps then $i.goodput_bps / $m.limit_bps else null end) as $ifr
        | ($ratio != null and $ratio >= 1) as $beat
        | (if $target == "" then true else ($m.fraction_of_limit // 0) >= ($target | tonumber) end) as $lim
        | [ ($m.goodput_bps | mbit), ($i.goodput_bps | mbit), ($ratio | fr), ($m.fraction_of_limit | fr), ($ifr | fr),
            ($m.subflows | tostring), (if $m.verified then "verified" else "MISMATCH" end),
            ((if $beat then ">= iperf3: yes" else ">= iperf3: NO" end)
             + (if $target == "" then "" else (if $lim then ", >= " + $target + " of limit: yes" else ", >= " + $target + " of limit: NO" end) end)) ]
        | join(" | ")' "$file")
    echo "| $name | $row |"
    case "$row" in *NO*|*MISMATCH*) fail=1 ;; esac
done
echo
echo "limit = sum of path rates x payload per frame / frame size (MSS minus 24 bytes of MPTCP DSS option over MTU + 14); raw results in $OUT/"
exit $fail
