# shellcheck shell=bash
# Sections of bench/run.sh that drive `mptcp bench client` directly (sourced
# by run.sh, which sets MPTCP, DURATION, RUNS, OUT, SECTIONS, section,
# stats and fail). They build the lab's topology themselves: namespaces
# mptcp-<pid>-<n>-bench{cli,srv}, removed on exit and on Ctrl-C.

NS_C="mptcp-$$-0-benchcli"
NS_S="mptcp-$$-1-benchsrv"
PIDS=()

topo_down() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
    # Whatever else still runs in our namespaces.
    for p in $(ip netns pids "$NS_S" 2>/dev/null) $(ip netns pids "$NS_C" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS_C" 2>/dev/null || true
    ip netns del "$NS_S" 2>/dev/null || true
}
trap topo_down EXIT
trap 'topo_down; exit 130' INT TERM

# topo_up RATE... : one veth path per rate (tc rate such as 50mbit, or
# "unshaped"), 10.(100+i).0.1 <-> 10.(100+i).0.2; the server announces its
# other addresses; a bench server and an iperf3 server listen in it.
topo_up() {
    topo_down
    ip netns add "$NS_C"
    ip netns add "$NS_S"
    ip -n "$NS_C" link set lo up
    ip -n "$NS_S" link set lo up
    local i=0 n=$#
    for rate in "$@"; do
        ip link add "bc$$_$i" netns "$NS_C" type veth peer name "bs$$_$i" netns "$NS_S"
        ip -n "$NS_C" link set "bc$$_$i" name "p$i"
        ip -n "$NS_S" link set "bs$$_$i" name "p$i"
        ip -n "$NS_C" addr add "10.$((100 + i)).0.1/24" dev "p$i"
        ip -n "$NS_S" addr add "10.$((100 + i)).0.2/24" dev "p$i"
        ip -n "$NS_C" link set "p$i" up
        ip -n "$NS_S" link set "p$i" up
        if [ "$rate" != unshaped ]; then
            for ns in "$NS_C" "$NS_S"; do
                ip netns exec "$ns" tc qdisc replace dev "p$i" root tbf rate "$rate" burst 32kb latency 50ms
            done
        fi
        [ "$i" -gt 0 ] && ip -n "$NS_S" mptcp endpoint add "10.$((100 + i)).0.2" dev "p$i" signal
        i=$((i + 1))
    done
    ip -n "$NS_S" mptcp limits set subflows $((n - 1)) add_addr_accepted 0
    ip -n "$NS_C" mptcp limits set subflows $((n - 1)) add_addr_accepted $((n - 1))
    ip netns exec "$NS_S" "$MPTCP" bench server --bind 0.0.0.0 --json >/dev/null 2>&1 &
    PIDS+=($!)
    ip netns exec "$NS_S" mptcpize run iperf3 -s -p 5202 >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 1
}

ours() { ip netns exec "$NS_C" "$MPTCP" bench client 10.100.0.2 "$@"; }
theirs() { ip netns exec "$NS_C" mptcpize run iperf3 -c 10.100.0.2 -p 5202 -C cubic "$@"; }

# One row per topology: -P 4, ours against mptcpize iperf3 -P 4.
if section parallel; then
    echo
    echo "## -P 4: mptcp bench against mptcpize run iperf3 (Mbit/s, median (min-max) of $RUNS)"
    echo
    echo "| paths | mptcp bench -P 4 | mptcpize iperf3 -P 4 | ours / iperf3 (median) | connections | integrity |"
    echo "|---|---:|---:|---:|---:|---|"
    for topo in "2 x 50 Mbit/s|50mbit 50mbit" "2 x unshaped veth (CPU-bound)|unshaped unshaped"; do
        IFS='|' read -r name rates <<<"$topo"
        # shellcheck disable=SC2086
        topo_up $rates
        o=(); t=(); conns=9; integ=verified
        for run in $(seq 1 "$RUNS"); do
            f="$OUT/parallel-$(echo "$rates" | tr ' ' '_')-$run"
            ours -P 4 -t "$DURATION" --json >"$f-ours.json" || integ="failed ($f-ours.json)"
            theirs -P 4 -t "$DURATION" -J >"$f-iperf3.json" || true
            o+=("$(jq -r '.goodput_bps // 0' "$f-ours.json")")
            t+=("$(jq -r '.end.sum_received.bits_per_second // 0' "$f-iperf3.json")")
            c=$(jq -r '.streams | length' "$f-ours.json"); [ "$c" -lt "$conns" ] && conns=$c
            [ "$(jq -r '.integrity.verified' "$f-ours.json")" = true ] || integ=MISMATCH
        done
        om=$(printf '%s\n' "${o[@]}" | median); tm=$(printf '%s\n' "${t[@]}" | median)
        ratio=$(awk -v o="$om" -v t="$tm" 'BEGIN { printf "%.3f", (t > 0) ? o / t : 0 }')
        echo "| $name | $(printf '%s\n' "${o[@]}" | stats 1e-6 %.1f) | $(printf '%s\n' "${t[@]}" | stats 1e-6 %.1f) | $ratio | $conns | $integ |"
        case "$integ" in verified) ;; *) fail=1 ;; esac
    done
    topo_down
