#!/bin/sh
# /init of the initramfs that tests/kernels/run.sh boots under qemu (busybox sh).
# It prepares a minimal system, loads the kernel modules listed in
# /modules/order, runs /suite/probe and each suite binary, prints
#   MPTCP-KERNEL-RESULT: PASS|FAIL <passed> <failed>
# on the serial console and powers off. /etc/mptcp-kernel.env (written by
# run.sh) sets KERNEL_LABEL, MPTCP_EXPECT, SUITES and, per suite, ARGS_<suite>
# (libtest arguments: the tests this kernel skips).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# /tmp stays part of the initramfs: the test binaries and `mptcp` sit at
# the paths cargo built them at, which may be under /tmp.
mkdir -p /tmp && chmod 1777 /tmp
mkdir -p /run/netns /run/lock
# Kernel messages (e.g. a WARN from MPTCP) still reach the console, but not
# the informational ones that would interleave with the suite's output.
echo 4 > /proc/sys/kernel/printk 2>/dev/null

# shellcheck disable=SC1091
. /etc/mptcp-kernel.env
hostname "kernel-$KERNEL_LABEL"
read -r up _ < /proc/uptime
echo "MPTCP-KERNEL-BOOT: label=$KERNEL_LABEL release=$(uname -r) uptime=${up}s"

if [ -f /modules/order ]; then
    while read -r m; do
        [ -n "$m" ] || continue
        out=$(insmod "/modules/$m" 2>&1) || echo "MPTCP-KERNEL-WARN: insmod $m: $out"
    done < /modules/order
fi
ip link set lo up
read -r up _ < /proc/uptime
echo "MPTCP-KERNEL-READY: uptime=${up}s modules=$(wc -l < /proc/modules)"

echo "---- probe ----"
/suite/probe
echo "---- end of probe ----"

# Environment check: every tool the scenarios use, in a throw-away namespace
# pair. A failure here points at the image (missing module or library), not at
# the crate. It fails the kernel too: a broken image proves nothing.
echo "---- environment ----"
envfail=""
# busybox ash runs its own applet for a bare name (ip, sysctl, ...) whatever
# PATH says: name the real tools by path. (Child processes use PATH as usual.)
check() {
    cmd=$1
    shift
    [ ! -x "/usr/sbin/$cmd" ] || cmd=/usr/sbin/$cmd
    if out=$("$cmd" "$@" 2>&1); then
        echo "ENV ok: $cmd $*"
    else
        echo "ENV FAILED: $cmd $*: $out"
        envfail="$envfail [$cmd $*]"
    fi
}
check ip netns add kenv-a
check ip netns add kenv-b
check ip link add kenv0 netns kenv-a type veth peer name kenv1 netns kenv-b
check ip -n kenv-a addr add 10.99.0.1/24 dev kenv0
check ip -n kenv-b addr add 10.99.0.2/24 dev kenv1
check ip -n kenv-a link set kenv0 up
check ip -n kenv-b link set kenv1 up
check ip -n kenv-a link set lo up
check ip netns exec kenv-a tc qdisc add dev kenv0 root tbf rate 50mbit burst 32kb latency 50ms
check ip netns exec kenv-b tc qdisc add dev kenv1 root handle 1: htb default 1
check ip netns exec kenv-b tc class add dev kenv1 parent 1: classid 1:1 htb rate 50mbit
check ip netns exec kenv-a ping -c1 -W2 10.99.0.2
case " $MPTCP_EXPECT " in
*" mptcp=yes "*)
    check ip netns exec kenv-a sysctl -qw net.mptcp.enabled=1
    check ip netns exec kenv-a sysctl -n net.mptcp.enabled
    check ip netns exec kenv-a ip mptcp endpoint add 10.99.0.1 dev kenv0 subflow
    check ip netns exec kenv-a ip mptcp limits set subflows 2 add_addr_accepted 2
    check ip netns exec kenv-a ip mptcp endpoint show
    ;;
*)
    # No MPTCP expected: the kernel's own tools must agree.
    if out=$(/usr/sbin/ip netns exec kenv-a /usr/sbin/ip mptcp endpoint show 2>&1); then
        echo "ENV FAILED: ip mptcp endpoint show works on a kernel expected without MPTCP: $out"
        envfail="$envfail [ip mptcp works]"
    else
        echo "ENV ok: ip mptcp endpoint show fails, as expected: $out"
    fi
    ;;
esac
case " $MPTCP_EXPECT " in
*" mptcp=yes "*)
    # The middlebox that strips MPTCP (only the MPTCP tests use it).
    for ipt in iptables iptables-legacy; do
        check ip netns exec kenv-b "$ipt" -w -t mangle -A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j TCPOPTSTRIP --strip-options 30
        check ip netns exec kenv-b "$ipt" -w -A INPUT -p tcp --tcp-option 30 --syn -j DROP
        check ip netns exec kenv-b "$ipt" -w -t mangle -S
        check ip netns exec kenv-b "$ipt" -w -t mangle -F
        check ip netns exec kenv-b "$ipt" -w -F
    done
    check ip netns exec kenv-b ip6tables -w -t mangle -A OUTPUT -p tcp -j TCPOPTSTRIP --strip-options 30
    check ip netns exec kenv-a ss -tanM
    check ip netns exec kenv-a grep -q MPTcpExt /proc/net/netstat
    ;;
esac
for t in python3 curl iperf3 mptcpize setpriv; do
    [ ! -e "/usr/bin/$t" ] || check "/usr/bin/$t" --version
done
check ip netns del kenv-a
check ip netns del kenv-b
if [ -z "$envfail" ]; then
    echo "MPTCP-KERNEL-ENV: ok"
else
    echo "MPTCP-KERNEL-ENV: FAILED$envfail"
fi
echo "---- end of environment ----"

passed=0
failed=0
status=PASS
cd /tmp || status=FAIL
for s in $SUITES; do
    args=""
    eval "args=\${ARGS_$s:-}"
    echo "---- suite $s: CI=true MPTCP_EXPECT=\"$MPTCP_EXPECT\" ./$s --test-threads=1 --include-ignored $args ----"
    rm -f /tmp/rc
    read -r t0 _ < /proc/uptime
    # shellcheck disable=SC2086 # $args: separate words
    { CI=true MPTCP_EXPECT="$MPTCP_EXPECT" RUST_BACKTRACE=1 "/suite/$s" --test-threads=1 --include-ignored $args 2>&1; echo $? > /tmp/rc; } | tee "/tmp/$s.log"
    read -r t1 _ < /proc/uptime
    rc=$(cat /tmp/rc 2>/dev/null || echo 255)
    # libtest: "test result: ok. 3 passed; 0 failed; 0 ignored; ..."
    counts=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } n++ }
                  END { printf "%d %d %d", n, p, f }' "/tmp/$s.log")
    # shellcheck disable=SC2086
    set -- $counts
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
    echo "---- end of suite $s: exit=$rc results=$1 passed=$2 failed=$3 secs=$secs ----"
    passed=$((passed + $2))
    failed=$((failed + $3))
    if [ "$rc" != 0 ] || [ "$1" = 0 ] || [ "$3" != 0 ]; then
        status=FAIL
    fi
done
# Suites given but no test ran: that is no proof of anything.
[ -z "$SUITES" ] || [ "$passed" -gt 0 ] || status=FAIL
[ -z "$envfail" ] || status=FAIL
read -r up _ < /proc/uptime
echo "MPTCP-KERNEL-DONE: uptime=${up}s"
echo "MPTCP-KERNEL-RESULT: $status $passed $failed"
sync
poweroff -f
