#!/usr/bin/env bash
# Run the `mptcp` crate's `scenarios` integration tests inside Debian kernels
# (6.1 and 6.12) booted under qemu (TCG, no KVM needed). See README.md.
#
#   tests/kernels/run.sh [--keep] [--suite NAME]... [6.1|6.12]...
#
# Needs root (apt-get, and the guest runs the suite as root). Exit status:
# 0 every kernel passed, 1 a kernel failed (or printed no result marker),
# 2 the setup failed (missing package, build error, ...).
set -Eeuo pipefail
trap 'echo "kernels: error: unexpected failure at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${KERNELS_WORK:-$HERE/work}
KEEP=${KEEP_WORK:-0}
TIMEOUT=${KERNEL_TIMEOUT:-300}
MEM=${KERNEL_MEM:-1024}
# One host thread for both vCPUs: with multi-threaded TCG, Debian's 6.12 now
# and then dies at boot with "Oops: int3" in code being live-patched
# (text_poke_bp) on the other vCPU.
ACCEL=${KERNEL_ACCEL:-tcg,thread=single}
SUITES=${KERNEL_SUITES:-scenarios}
ALL_KERNELS=(6.1 6.12)

# Kernel modules the suite needs when they are modular (built-in ones are
# skipped); dependencies are resolved with the package's own modules.dep.
MODULES=(
    veth dummy
    sch_tbf sch_htb sch_prio sch_netem
    x_tables xt_tcpudp xt_TCPOPTSTRIP xt_mark xt_comment xt_multiport
    ip_tables iptable_filter iptable_mangle iptable_raw
    ip6_tables ip6table_filter ip6table_mangle ip6table_raw
    nf_tables nft_compat
    inet_diag tcp_diag udp_diag mptcp_diag
    tcp_bbr
)
read -r -a EXTRA_MODULES <<< "${KERNEL_EXTRA_MODULES:-}"

usage() {
    cat <<EOF
usage: $0 [--keep] [--suite NAME]... [KERNEL]...

Boots each KERNEL (default: ${ALL_KERNELS[*]}) under qemu and runs the test
suites inside it, then prints one line per kernel and exits non-zero if any
kernel failed.

  --keep         reuse the cached kernel packages in $WORK without asking apt
                 for newer ones (also KEEP_WORK=1)
  --suite NAME   what to run in the guest (repeatable; default: $SUITES):
                   scenarios  cargo test -p multipath-tcp --test scenarios
                   netns      cargo test -p mptcp-netns --lib (smoke test)
                   none       only the probe (probe.c)
Environment: KERNEL_TIMEOUT (s, per kernel, default $TIMEOUT), KERNEL_MEM (MiB),
KERNEL_ACCEL (qemu -accel, default $ACCEL), MPTCP_EXPECT_6_1 / MPTCP_EXPECT_6_12
(replace a kernel's expectation),
KERNEL_EXTRA_MODULES ("mod1 mod2"), KERNELS_WORK (cache dir), CARGO.
EOF
}

log() { printf 'kernels: %s\n' "$*"; }
die() {
    printf 'kernels: error: %s\n' "$*" >&2
    exit 2
}

KERNELS=()
suites_set=0
while [ $# -gt 0 ]; do
    case $1 in
        --keep) KEEP=1 ;;
        --suite)
            [ $# -ge 2 ] || die "--suite needs a name"
            if [ $suites_set = 0 ]; then SUITES=""; suites_set=1; fi
            SUITES="${SUITES:+$SUITES }$2"
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        6.1 | 6.12) KERNELS+=("$1") ;;
        *) usage >&2; die "unknown argument '$1' (kernels: ${ALL_KERNELS[*]})" ;;
    esac
    shift
done
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=("${ALL_KERNELS[@]}")
[ "$SUITES" != none ] || SUITES=""
for s in $SUITES; do
    case $s in scenarios | netns) ;; *) die "unknown suite '$s' (scenarios, netns, none)" ;; esac
