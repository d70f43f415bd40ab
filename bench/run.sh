#!/usr/bin/env bash
# Benchmarks of `mptcp bench` on the `mptcp lab` topology (client and server
# namespaces joined by tbf-shaped veth paths), same duration, same
# congestion control (cubic), RUNS runs per row, medians with their ranges:
#
#   lab       one connection: `mptcp bench` (through `mptcp lab`) against
#             `mptcpize run iperf3`, and against the physical limit
#   parallel  -P 4: `mptcp bench client -P 4` against `mptcpize run iperf3 -P 4`
#   pacing    -b: achieved rate over the rate asked for, MPTCP (paced by the
#             application) and TCP (SO_MAX_PACING_RATE), iperf3 -b beside
#   rr        --rr and --crr: latency and rates, MPTCP next to TCP
#
#   sudo bench/run.sh                 # every section, 10 s per transfer
#   SECTIONS=parallel,rr sudo -E bench/run.sh
#   DURATION=20 RUNS=5 sudo -E bench/run.sh   # median of RUNS runs per row
#   MPTCP=target/release/mptcp sudo -E bench/run.sh
#
# Needs root, iperf3 and mptcpize (Debian: apt-get install iperf3 mptcpize),
# jq. Prints Markdown tables; the raw JSON of each run goes to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
OUT=${OUT:-${TMPDIR:-/tmp}/mptcp-bench}
MPTCP=${MPTCP:-target/release/mptcp}
SECTIONS=${SECTIONS:-lab,parallel,pacing,rr}
section() { case ",$SECTIONS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

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
rm -f "$OUT/runs.txt"

fail=0
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# "median (min-max)" of numbers on stdin, scaled by $1, printed with format $2.
stats() { sort -g | awk -v k="$1" -v f="$2" '{v[NR]=$1*k} END {if (NR==0) {print "-"; exit}
    m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
    printf f " (" f "-" f ")", m, v[1], v[NR]}'; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- crates bench 2>/dev/null | grep -q . && echo "+local changes" || true)
echo "commit $commit$dirty, kernel $(uname -r), $(nproc) CPUs, ${DURATION} s per transfer, congestion cubic, $RUNS runs per row"

if section lab; then
# name | --rates | target fraction of the physical limit ("" = none)
SCENARIOS=(
    "2 x 50 Mbit/s|50mbit,50mbit|0.98"
    "10 + 40 Mbit/s|10mbit,40mbit|0.95"
    "4 x 25 Mbit/s|25mbit,25mbit,25mbit,25mbit|0.98"
    "2 x unshaped veth (CPU-bound)|unshaped,unshaped|"
)

echo
echo "## One connection (lab), medians"
echo
echo "| paths | mptcp bench | mptcpize iperf3 | ours / iperf3 | ours / limit | iperf3 / limit | subflows | integrity | targets |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name rates target <<<"$s"
    ours=(); theirs=(); limit=0; subflows=9; integrity=verified
    for run in $(seq 1 "$RUNS"); do
        file="$OUT/$(echo "$rates" | tr ',' '_')-$run.json"
        if ! "$MPTCP" lab --rates "$rates" --phases mptcp,iperf3 --duration "$DURATION" --congestion cubic --json --no-plot >"$file"; then
            integrity="lab failed ($file)"
        fi
        read -r g l sf v i < <(jq -r '(.phases[] | select(.name == "mptcp")) as $m | (.phases[] | select(.name == "iperf3")) as $i
            | [$m.goodput_bps, ($m.limit_bps // 0), $m.subflows, $m.verified, $i.goodput_bps] | @tsv' "$file" 2>/dev/null || echo "0 0 0 false 0")
        ours+=("$g"); theirs+=("$i"); limit=$l
        [ "$sf" -lt "$subflows" ] && subflows=$sf
        [ "$v" = true ] || integrity=MISMATCH
    done
    o=$(printf '%s\n' "${ours[@]}" | median); t=$(printf '%s\n' "${theirs[@]}" | median)
    row=$(awk -v o="$o" -v t="$t" -v l="$limit" -v target="$target" -v sf="$subflows" -v integ="$integrity" -v runs="$RUNS" \
        -v all_o="$(printf '%s ' "${ours[@]}")" -v all_t="$(printf '%s ' "${theirs[@]}")" 'BEGIN {
        ratio = (t > 0) ? o / t : 0
        fo = (l > 0) ? sprintf("%.3f", o / l) : "-"; ft = (l > 0) ? sprintf("%.3f", t / l) : "-"
        verdict = (ratio >= 1) ? ">= iperf3: yes" : ">= iperf3: NO"
        if (target != "") verdict = verdict ", >= " target " of limit: " ((l > 0 && o / l >= target) ? "yes" : "NO")
        printf "%.1f Mbit/s | %.1f Mbit/s | %.3f | %s | %s | %d | %s | %s", o / 1e6, t / 1e6, ratio, fo, ft, sf, integ, verdict
    }')
    echo "| $name | $row |"
    runs_o=""; for g in "${ours[@]}"; do runs_o+="$(awk -v g="$g" 'BEGIN{printf "%.1f ", g/1e6}')"; done
    runs_t=""; for g in "${theirs[@]}"; do runs_t+="$(awk -v g="$g" 'BEGIN{printf "%.1f ", g/1e6}')"; done
    echo "$name: ours [ $runs_o] iperf3 [ $runs_t] Mbit/s" >>"$OUT/runs.txt"
    case "$row" in *NO*|*MISMATCH*|*failed*) fail=1 ;; esac
done
echo
echo "Every run (Mbit/s):"
sed 's/^/    /' "$OUT/runs.txt"
echo
echo "limit = sum of path rates x payload per frame / frame size (MSS minus 24 bytes of MPTCP DSS option, over MTU + 14)."
echo "Raw JSON of every run: $OUT/"
fi

# shellcheck source=bench/sections.sh
source "$(dirname "$0")/sections.sh"
exit $fail
