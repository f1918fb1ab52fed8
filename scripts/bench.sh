#!/usr/bin/env bash
# The network benchmark: a fresh local network, a pre-signed load through the public JSON-RPC API,
# and the medians of several runs.
#
#   scripts/bench.sh [--nodes 3] [--runs 3] [--txs 60000] [--accounts 400] [--rate 0]
#                    [--idle 20] [--one-writer-txs 1000] [--chain-config JSON] [--perf SECONDS]
#                    [--max-block-bytes N] [--max-txs-per-block N] [--node-flags JSON]
#                    [--in-flight 8000] [--resend-after-ms 0]
#
# 1. Builds what it needs as scripts/run-network.sh does (AvalancheGo, the release kvvm plugin, the
#    kvvm-network program) and starts a network of --nodes validators on loopback, in its own
#    directory ($KVVM_CACHE/bench; the previous benchmark's network there is stopped and removed),
#    so a Quick-start network is left alone (but shares the CPU: stop it for clean figures).
# 2. Runs `kvvm load` (the same release binary) three times over, each --runs times with fresh
#    accounts, against every node's JSON-RPC URL:
#    - throughput: --txs one-put transactions from --accounts accounts, pre-signed, sent with
#      kvvm_submitTxs in batches of 500 or 1 MiB of hex (8 calls in flight, at most 64 transactions
#      unaccepted per account and 8,000 in all), at --rate tx/s (0: as fast as that allows);
#    - idle: --idle puts, each sent once the previous one is accepted (0: no idle load);
#    - one-writer: --one-writer-txs transactions of 64 puts to one key, from one account (0: none).
#    Each prints every run and the medians: finalized tx/s (first submission to last acceptance),
#    p50/p95/p99 submit→accept latency, blocks and transactions per block, refusals by error code,
#    lost (taken, never accepted before the deadline) and duplicated transactions, whether every
#    node ended with the same block and state root, and the CPU seconds of the avalanchego
#    processes, the kvvm plugin processes and the load client during each run (/proc/PID/stat),
#    and what the links between the nodes carried (`kvvm load --link-traffic`: AvalancheGo's
#    sent-bytes counters): KiB per link per second and bytes per link per transaction, as blocks,
#    gossip, votes and the rest, and that as a share of a signed transaction's size.
#    After the throughput runs, the plugins' context switches per transaction (every thread's
#    /proc/PID/task/TID/status): a figure that, unlike seconds, barely moves on a busy machine.
#    With --perf, `perf record --call-graph dwarf` samples the first node's kvvm plugin for SECONDS
#    from 5 s into the first throughput run, and scripts/perf-breakdown.py prints where its CPU
#    went by stage (the signature check, admission, lattice hashing, accept, ...), into
#    $KVVM_CACHE/bench/perf.txt beside perf.data. Needs `perf` (Debian: linux-perf) and a
#    throughput run lasting longer than 5 s + SECONDS.
# 3. Stops the network, whatever happened (trap), and says where the JSON reports are.
#
# A chain tuned for throughput: --max-block-bytes and --max-txs-per-block set the genesis limits
# (chain-wide; default 262144 and 2000, at most 1572864 and 10000, and a block at least as large as
# the largest transaction, 131072 bytes), --node-flags adds AvalancheGo flags to every node (JSON,
# e.g. the inbound throttler's), --chain-config sets kvvm's (e.g. gossipPeerOutBytesPerSec).
#
# Past saturation: --rate above what the chain finalizes, --in-flight above the nodes' pool
# (mempoolMaxTxs, 10,000 by default) so that their admission, not the client, refuses the excess,
# and --resend-after-ms so that the client sends a transaction refused with "try later" (1009,
# 1012) again after that long, as a client facing back-pressure does, instead of giving up on its
# account (the default, 0).
#
# Bounded: every load run ends at its deadline (120 s after its first submission), every step runs
# under `timeout`. Loopback only: tmpnet binds the nodes to 127.0.0.1.
#
# Environment:
#   KVVM_CACHE       as for scripts/run-network.sh (default $HOME/.cache/kvvm)
#   KVVM_PLUGIN_BIN  benchmark this kvvm binary instead of building the release one
#   KVVM_LOAD_ARGS   extra arguments for every `kvvm load` (e.g. "--poll-ms 50")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KVVM_CACHE="${KVVM_CACHE:-$HOME/.cache/kvvm}"
BENCH="$KVVM_CACHE/bench"
NETWORKS="$BENCH/networks"