done

# What each kernel has, as the scenarios binary expects it in MPTCP_EXPECT
# (`best`: the status mechanism mptcp::host_support() must pick). The probe
# (probe.c) checks the keys it measures independently in every guest.
expect_for() {
    # Overrides, e.g. to try another expectation: MPTCP_EXPECT_6_1, MPTCP_EXPECT_6_12.
    local over="MPTCP_EXPECT_${1//./_}"
    if [ -n "${!over:-}" ]; then
        echo "${!over}"
        return 0
    fi
    case $1 in
        6.1) echo "tcp_is_mptcp=no full_info=no mptcp_info=yes info_len=48 best=mptcp-info" ;;
        6.12) echo "tcp_is_mptcp=yes full_info=yes mptcp_info=yes info_len=96 best=tcp-is-mptcp" ;;
    esac
}

# apt-cache regexes: the unsigned image first (same vmlinuz, no shim), then the signed one.
patterns_for() {
    case $1 in
        6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$ ^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
        6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$ ^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
    esac
}

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and the guest suite creates network namespaces)"
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$WORK/debs"

apt_updated=0
apt_update() {
    [ $apt_updated = 0 ] || return 0
    log "apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed (is a Debian mirror reachable?)"
    apt_updated=1
}

apt_install() {
    apt_update
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed; install it by hand and retry"
}

# ---------------------------------------------------------------- host tools
host_tools() {
    local missing=() pair
    for pair in qemu-system-x86_64:qemu-system-x86 cpio:cpio depmod:kmod modprobe:kmod \
        gcc:gcc strip:binutils xz:xz-utils zstd:zstd ip:iproute2 tc:iproute2 ss:iproute2 \
        xtables-nft-multi:iptables xtables-legacy-multi:iptables sysctl:procps \
        timeout:coreutils gzip:gzip; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
    # busybox-static: the guest's shell, mount, insmod, ping, ...
    if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
        missing+=(busybox-static)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        apt_install "${missing[@]}"
    fi
    BUSYBOX=$(command -v busybox) || die "busybox not found after installing busybox-static"
    if ldd "$BUSYBOX" >/dev/null 2>&1; then
        die "$BUSYBOX is dynamically linked: install busybox-static"
    fi
}

# ------------------------------------------------------------ kernel packages
backports_configured() {
    grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}

add_backports() {
    log "adding bookworm-backports to /etc/apt/sources.list.d/mptcp-kernels-backports.sources"
    cat > /etc/apt/sources.list.d/mptcp-kernels-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=0
    apt_update
}

# Prints the newest package matching one of the label's patterns that apt can
# download (apt-cache search also lists names without a candidate version).
newest_package() {
    local re name cand pats
    read -r -a pats <<< "$(patterns_for "$1")"
    for re in "${pats[@]}"; do
        while read -r name; do
            cand=$(apt-cache policy "$name" 2>/dev/null | awk '/Candidate:/ { print $2 }')
            if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
                echo "$name"
                return 0
            fi
        done < <(apt-cache search --names-only "$re" | awk '{ print $1 }' | sort -rV)
    done
    return 1
}

