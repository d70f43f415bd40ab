#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and doc tests, the namespace
# suites (as root), and the kernel matrix under qemu.
#
#   sudo scripts/test.sh            # everything
#   sudo scripts/test.sh --no-kernels   # skip the qemu kernel matrix
#
# Namespace tests print "SKIPPED: <reason>" when not run as root; with
# CI=true a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

kernels=1
for a in "$@"; do
  case "$a" in
    --no-kernels) kernels=0 ;;
    *) echo "usage: $0 [--no-kernels]" >&2; exit 2 ;;
  esac
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "== the library's code paths for other operating systems (no other target's std here)"
MPTCP_PORTABLE_CHECK=1 CARGO_TARGET_DIR=target/portable cargo clippy -p mptcp --all-features --all-targets -- -D warnings
MPTCP_PORTABLE_CHECK=1 CARGO_TARGET_DIR=target/portable cargo test -p mptcp --all-features --lib
echo "== build (the preload library must sit next to the mptcp binary)"
cargo build --workspace --all-features
echo "== tests"
# Namespace tests build and tear down their own namespaces; two at a time
# keeps the shaped-link measurements of one from starving another.
cargo test --workspace --all-features --no-fail-fast -- --test-threads=2
echo "== leftovers"
left=$(ip netns list 2>/dev/null | grep -c '^mptcp-' || true)
if [ "$left" != 0 ]; then
  echo "FAIL: $left mptcp-* network namespaces left behind:" >&2
  ip netns list >&2
  exit 1
fi
if [ "$kernels" = 1 ] && [ -x tests/kernels/run.sh ]; then
  echo "== kernel matrix (qemu)"
  tests/kernels/run.sh
fi
echo "== all tests passed"