nodes=3 runs=3 txs=60000 accounts=400 rate=0 idle=20 writer_txs=1000 perf_seconds=0
in_flight=8000 resend_after_ms=0
chain_config='{"logLevel":"info"}' node_flags='{}' max_block_bytes='' max_txs_per_block=''
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2" ;;
    --runs) runs="$2" ;;
    --txs) txs="$2" ;;
    --accounts) accounts="$2" ;;
    --rate) rate="$2" ;;
    --idle) idle="$2" ;;
    --one-writer-txs) writer_txs="$2" ;;
    --chain-config) chain_config="$2" ;;
    --perf) perf_seconds="$2" ;;
    --node-flags) node_flags="$2" ;;
    --max-block-bytes) max_block_bytes="$2" ;;
    --max-txs-per-block) max_txs_per_block="$2" ;;
    --in-flight) in_flight="$2" ;;
    --resend-after-ms) resend_after_ms="$2" ;;
    *) usage ;;
  esac
  [ $# -ge 2 ] || usage
  shift 2
done
for n in "$nodes" "$runs" "$perf_seconds" "${max_block_bytes:-0}" "${max_txs_per_block:-0}" \
  "$idle" "$writer_txs" "$in_flight" "$resend_after_ms"; do
  case "$n" in '' | *[!0-9]*) usage ;; esac
done
if [ "$nodes" -lt 1 ] || [ "$nodes" -gt 16 ]; then
  echo "bench: --nodes must be 1–16" >&2
  exit 2
fi
# The genesis caps (kvvm-genesis): a chain with limits beyond them would never start.
if [ -n "$max_block_bytes" ] && { [ "$max_block_bytes" -lt 131072 ] || [ "$max_block_bytes" -gt 1572864 ]; }; then
  echo "bench: --max-block-bytes must be 131072–1572864 (the largest transaction to 1.5 MiB)" >&2
  exit 2
fi
if [ -n "$max_txs_per_block" ] && { [ "$max_txs_per_block" -lt 1 ] || [ "$max_txs_per_block" -gt 10000 ]; }; then
  echo "bench: --max-txs-per-block must be 1–10000" >&2
  exit 2
fi

log() { echo "bench: $*" >&2; }
if [ "$perf_seconds" -gt 0 ] && ! command -v perf >/dev/null; then
  echo "bench: --perf needs perf (Debian: apt-get install linux-perf)" >&2
  exit 2
fi
began=$(date +%s)
step() { log "[$(($(date +%s) - began)) s] $*"; }

step "AvalancheGo ${AVALANCHEGO_VERSION:-v1.14.2}"
AVALANCHEGO="$(timeout 1800 "$ROOT/scripts/build-avalanchego.sh" | tail -n1)"
step "kvvm plugin (release)"
PLUGIN_DIR="$(KVVM_PLUGIN_DIR="$BENCH/plugins" KVVM_PROTOCOL= timeout 3600 "$ROOT/scripts/install-plugin.sh" | tail -n1)"
VMID="$(find "$PLUGIN_DIR" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | head -n1)"
KVVM="$PLUGIN_DIR/$VMID"
step "kvvm-network"
NETBIN="$(timeout 1800 "$ROOT/scripts/build-kvvm-network.sh" | tail -n1)"

stop_network() {
  if [ -e "$NETWORKS/latest" ]; then
    timeout 120 "$NETBIN" stop --network-dir "$NETWORKS/latest" >/dev/null 2>&1 ||
      log "stopping $NETWORKS/latest failed; its nodes may still run"
  fi
}
stop_network
rm -rf "$NETWORKS"
mkdir -p "$NETWORKS"
trap 'status=$?; trap - EXIT INT TERM; step "stopping the network"; stop_network; exit $status' EXIT
trap 'exit 130' INT TERM

# The chain's genesis: kvvm's default, with the limits asked for.
genesis="$BENCH/genesis.json"
"$KVVM" genesis --out "$genesis"
set_limit() {
  local field="$1" value="$2"
  [ -n "$value" ] || return 0
  sed -i "s/\"$field\": *[0-9]*/\"$field\": $value/" "$genesis"
  grep -q "\"$field\": $value\b" "$genesis" || { log "could not set $field in $genesis"; exit 1; }
  log "genesis: $field $value"
}
set_limit maxBlockBytes "$max_block_bytes"
set_limit maxTxsPerBlock "$max_txs_per_block"