# Sets DEB to the cached or freshly downloaded kernel package of label $1.
fetch_kernel() {
    local label=$1 pkg
    DEB=""
    if [ "$KEEP" = 1 ] && [ -f "$WORK/$label.deb-name" ]; then
        DEB=$WORK/debs/$(cat "$WORK/$label.deb-name")
        if [ -f "$DEB" ]; then
            log "$label: reusing $DEB (--keep)"
            return 0
        fi
    fi
    apt_update
    if ! pkg=$(newest_package "$label"); then
        if [ "$label" = 6.12 ] && ! backports_configured; then
            add_backports
            pkg=$(newest_package "$label") || true
        fi
        [ -n "${pkg:-}" ] || die "$label: no package matching '$(patterns_for "$label")' is available from apt (apt-cache policy 'linux-image-$label*'; 6.12 comes from bookworm-security or bookworm-backports)"
    fi
    local ver file
    ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
    file="${pkg}_${ver//:/%3a}_amd64.deb"
    if [ ! -f "$WORK/debs/$file" ]; then
        log "$label: downloading $pkg $ver"
        # Drop older cached images of this label to bound the cache.
        local pats old
        read -r -a pats <<< "$(patterns_for "$label")"
        for old in "${pats[@]}"; do
            old=${old#^}
            old=${old%$}
            find "$WORK/debs" -maxdepth 1 -name '*.deb' -printf '%f\n' |
                { grep -E "^${old}_" || true; } | while read -r f; do rm -f "$WORK/debs/$f"; done
        done
        (cd "$WORK/debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver") ||
            die "$label: apt-get download $pkg=$ver failed"
        if [ ! -f "$WORK/debs/$file" ]; then
            file=$(find "$WORK/debs" -maxdepth 1 -name "${pkg}_*.deb" -printf '%f\n' | sort -V | tail -n1)
            [ -n "$file" ] || die "$label: apt-get download $pkg left no .deb in $WORK/debs"
        fi
    else
        log "$label: $pkg $ver already downloaded"
    fi
    DEB=$WORK/debs/$file
    echo "$file" > "$WORK/$label.deb-name"
}

# Extracts vmlinuz and the needed modules (decompressed, in load order) of
# package $DEB into $WORK/$label/kernel, unless already done for that package.
prepare_kernel() {
    local label=$1 kdir=$WORK/$1/kernel stamp
    stamp="$(basename "$DEB") ${MODULES[*]} ${EXTRA_MODULES[*]}"
    if [ -f "$kdir/stamp" ] && [ "$(cat "$kdir/stamp")" = "$stamp" ]; then
        KVER=$(cat "$kdir/release")
        return 0
    fi
    log "$label: extracting $(basename "$DEB")"
    rm -rf "$kdir" "$WORK/$label/deb"
    mkdir -p "$kdir/modules" "$WORK/$label/deb"
    local x=$WORK/$label/deb
    dpkg-deb -x "$DEB" "$x" || die "$label: dpkg-deb -x $DEB failed (corrupt download? delete it and retry)"
    local vmlinuz
    vmlinuz=$(find "$x/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n1)
    [ -n "$vmlinuz" ] || die "$label: no boot/vmlinuz-* in $(basename "$DEB")"
    KVER=${vmlinuz##*/vmlinuz-}
    [ -d "$x/lib/modules/$KVER" ] || die "$label: no lib/modules/$KVER in $(basename "$DEB")"
    cp "$vmlinuz" "$kdir/vmlinuz"
    cp "$x/boot/config-$KVER" "$kdir/config" 2>/dev/null || true
    log "$label: depmod $KVER"
    depmod -b "$x" "$KVER" || die "$label: depmod failed"
    local m line path name seen=" "
    : > "$kdir/modules/order"
    for m in "${MODULES[@]}" "${EXTRA_MODULES[@]}"; do
        if ! out=$(modprobe -d "$x" -S "$KVER" --show-depends "$m" 2>&1); then
            if grep -qE "/${m//_/[-_]}\.ko" "$x/lib/modules/$KVER/modules.builtin" 2>/dev/null; then
                continue
            fi
            log "$label: note: module $m is neither modular nor listed as built-in; skipped"
            continue
        fi
        while read -r line; do
            case $line in
                insmod\ *) ;;
                *) continue ;; # "builtin NAME"
            esac
            path=${line#insmod }
            path=${path%% *}
            name=${path##*/}
            name=${name%%.ko*}
            case $seen in *" $name "*) continue ;; esac
            seen="$seen$name "
            case $path in
                *.ko.xz) xz -dc "$path" > "$kdir/modules/$name.ko" ;;
                *.ko.zst) zstd -qdc "$path" > "$kdir/modules/$name.ko" ;;
                *.ko.gz) gzip -dc "$path" > "$kdir/modules/$name.ko" ;;
                *.ko) cp "$path" "$kdir/modules/$name.ko" ;;
                *) die "$label: unexpected module file $path" ;;
            esac
            echo "$name.ko" >> "$kdir/modules/order"
        done <<< "$out"
    done
    echo "$KVER" > "$kdir/release"
    rm -rf "$x"
    echo "$stamp" > "$kdir/stamp"
    log "$label: $KVER, $(wc -l < "$kdir/modules/order") modules: $(tr '\n' ' ' < "$kdir/modules/order")"
}

