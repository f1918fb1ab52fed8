#!/usr/bin/env bash
# Instructions per transaction for each stage of `kvvm bench`, counted by valgrind's callgrind:
# unlike seconds, the count stays the same on a busy or noisy machine, so it is the figure to
# compare before and after a change.
#
#   scripts/bench-instructions.sh [TXS] [STATE_KEYS]     (defaults: 2000 transactions, 10000 keys)
#
# Runs the release `kvvm bench` once per stage under callgrind, collecting only inside that
# stage's function (BenchNode::stage_*), on the thread that runs it; RocksDB's background threads
# are not counted. Prints one line per stage: instructions in total and per transaction.
#
# Environment:
#   KVVM_BENCH_BIN  the kvvm binary to measure (default target/release/kvvm, built if missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TXS="${1:-2000}"
STATE_KEYS="${2:-10000}"
BIN="${KVVM_BENCH_BIN:-$ROOT/target/release/kvvm}"

if ! command -v valgrind >/dev/null; then
  echo "bench-instructions: valgrind is missing (Debian: apt-get install valgrind)" >&2
  exit 1
fi
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --workspace --locked >&2)
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

printf '%-8s %16s %14s\n' stage instructions "per tx"
for stage in admit build verify accept replay; do
  valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect="*BenchNode*stage_${stage}*" \
    --callgrind-out-file="$out/$stage.out" \
    "$BIN" bench --txs "$TXS" --state-keys "$STATE_KEYS" >"$out/$stage.log" 2>&1 || {
    echo "bench-instructions: the $stage run failed; its output:" >&2
    tail -n 20 "$out/$stage.log" >&2
    exit 1
  }
  # callgrind writes the event total on its "totals:" line (or "summary:" in older versions).
  total="$(awk '/^(totals|summary):/ { print $2; exit }' "$out/$stage.out")"
  if [ -z "$total" ] || [ "$total" = 0 ]; then
    echo "bench-instructions: callgrind counted nothing in stage_$stage (symbols stripped?)" >&2
    exit 1
  fi
  printf '%-8s %16d %14d\n' "$stage" "$total" "$((total / TXS))"
done