fi

# Pacing accuracy on two unshaped paths: achieved goodput over the rate
# asked for, per connection.
if section pacing; then
    echo
    echo "## -b: achieved / asked (median (min-max) of $RUNS), 2 unshaped paths"
    echo
    echo "| rate asked | mptcp bench, MPTCP (application) | mptcp bench --tcp (SO_MAX_PACING_RATE) | mptcpize iperf3 -b (MPTCP) |"
    echo "|---|---:|---:|---:|"
    topo_up unshaped unshaped
    for rate in 10M 100M 1G; do
        bps=$(awk -v r="$rate" 'BEGIN { m = substr(r, length(r)); v = substr(r, 1, length(r) - 1);
            print v * (m == "G" ? 1e9 : m == "M" ? 1e6 : 1e3) }')
        m=(); t=(); i=()
        for run in $(seq 1 "$RUNS"); do
            f="$OUT/pacing-$rate-$run"
            ours -b "$rate" -t "$DURATION" --json >"$f-mptcp.json" || true
            ours --tcp -b "$rate" -t "$DURATION" --json >"$f-tcp.json" || true
            theirs -b "$rate" -t "$DURATION" -J >"$f-iperf3.json" || true
            m+=("$(jq -r '.goodput_bps // 0' "$f-mptcp.json")")
            t+=("$(jq -r '.goodput_bps // 0' "$f-tcp.json")")
            i+=("$(jq -r '.end.sum_received.bits_per_second // 0' "$f-iperf3.json")")
        done
        k=$(awk -v b="$bps" 'BEGIN { print 1 / b }')
        echo "| $rate | $(printf '%s\n' "${m[@]}" | stats "$k" %.3f) | $(printf '%s\n' "${t[@]}" | stats "$k" %.3f) | $(printf '%s\n' "${i[@]}" | stats "$k" %.3f) |"
    done
    topo_down
fi

# Request/response: latency and rates, MPTCP next to TCP (no netperf in
# Debian main to compare with).
if section rr; then
    echo
    echo "## --rr and --crr on 2 x 50 Mbit/s (median (min-max) of $RUNS; 1-byte messages)"
    echo
    echo "| test | protocol | rate per s | p50 | p90 | p99 | max |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    topo_up 50mbit 50mbit
    for mode in rr crr; do
        for run in $(seq 1 "$RUNS"); do
            ours "--$mode" -t "$DURATION" --json >"$OUT/$mode-$run.json" || fail=1
        done
        for k in 0 1; do
            col() { for run in $(seq 1 "$RUNS"); do jq -r ".results[$k]$1 // 0" "$OUT/$mode-$run.json"; done; }
            proto=$(jq -r ".results[$k].protocol" "$OUT/$mode-1.json")
            echo "| --$mode | $proto | $(col .rate_per_s | stats 1 %.0f) | $(col .latency.p50_us | stats 1 '%.0f us') | $(col .latency.p90_us | stats 1 '%.0f us') | $(col .latency.p99_us | stats 1 '%.0f us') | $(col .latency.max_us | stats 1 '%.0f us') |"
        done
    done
    topo_down
fi
