#!/usr/bin/env bash
# Builds the tmpnet program of tests/network (kvvm-network: starts and stops a local network of
# AvalancheGo nodes validating a kvvm chain) and prints its path as the last line.
#
# Environment:
#   KVVM_CACHE  where it is put: $KVVM_CACHE/bin/kvvm-network (default $HOME/.cache/kvvm)
#
# Requires Go; one older than tests/network/go.mod asks for fetches the newer toolchain from the
# Go module proxy by itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NETBIN="${KVVM_CACHE:-$HOME/.cache/kvvm}/bin/kvvm-network"

have_go="$(GOTOOLCHAIN=local go env GOVERSION | sed 's/^go//')"
need_go="$(awk '$1 == "go" { print $2; exit }' "$ROOT/tests/network/go.mod")"
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" = "$need_go" ]; then
  gotoolchain=local
else
  gotoolchain=auto
fi
mkdir -p "$(dirname "$NETBIN")"
(cd "$ROOT/tests/network" &&
  GOTOOLCHAIN="$gotoolchain" CGO_ENABLED=1 CGO_CFLAGS="-O2 -D__BLST_PORTABLE__" \
    go build -o "$NETBIN" .)
echo "$NETBIN"
