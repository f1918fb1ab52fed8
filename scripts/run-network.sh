#!/usr/bin/env bash
# Quick start: a local AvalancheGo network of validators running a kvvm chain.
#
#   scripts/run-network.sh [start] [kvvm-network start flags, e.g. --nodes 5 --wait]
#   scripts/run-network.sh add-node [kvvm-network add-node flags]
#   scripts/run-network.sh stop
#
# On a fresh Debian machine this installs the missing system packages (build-essential, clang,
# libclang-dev), builds AvalancheGo from the Go module proxy (scripts/build-avalanchego.sh),
# builds and installs the kvvm plugin (scripts/install-plugin.sh), builds the tmpnet program in
# tests/network, and starts the network (3 nodes unless --nodes says otherwise). It prints each
# node's JSON-RPC URL, a first write and read to try with the kvvm binary it built (they run as
# printed: the CLI finds node 1's URL in network.json, and its first write creates a key), and
# how long it all took.
#
# add-node adds one validator node to the running network (kvvm-network add-node) and rewrites
# network.json with it, last.
#
# Environment:
#   KVVM_CACHE           where everything built or run is kept (default $HOME/.cache/kvvm):
#                        avalanchego/<version>/, plugins/, bin/kvvm-network, networks/, network.json
#   AVALANCHEGO_VERSION  node version (default v1.14.2); the plugin is set to the node's
#                        rpcchainvm protocol (e.g. 44 for v1.14.0) automatically
#   KVVM_PROTOCOL        force the plugin's rpcchainvm protocol instead
#
# Requires Rust (cargo) and Go >= 1.25.8 (an older Go fetches the newer toolchain from the Go
# module proxy by itself).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KVVM_CACHE="${KVVM_CACHE:-$HOME/.cache/kvvm}"
NETWORKS="$KVVM_CACHE/networks"
SUMMARY="$KVVM_CACHE/network.json"
NETBIN="$KVVM_CACHE/bin/kvvm-network"

log() { echo "run-network: $*" >&2; }

stop_network() {
  if [ ! -e "$NETWORKS/latest" ]; then
    log "no network recorded under $NETWORKS"
    return 0
  fi
  if [ ! -x "$NETBIN" ]; then
    log "$NETBIN is missing; run scripts/run-network.sh once to build it"
    return 1
  fi
  "$NETBIN" stop --network-dir "$NETWORKS/latest"
  # The kvvm CLI takes its default URL from the summary: once the nodes are gone, it should say
  # that no network runs rather than fail to connect.
  rm -f "$SUMMARY"
}

# Adds a validator node to the network started last.
add_node() {
  if [ ! -e "$NETWORKS/latest" ] || [ ! -e "$SUMMARY" ]; then
    log "no running network recorded in $SUMMARY; start one with scripts/run-network.sh"
    return 1
  fi
  "$ROOT/scripts/build-kvvm-network.sh" >/dev/null
  "$NETBIN" add-node --network-dir "$NETWORKS/latest" --out "$SUMMARY" "$@"
}

# The kvvm command line the suggested first commands start with: the release binary
# install-plugin.sh built, as the caller can run it from where they are. It needs no --rpc since
# the CLI reads $SUMMARY, but only under the same KVVM_CACHE, so a cache other than the default is
# spelled out.
cli_command() {
  local bin="$ROOT/target/release/kvvm"
  case "$bin" in "$PWD"/*) bin="./${bin#"$PWD"/}" ;; esac
  local cli
  cli="$(printf '%q' "$bin")"
  if [ "$KVVM_CACHE" != "$HOME/.cache/kvvm" ]; then
    cli="KVVM_CACHE=$(printf '%q' "$KVVM_CACHE") $cli"
  fi
  echo "$cli"
}

cmd="start"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  cmd="$1"
  shift
fi
case "$cmd" in
  stop)
    stop_network
    exit
    ;;
  add-node)
    add_node "$@"
    exit
    ;;
  start) ;;
  *)
    echo "usage: $0 [start [flags]] | add-node [flags] | stop" >&2
    exit 2
    ;;
esac

began=$(date +%s)
step() { log "[$(($(date +%s) - began)) s] $*"; }

# 1. System packages: a C/C++ toolchain (cgo, RocksDB) and libclang (RocksDB's bindgen).
missing=()
dpkg -s build-essential >/dev/null 2>&1 || missing+=(build-essential)
command -v clang >/dev/null 2>&1 || missing+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Toolchains this script does not install.
fail=0
if ! command -v cargo >/dev/null 2>&1; then
  log "Rust is missing: install it with rustup (https://rustup.rs), then re-run"
  fail=1
fi
if ! command -v go >/dev/null 2>&1; then
  log "Go is missing: install Go >= 1.25.8 (https://go.dev/doc/install), put it on PATH, re-run"
  fail=1
fi
[ "$fail" -eq 0 ] || exit 1

# 3. AvalancheGo.
step "AvalancheGo ${AVALANCHEGO_VERSION:-v1.14.2}"
AVALANCHEGO="$("$ROOT/scripts/build-avalanchego.sh" | tail -n1)"
node_protocol="$("$AVALANCHEGO" --version-json | sed -n 's/.*"rpcchainvm": *\([0-9][0-9]*\).*/\1/p')"

# 4. The plugin, advertising the node's rpcchainvm protocol.
protocol="${KVVM_PROTOCOL:-}"
if [ -z "$protocol" ] && [ -n "$node_protocol" ] && [ "$node_protocol" != 45 ]; then
  protocol="$node_protocol"
fi
step "kvvm plugin${protocol:+ (rpcchainvm protocol $protocol)}"
PLUGIN_DIR="$(KVVM_PROTOCOL="$protocol" "$ROOT/scripts/install-plugin.sh" | tail -n1)"

# 5. The tmpnet program (tests/network).
step "building tests/network"
"$ROOT/scripts/build-kvvm-network.sh" >/dev/null

# 6. One network at a time: stop the one started last, if it still runs.
if [ -e "$NETWORKS/latest" ]; then
  step "stopping the previous network"
  "$NETBIN" stop --network-dir "$NETWORKS/latest" >/dev/null || true
fi

step "starting the network"
"$NETBIN" start \
  --avalanchego-path "$AVALANCHEGO" \
  --plugin-dir "$PLUGIN_DIR" \
  --root-dir "$NETWORKS" \
  --out "$SUMMARY" \
  --cli "$(cli_command)" \
  "$@" &
netpid=$!
# Forward Ctrl-C/SIGTERM to the program (it stops the network itself with --wait).
trap 'kill -TERM "$netpid" 2>/dev/null || true' INT TERM
status=0
wait "$netpid" || status=$?
# `wait` returns early when a trapped signal arrives; wait for the program to finish stopping.
while kill -0 "$netpid" 2>/dev/null; do wait "$netpid" || status=$?; done
trap - INT TERM
[ "$status" -eq 0 ] || exit "$status"

waited=0
for arg in "$@"; do
  case "$arg" in --wait | --wait=true | -wait | -wait=true) waited=1 ;; esac
done
if [ "$waited" -eq 0 ]; then
  echo "total: $(($(date +%s) - began)) s (AvalancheGo, plugin, network program and network start)"
  echo "stop with: scripts/run-network.sh stop"
else
  # With --wait the program has stopped the network itself.
  rm -f "$SUMMARY"
fi