# ------------------------------------------------------------ guest programs
# Sets SUITE_BINS (name=path pairs).
build_suites() {
    SUITE_BINS=()
    [ -n "$SUITES" ] || return 0
    local cargo=${CARGO:-}
    if [ -z "$cargo" ]; then
        cargo=$(command -v cargo || true)
        [ -n "$cargo" ] || [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ] || cargo=${HOME:-/root}/.cargo/bin/cargo
    fi
    [ -n "$cargo" ] || die "cargo not found (set CARGO=/path/to/cargo)"
    local s args target exe json
    for s in $SUITES; do
        case $s in
            scenarios)
                [ -f "$REPO/crates/mptcp/tests/scenarios.rs" ] ||
                    die "crates/mptcp/tests/scenarios.rs does not exist: nothing to run (use --suite netns or --suite none to check the VMs)"
                # --all-features: the target needs `tokio` (required-features).
                args=(-p multipath-tcp --all-features --test scenarios)
                target=scenarios
                ;;
            netns)
                args=(-p mptcp-netns --lib)
                target=mptcp_netns
                ;;
        esac
        log "building: cargo test ${args[*]} --no-run"
        json=$WORK/cargo-$s.json
        (cd "$REPO" && "$cargo" test "${args[@]}" --no-run --message-format=json) > "$json" ||
            die "cargo test ${args[*]} --no-run failed"
        exe=$(executable_of "$json" "$target")
        [ -n "$exe" ] || die "no test executable for target '$target' in cargo's output ($json)"
        [ -x "$exe" ] || die "no test executable for target '$target' in cargo's output ($json)"
        SUITE_BINS+=("$s=$exe")
    done
}

# Prints the "executable" of the test artifact named $2 in cargo JSON file $1.
executable_of() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" "$2" <<'EOF'
import json, sys
exe = ""
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == sys.argv[2] \
            and m.get("profile", {}).get("test") and m.get("executable"):
        exe = m["executable"]
print(exe)
EOF
    else
        grep -F "\"name\":\"$2\"" "$1" | grep -F '"test":true' | grep -o '"executable":"[^"]*"' |
            tail -n1 | sed 's/^"executable":"//; s/"$//'
    fi
}

build_probe() {
    log "building probe.c (gcc -static)"
    gcc -static -O2 -Wall -o "$WORK/probe" "$HERE/probe.c" || die "gcc -static probe.c failed (libc6-dev installed?)"
}