step "starting $nodes nodes"
timeout 600 "$NETBIN" start \
  --genesis "$genesis" \
  --node-flags "$node_flags" \
  --avalanchego-path "$AVALANCHEGO" \
  --plugin-dir "$PLUGIN_DIR" \
  --root-dir "$NETWORKS" \
  --out "$BENCH/network.json" \
  --nodes "$nodes" \
  --chain-config "$chain_config" >"$BENCH/start.log"
network_dir="$(readlink -f "$NETWORKS/latest")"
urls="$(sed -n 's/.*"rpcURL": *"\([^"]*\)".*/\1/p' "$BENCH/network.json" | paste -sd, -)"

# The node processes (tmpnet's process.json in each node's directory), and their kvvm plugins.
node_pids=() plugin_pids=()
for context in "$network_dir"/NodeID-*/process.json; do
  pid="$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$context")"
  node_pids+=("$pid")
  for child in $(pgrep -P "$pid" || true); do
    if [ "$(basename "$(readlink "/proc/$child/exe" 2>/dev/null || true)")" = "$VMID" ]; then
      plugin_pids+=("$child")
    fi
  done
done
if [ "${#node_pids[@]}" -ne "$nodes" ] || [ "${#plugin_pids[@]}" -ne "$nodes" ]; then
  log "expected $nodes avalanchego and $nodes kvvm processes, found ${#node_pids[@]} and ${#plugin_pids[@]}"
  exit 1
fi
join() { local IFS=,; echo "$*"; }
measure=(--cpu-of "avalanchego=$(join "${node_pids[@]}")" --cpu-of "kvvm=$(join "${plugin_pids[@]}")" --link-traffic)

# One load, bounded in time: each of its runs ends at its own deadline.
load() {
  local name="$1"
  shift
  # Other work on the machine takes CPU from the nodes: say how busy it was.
  step "load $name (load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
  # shellcheck disable=SC2086 # KVVM_LOAD_ARGS is a list of words
  timeout $((runs * 240 + 60)) "$KVVM" load "$@" --rpc "$urls" --runs "$runs" "${measure[@]}" \
    --out "$BENCH/$name.json" ${KVVM_LOAD_ARGS:-}
  echo
}
# Samples one plugin while the first throughput run is under way, in the background.
profile_plugin() {
  sleep 5
  timeout $((perf_seconds + 60)) perf record --quiet -F 499 --call-graph dwarf,16384 \
    -p "${plugin_pids[0]}" -o "$BENCH/perf.data" -- sleep "$perf_seconds" >/dev/null 2>&1 || true
}
perf_job=
if [ "$perf_seconds" -gt 0 ]; then
  profile_plugin &
  perf_job=$!
fi
# Context switches of every thread of the plugins (threads that end meanwhile are not counted).
plugin_switches() {
  local pid n=0
  for pid in "${plugin_pids[@]}"; do
    n=$((n + $(cat /proc/"$pid"/task/*/status 2>/dev/null |
      awk '/ctxt_switches/ { n += $2 } END { print n + 0 }')))
  done
  echo "$n"
}
switches_before=$(plugin_switches)
load throughput throughput --txs "$txs" --accounts "$accounts" --rate "$rate" \
  --in-flight "$in_flight" --resend-after-ms "$resend_after_ms"
switches=$(($(plugin_switches) - switches_before))
log "kvvm plugins' context switches over the throughput runs: $switches," \
  "$(awk -v s="$switches" -v n="$((txs * runs))" 'BEGIN { printf "%.2f", s / n }') per transaction"
if [ -n "$perf_job" ]; then
  wait "$perf_job"
  if [ -s "$BENCH/perf.data" ]; then
    step "where plugin ${plugin_pids[0]}'s CPU went during the throughput load ($perf_seconds s)"
    perf script -i "$BENCH/perf.data" 2>/dev/null | python3 "$ROOT/scripts/perf-breakdown.py" |
      tee "$BENCH/perf.txt"
    echo
  else
    log "perf recorded nothing (perf_event_paranoid? see $BENCH/perf.data)"
  fi
fi
[ "$idle" -eq 0 ] || load idle idle --count "$idle"
[ "$writer_txs" -eq 0 ] || load one-writer one-writer --txs "$writer_txs"

step "done; JSON reports in $BENCH/{throughput,idle,one-writer}.json, node logs in $network_dir"
