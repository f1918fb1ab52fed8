#!/usr/bin/env bash
# The flood benchmark: an honest writer's latency with and without each flood, as ratios.
#
#   scripts/flood.sh [--runs 3] [--flood-per-account 20]
#
# Each run starts a fresh network of three AvalancheGo v1.14.2 validators and runs the end-to-end
# suite's two flood checks on it (tests/network, with the release kvvm plugin):
#   i  the valid-load flood: 100 accounts each submit --flood-per-account puts of 6,000 bytes at
#      once, over every node (100 per account is the 10,000-put flood that once halted a network);
#   j  strangers' floods against nodes 1 and 3: nonce gaps from 1,500 fresh accounts, bad
#      signatures (8 calls of 1,000 at a time), oversized reads (8 calls at a time).
# The honest writer submits five puts one after another from fresh accounts through node 2, quiet
# and then under each flood; the figures are their median (p50) and slowest submit→accept time.
# The script prints each run's lines and, per flood, the median over the runs of both ratios
# (the goal: at most 2×). The checks also assert liveness (docs/security.md); a failing run stops
# the script with the end of its log.
#
# Bounded: each run is one `go test` under a 20-minute timeout, on loopback only.
#
# Environment:
#   KVVM_CACHE       as for scripts/e2e.sh (default $HOME/.cache/kvvm)
#   KVVM_PLUGIN_BIN  measure this kvvm binary instead of building the release one
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

runs=3 per_account=20
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --runs) runs="$2" ;;
    --flood-per-account) per_account="$2" ;;
    *) usage ;;
  esac
  shift 2
done
for n in "$runs" "$per_account"; do
  case "$n" in '' | *[!0-9]*) usage ;; esac
done
if [ "$runs" -lt 1 ] || [ "$per_account" -lt 1 ] || [ "$per_account" -gt 256 ]; then
  echo "flood: --runs must be at least 1, --flood-per-account 1–256 (the mempool's per-sender bound)" >&2
  exit 2
fi

log() { echo "flood: $*" >&2; }

plugin="${KVVM_PLUGIN_BIN:-}"
if [ -z "$plugin" ]; then
  log "building the release kvvm plugin"
  (cd "$ROOT" && timeout 3600 cargo build --release --locked -p kvvm >&2)
  plugin="$ROOT/target/release/kvvm"
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

for run in $(seq 1 "$runs"); do
  log "run $run of $runs"
  if ! KVVM_E2E_KVVM="$plugin" KVVM_E2E_FLOOD_PER_ACCOUNT="$per_account" \
    timeout 1200 "$ROOT/scripts/e2e.sh" -run 'TestKvvmNetwork/^(i|j)$' -count=1 -v \
    >"$logs/run-$run.log" 2>&1; then
    log "run $run failed; the end of its log:"
    tail -n 60 "$logs/run-$run.log" >&2
    exit 1
  fi
  grep -o 'honest latency, .*' "$logs/run-$run.log" | sed "s/^/run $run: /"
done

# One line per flood and run: its name, the p50 ratio, the slowest ratio.
grep -ho 'honest latency, .*' "$logs"/run-*.log |
  sed -E 's/^honest latency, ([^:]+): .*\(([0-9.]+)×\).*\(([0-9.]+)×\).*/\1\t\2\t\3/' >"$logs/ratios"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "medians of $runs run(s), honest latency under the flood / quiet (goal ≤ 2×):"
cut -f1 "$logs/ratios" | sort -u | while IFS= read -r name; do
  p50="$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$logs/ratios" | median)"
  slowest="$(awk -F'\t' -v n="$name" '$1 == n { print $3 }' "$logs/ratios" | median)"
  printf '  %-26s p50 %s×, slowest of 5 %s×\n' "$name" "$p50" "$slowest"
done