# ---------------------------------------------------------------- initramfs
# Copies ELF file $1 (and the shared libraries it needs) to the same path under $ROOT.
copy_elf() {
    local f=$1 lib
    mkdir -p "$ROOT$(dirname "$f")"
    [ -e "$ROOT$f" ] || cp -L "$f" "$ROOT$f"
    while read -r lib; do
        [ -e "$ROOT$lib" ] && continue
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -L "$lib" "$ROOT$lib"
    done < <(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' || true)
}

build_initramfs() {
    local label=$1 kdir=$WORK/$1/kernel
    ROOT=$WORK/$label/root
    rm -rf "$ROOT"
    mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,suite,modules,lib64}
    mkdir -p "$ROOT/var"
    ln -s /run "$ROOT/var/run"
    ln -s /run/lock "$ROOT/var/lock"

    cp "$BUSYBOX" "$ROOT/bin/busybox"
    local a
    for a in $("$BUSYBOX" --list); do
        [ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"
    done

    # The real tools (iproute2, iptables, procps) shadow busybox's applets via PATH.
    local t
    for t in ip tc ss sysctl; do
        copy_elf "$(readlink -f "$(command -v "$t")")"
    done
    # Debian puts ip in /bin (usrmerge: /usr/bin) and tc in /sbin: expose all in /usr/sbin.
    for t in ip tc ss; do
        [ -e "$ROOT/usr/sbin/$t" ] || ln -s "$(readlink -f "$(command -v "$t")")" "$ROOT/usr/sbin/$t"
    done
    [ -e "$ROOT/usr/sbin/sysctl" ] || ln -s "$(readlink -f "$(command -v sysctl)")" "$ROOT/usr/sbin/sysctl"
    copy_elf /usr/sbin/xtables-nft-multi
    copy_elf /usr/sbin/xtables-legacy-multi
    for t in iptables ip6tables; do
        for v in "" -save -restore; do
            ln -sf xtables-nft-multi "$ROOT/usr/sbin/$t-nft$v"
            ln -sf xtables-legacy-multi "$ROOT/usr/sbin/$t-legacy$v"
            # Same backend as Debian's default alternative (and the dev machines).
            ln -sf xtables-nft-multi "$ROOT/usr/sbin/$t$v"
        done
    done
    [ ! -x /usr/sbin/nft ] || copy_elf /usr/sbin/nft
    local so
    for so in /usr/lib/x86_64-linux-gnu/xtables/*.so /usr/lib/x86_64-linux-gnu/tc/*.so; do
        [ -e "$so" ] && copy_elf "$so"
    done
    [ ! -d /usr/lib/x86_64-linux-gnu/tc ] || cp -a /usr/lib/x86_64-linux-gnu/tc/. "$ROOT/usr/lib/x86_64-linux-gnu/tc/"
    copy_elf /lib64/ld-linux-x86-64.so.2

    cp /etc/protocols /etc/services "$ROOT/etc/" 2>/dev/null || true
    [ ! -d /etc/iproute2 ] || cp -a /etc/iproute2 "$ROOT/etc/"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
    printf 'root:x:0:\n' > "$ROOT/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files\nprotocols: files\nservices: files\n' > "$ROOT/etc/nsswitch.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"

    # Test programs, with debug info stripped (smaller image, faster unpacking).
    cp "$WORK/probe" "$ROOT/suite/probe"
    local pair name exe
    for pair in "${SUITE_BINS[@]}"; do
        name=${pair%%=*}
        exe=${pair#*=}
        strip --strip-debug -o "$ROOT/suite/$name" "$exe"
        copy_elf "$exe"
        rm -f "$ROOT$exe"
    done

    cp "$kdir/modules/"*.ko "$ROOT/modules/" 2>/dev/null || true
    cp "$kdir/modules/order" "$ROOT/modules/order"

    install -m 0755 "$HERE/init.sh" "$ROOT/init"
    {
        printf 'KERNEL_LABEL=%s\n' "$label"
        printf 'MPTCP_EXPECT="%s"\n' "$(expect_for "$label")"
        printf 'SUITES="%s"\n' "${SUITE_BINS[*]%%=*}"
    } > "$ROOT/etc/mptcp-kernel.env"
    # "${arr[*]%%=*}" strips per element: SUITES holds the names only.

    (cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$WORK/$label/initrd.gz"
    rm -rf "$ROOT"
    log "$label: initramfs $(du -h "$WORK/$label/initrd.gz" | cut -f1)"
}

# ------------------------------------------------------------------- booting
RESULTS=()
FAILED=0

boot_kernel() {
    local label=$1 kdir=$WORK/$1/kernel console=$WORK/$1/console.log
    local start end rc marker probe expect verdict why=""
    local try
    for try in 1 2; do
        log "$label: booting $KVER (qemu -accel $ACCEL, timeout ${TIMEOUT}s)"
        start=$(date +%s.%N)
        timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu max -m "$MEM" -smp 2 \
            -nographic -no-reboot -nic none \
            -kernel "$kdir/vmlinuz" -initrd "$WORK/$label/initrd.gz" \
            -append "console=ttyS0 panic=-1 quiet" < /dev/null 2>&1 |
            tee "$console" | tr -d '\r' | sed -u "s/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^/[$label] /" &&
            rc=0 || rc=${PIPESTATUS[0]}
        end=$(date +%s.%N)
        # A kernel that died before running /init says nothing about the crate
        # (emulation hiccup): boot it once more. Anything later counts.
        if [ $try = 1 ] && [ "$rc" != 124 ] && ! grep -aq 'MPTCP-KERNEL-BOOT:' "$console"; then
            cp "$console" "$console.try1"
            log "$label: the kernel did not reach /init (qemu exit $rc, console in $console.try1); retrying once"
            continue
        fi
        break
    done
    local secs
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    marker=$(tr -d '\r' < "$console" | grep -ao 'MPTCP-KERNEL-RESULT: .*' | tail -n1 || true)
    probe=$(tr -d '\r' < "$console" | grep -ao 'MPTCP-PROBE: .*' | tail -n1 || true)
    local boot ready
    boot=$(tr -d '\r' < "$console" | grep -a 'MPTCP-KERNEL-BOOT:' | grep -o 'uptime=[0-9.]*s' | head -n1 | sed 's/^uptime=//' || true)
    ready=$(tr -d '\r' < "$console" | grep -a 'MPTCP-KERNEL-READY:' | grep -o 'uptime=[0-9.]*s' | head -n1 | sed 's/^uptime=//' || true)
    expect=$(expect_for "$label")

    verdict=FAIL
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        why="timed out after ${TIMEOUT}s"
    elif [ -z "$marker" ]; then
        why="no MPTCP-KERNEL-RESULT marker on the console (qemu exit $rc)"
    else
        # shellcheck disable=SC2086
        set -- $marker
        if [ "$2" = PASS ]; then verdict=PASS; else why="suite failed"; fi
        why="${why:+$why, }$3 passed, $4 failed"
    fi
    # The kernel's own answers must match what the suite was told to expect.
    local kv
    [ -n "$probe" ] || why="${why:+$why; }no MPTCP-PROBE summary"
    [ -z "$probe" ] || for kv in $expect; do
        case $kv in tcp_is_mptcp=* | full_info=* | mptcp_info=* | info_len=*) ;; *) continue ;; esac
        case " ${probe#MPTCP-PROBE:} " in
            *" $kv "*) ;;
            *)
                verdict=FAIL
                why="${why:+$why; }probe disagrees with MPTCP_EXPECT on '$kv' (probe: ${probe#MPTCP-PROBE: })"
                ;;
        esac
    done
    [ "$verdict" = PASS ] || FAILED=$((FAILED + 1))
    RESULTS+=("$label ($KVER): $verdict - $why; boot to init ${boot:-?}, modules loaded at ${ready:-?}, wall ${secs}s; ${probe:-no probe output}")
}

# ---------------------------------------------------------------------- main
T0=$(date +%s)
host_tools
declare -A DEBS
for k in "${KERNELS[@]}"; do
    fetch_kernel "$k"
    DEBS[$k]=$DEB
done
build_probe
build_suites
for k in "${KERNELS[@]}"; do
    DEB=${DEBS[$k]}
    prepare_kernel "$k"
    build_initramfs "$k"
    boot_kernel "$k"
done

echo
log "results (console logs in $WORK/<kernel>/console.log):"
for r in "${RESULTS[@]}"; do log "  $r"; done
log "total $(($(date +%s) - T0))s"
echo "kernels: $((${#KERNELS[@]} - FAILED)) passed, $FAILED failed"
[ "$FAILED" = 0 ] || exit 1
