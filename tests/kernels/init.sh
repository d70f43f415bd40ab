#!/bin/sh
# /init of the initramfs that tests/kernels/run.sh boots under qemu (busybox sh).
# It prepares a minimal system, loads the kernel modules listed in
# /modules/order, runs /suite/probe and each suite binary, prints
#   MPTCP-KERNEL-RESULT: PASS|FAIL <passed> <failed>
# on the serial console and powers off. /etc/mptcp-kernel.env (written by
# run.sh) sets KERNEL_LABEL, MPTCP_EXPECT and SUITES.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
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

passed=0
failed=0
status=PASS
cd /tmp || status=FAIL
for s in $SUITES; do
    echo "---- suite $s: CI=true MPTCP_EXPECT=\"$MPTCP_EXPECT\" ./$s --test-threads=1 ----"
    rm -f /tmp/rc
    { CI=true MPTCP_EXPECT="$MPTCP_EXPECT" RUST_BACKTRACE=1 "/suite/$s" --test-threads=1 2>&1; echo $? > /tmp/rc; } | tee "/tmp/$s.log"
    rc=$(cat /tmp/rc 2>/dev/null || echo 255)
    # libtest: "test result: ok. 3 passed; 0 failed; 0 ignored; ..."
    counts=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } n++ }
                  END { printf "%d %d %d", n, p, f }' "/tmp/$s.log")
    # shellcheck disable=SC2086
    set -- $counts
    echo "---- end of suite $s: exit=$rc results=$1 passed=$2 failed=$3 ----"
    passed=$((passed + $2))
    failed=$((failed + $3))
    if [ "$rc" != 0 ] || [ "$1" = 0 ] || [ "$3" != 0 ]; then
        status=FAIL
    fi
done
[ "$passed" -gt 0 ] || status=FAIL
read -r up _ < /proc/uptime
echo "MPTCP-KERNEL-DONE: uptime=${up}s"
echo "MPTCP-KERNEL-RESULT: $status $passed $failed"
sync
poweroff -f
