#!/usr/bin/env bash
# Builds the kvvm plugin and installs it into an AvalancheGo plugin directory under its VMID.
#
#   scripts/install-plugin.sh [PROTOCOL]
#
# Environment:
#   KVVM_PLUGIN_DIR  plugin directory (default ${KVVM_CACHE:-$HOME/.cache/kvvm}/plugins)
#   KVVM_PLUGIN_BIN  install this kvvm binary instead of building the release one (the end-to-end
#                    suite installs the debug binary `cargo test` built)
#   KVVM_PROTOCOL    rpcchainvm protocol to advertise (also the first argument), for a node other
#                    than v1.14.2 (45): 44 = v1.14.0/v1.14.1, 46 = v1.15.0. Written by
#                    `kvvm set-protocol` as the hidden file .kvvm-plugin, which AvalancheGo ignores.
#                    Unset: any .kvvm-plugin left from an earlier install is removed (protocol 45).
#
# Every other non-hidden file in the plugin directory is removed first: AvalancheGo refuses to
# start when a file name there does not parse as a VMID or VM alias.
# The last line printed is the plugin directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KVVM_CACHE:-$HOME/.cache/kvvm}"
PLUGIN_DIR="${KVVM_PLUGIN_DIR:-$CACHE/plugins}"
PROTOCOL="${1:-${KVVM_PROTOCOL:-}}"

log() { echo "install-plugin: $*" >&2; }

cd "$ROOT"
BIN="${KVVM_PLUGIN_BIN:-}"
if [ -z "$BIN" ]; then
  log "cargo build --release -p kvvm"
  cargo build --release -p kvvm >&2
  BIN="$ROOT/target/release/kvvm"
fi
VMID="$("$BIN" vm-id)"

mkdir -p "$PLUGIN_DIR"
# Remove everything but hidden files (and the plugin itself, replaced atomically below).
find "$PLUGIN_DIR" -mindepth 1 -maxdepth 1 ! -name '.*' ! -name "$VMID" -print0 |
  while IFS= read -r -d '' stale; do
    log "removing $(basename "$stale") from the plugin directory"
    rm -rf -- "$stale"
  done
install -m 0755 "$BIN" "$PLUGIN_DIR/.$VMID.tmp"
mv -f "$PLUGIN_DIR/.$VMID.tmp" "$PLUGIN_DIR/$VMID"

if [ -n "$PROTOCOL" ]; then
  "$BIN" set-protocol "$PROTOCOL" --plugin-dir "$PLUGIN_DIR" >&2
else
  rm -f "$PLUGIN_DIR/.kvvm-plugin"
fi
log "installed $VMID: $("$PLUGIN_DIR/$VMID" version-json)"
echo "$PLUGIN_DIR"
