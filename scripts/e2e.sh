#!/usr/bin/env bash
# The end-to-end suite on real AvalancheGo nodes (tests/network/*_test.go, build tag e2e).
#
#   scripts/e2e.sh [go test flags, e.g. -run 'TestKvvmNetwork/a']
#
# Builds AvalancheGo v1.14.2 and v1.14.0 from the Go module proxy (cached, scripts/build-avalanchego.sh),
# installs the kvvm binary into two plugin directories (protocol 45, and 44 for v1.14.0), and runs
# `go test -tags e2e` in tests/network. Every node runs as a child of the test; a failing check
# prints the end of each node's main log and kvvm chain log.
#
# Environment:
#   KVVM_E2E_KVVM  the kvvm binary to install (default target/debug/kvvm, which `cargo test` builds;
#                  built with `cargo build --workspace` when missing)
#   KVVM_CACHE     cache for the node binaries and the e2e plugin dirs (default $HOME/.cache/kvvm)
#   KVVM_E2E_KEEP  keep the networks' directories (logs, databases) after a passing run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KVVM_CACHE="${KVVM_CACHE:-$HOME/.cache/kvvm}"
E2E="$KVVM_CACHE/e2e"

log() { echo "e2e: $*" >&2; }

cd "$ROOT"
KVVM_BIN="${KVVM_E2E_KVVM:-$ROOT/target/debug/kvvm}"
if [ ! -x "$KVVM_BIN" ]; then
  log "building $KVVM_BIN"
  cargo build --workspace --locked >&2
fi

began=$(date +%s)
avalanchego="$(AVALANCHEGO_VERSION=v1.14.2 scripts/build-avalanchego.sh | tail -n1)"
avalanchego_old="$(AVALANCHEGO_VERSION=v1.14.0 scripts/build-avalanchego.sh | tail -n1)"

# One plugin directory per protocol, each holding only the plugin under its VMID (and, for the
# older node, the hidden .kvvm-plugin settings file): any other file makes AvalancheGo refuse to start.
KVVM_PLUGIN_BIN="$KVVM_BIN" KVVM_PLUGIN_DIR="$E2E/plugins-45" KVVM_PROTOCOL= scripts/install-plugin.sh >/dev/null
KVVM_PLUGIN_BIN="$KVVM_BIN" KVVM_PLUGIN_DIR="$E2E/plugins-44" scripts/install-plugin.sh 44 >/dev/null
mkdir -p "$E2E/networks"
log "nodes and plugins ready after $(($(date +%s) - began)) s"

export AVALANCHEGO_PATH="$avalanchego"
export KVVM_PLUGIN_DIR="$E2E/plugins-45"
export KVVM_E2E_OLD_AVALANCHEGO="$avalanchego_old"
export KVVM_E2E_OLD_PLUGIN_DIR="$E2E/plugins-44"
export KVVM_E2E_ROOT="$E2E/networks"
cd tests/network
# The module's go directive asks for Go 1.25.8; an older local Go fetches it from the proxy.
go test -tags e2e -count=1 -timeout 40m -v "$@" .
log "passed in $(($(date +%s) - began)) s"
