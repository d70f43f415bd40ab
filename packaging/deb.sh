#!/usr/bin/env bash
# Builds a Debian package of the `mptcp` command with dpkg-deb alone (no
# cargo-deb, no debhelper):
#
#   packaging/deb.sh                     # cargo build --release, then target/debian/mptcp_<ver>_<arch>.deb
#   packaging/deb.sh --binary PATH       # package an already built binary instead
#   packaging/deb.sh --out DIR --dist DIR
#
# The package holds:
#   /usr/bin/mptcp                         the binary (the preload library of `mptcp run` is inside it)
#   /usr/share/man/man1/mptcp*.1.gz        one page per command and subcommand (`mptcp man --dir`)
#   /usr/share/bash-completion/completions/mptcp
#   /usr/share/zsh/vendor-completions/_mptcp
#   /usr/share/fish/vendor_completions.d/mptcp.fish
#   /usr/share/doc/mptcp/copyright         machine-readable, both licences
#   /usr/lib/systemd/system/mptcp-daemon.service
#                                          when dist/systemd/mptcp-daemon.service exists (the
#                                          path-manager daemon); ExecStart points at /usr/bin/mptcp.
#                                          Installed, not enabled: systemctl enable --now mptcp-daemon
#
# Man pages and completions come from running the built binary, so the
# binary must run on this machine (no cross builds). Needs dpkg-deb, gzip,
# readelf and strip (binutils). Depends: is computed from the binary's
# shared libraries and glibc symbol versions.
set -euo pipefail
cd "$(dirname "$0")/.."

binary= out=target/debian dist=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --dist) dist=${2:?--dist needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR] [--dist DIR]" >&2; exit 2 ;;
  esac
done
for tool in dpkg-deb dpkg gzip readelf strip; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install dpkg binutils gzip)" >&2; exit 2; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "$0: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
arch=$(dpkg --print-architecture)

if [ -z "$binary" ]; then
  cargo build --release --locked -p mptcp-cli
  binary=${CARGO_TARGET_DIR:-target}/release/mptcp
fi
[ -x "$binary" ] || { echo "$0: $binary is not an executable" >&2; exit 2; }

mkdir -p "$out"
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
umask 022

# The binary: debug info stripped, symbols kept (readable backtraces, as
# the release profile builds it).
install -D -m 0755 "$binary" "$root/usr/bin/mptcp"
strip --strip-debug "$root/usr/bin/mptcp"
mptcp=$root/usr/bin/mptcp

# Man pages, one per command and subcommand.
man=$root/usr/share/man/man1
mkdir -p "$man"
"$mptcp" man --dir "$man" >/dev/null
gzip -9n "$man"/*.1

# Shell completions where Debian's shells look for them.
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
"$mptcp" completions bash >"$root/usr/share/bash-completion/completions/mptcp"
"$mptcp" completions zsh >"$root/usr/share/zsh/vendor-completions/_mptcp"
"$mptcp" completions fish >"$root/usr/share/fish/vendor_completions.d/mptcp.fish"

# Copyright, in Debian's machine-readable format; the MIT text in full,
# Apache-2.0 from common-licenses.
doc=$root/usr/share/doc/mptcp
install -d "$doc"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: mptcp"
  echo
  echo "Files: *"
  sed -n 's/^Copyright (c) /Copyright: /p' LICENSE-MIT | head -1
  echo "License: MIT or Apache-2.0"
  echo
  echo "License: MIT"
  sed -e 's/^$/./' -e 's/^/ /' LICENSE-MIT
  echo
  echo "License: Apache-2.0"
  echo " On Debian systems, the full text of the Apache License, Version 2.0 is in"
  echo " /usr/share/common-licenses/Apache-2.0."
} >"$doc/copyright"

# The path-manager daemon's unit, when the daemon is part of this tree.
unit=$dist/systemd/mptcp-daemon.service
if [ -f "$unit" ]; then
  install -d "$root/usr/lib/systemd/system"
  # The package's binary, and no manual-install steps in its comments.
  sed -e 's#/usr/local/bin/mptcp#/usr/bin/mptcp#g' -e '/^#[[:space:]]*install /d' "$unit" \
    >"$root/usr/lib/systemd/system/mptcp-daemon.service"
  chmod 0644 "$root/usr/lib/systemd/system/mptcp-daemon.service"
fi

# Depends: from the libraries the binary needs and the newest glibc
# symbol version it uses.
depends=()
glibc=$(readelf --dyn-syms -W "$mptcp" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
while read -r lib; do
  case "$lib" in
    libc.so.6|libm.so.6|libdl.so.2|librt.so.1|libpthread.so.0|libutil.so.1|ld-linux*) depends+=("libc6 (>= ${glibc:-2.17})") ;;
    libgcc_s.so.1) depends+=("libgcc-s1") ;;
    *) echo "$0: the binary needs $lib: add its package to deb.sh's Depends" >&2; exit 1 ;;
  esac
done < <(readelf -d -W "$mptcp" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
depends_line=$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')

maintainer=${DEB_MAINTAINER:-}
if [ -z "$maintainer" ]; then
  name=$(git config user.name 2>/dev/null || true) email=$(git config user.email 2>/dev/null || true)
  if [ -n "$name" ] && [ -n "$email" ]; then maintainer="$name <$email>"; else maintainer="$(id -un) <$(id -un)@$(hostname -f 2>/dev/null || hostname)>"; fi
fi

install -d "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: mptcp
Version: $version-1
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends_line
Recommends: iproute2
Suggests: iperf3, mptcpize
Section: net
Priority: optional
Description: Multipath TCP toolkit: status, checks, path manager, lab
 The mptcp command shows what the kernel's MPTCP can do (mptcp status),
 checks whether a server negotiates MPTCP (mptcp check), manages the path
 manager's endpoints and limits and watches its events (like ip mptcp),
 lists MPTCP connections with their subflows, runs unmodified programs
 and systemd services over MPTCP (LD_PRELOAD, built in), measures
 throughput, and builds a multi-path lab in network namespaces.
EOF
if [ -f "$root/usr/lib/systemd/system/mptcp-daemon.service" ]; then
  # Like dh_installsystemd's scripts, without enabling the daemon.
  cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
EOF
  cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl --system stop mptcp-daemon.service >/dev/null 2>&1 || true
fi
EOF
  cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
EOF
  chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
fi
# The BPF hooks `mptcp systemd enable --via bpf` pinned for services go with
# the package (their drop-ins' `ExecStartPre=-+` then fails harmlessly: the
# services start without MPTCP). Upgrades keep them.
[ -f "$root/DEBIAN/prerm" ] || printf '#!/bin/sh\nset -e\n' >"$root/DEBIAN/prerm"
cat >>"$root/DEBIAN/prerm" <<'EOF'
if [ "$1" = remove ] && [ -d /sys/fs/bpf/mptcp ]; then
  for d in /sys/fs/bpf/mptcp/*/; do
    [ -d "$d" ] || continue
    rm -f "$d"link "$d"converted "$d"cgroups "$d"cgroup_id
    rmdir "$d" 2>/dev/null || true
  done
  rmdir /sys/fs/bpf/mptcp 2>/dev/null || true
fi
EOF
chmod 0755 "$root/DEBIAN/prerm"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

deb=$out/mptcp_${version}-1_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
