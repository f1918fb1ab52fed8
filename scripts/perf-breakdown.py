#!/usr/bin/env python3
"""Where a kvvm plugin's CPU went, from `perf script` output of a `perf record --call-graph dwarf`.

    perf script -i perf.data | scripts/perf-breakdown.py

Each sample is charged to the first of the stages below that its call stack passes through, so
the shares add up to 100%: a signature checked during admission counts as the signature check,
the rest of that admission as admission. Samples in hand-written assembly without unwind tables
(blake3's compression, which hashes the state lattice during execution) end their stack at that
function; they are charged by their own symbol.

Prints one line per stage, largest first, then the ten symbols with the most samples of their own.
"""

import collections
import sys

# (what a frame's symbol contains, the stage it stands for), most specific first.
STAGES = [
    ("verify_signature", "signature check (ed25519 verify_strict)"),
    ("has_executable", "builder: is anything executable"),
    ("check_admissible", "admission: execution against the state"),
    ("Admission::admit", "admission: decode, lookups, pool, notify"),
    ("blake3", "state lattice hashing (blake3)"),
    ("Chain::execute", "block execution (build, verify)"),
    ("Chain::accept", "accept (RocksDB write)"),
    ("Builder::build", "build: choosing and packing"),
    ("Chain::verify", "verify: other"),
    ("receive_txs", "gossip in: other"),
    ("gossip::", "gossip out"),
    ("rpc_server", "JSON-RPC: other"),
    ("jsonrpsee", "JSON-RPC: other"),
    ("tonic", "gRPC and HTTP plumbing"),
    ("hyper", "gRPC and HTTP plumbing"),
    ("h2::", "gRPC and HTTP plumbing"),
    ("rocksdb::", "RocksDB background work"),
    ("tokio", "tokio: scheduling, waking, parking"),
]


def samples(lines):
    """Yields each sample's frames (symbols only), innermost first. A sample is a header line
    ("comm pid time: count event:") followed by indented frames ("address symbol+offset (dso)")."""
    frames = None
    for line in lines:
        if not line.strip():
            continue
        if not line[0].isspace():
            if frames:
                yield frames
            frames = []
        elif frames is not None:
            parts = line.split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1].split(" (")[0])
    if frames:
        yield frames


def stage_of(frames):
    for key, stage in STAGES:
        if any(key in frame for frame in frames):
            return stage
    return "other: " + frames[0][:70]


def main():
    stages = collections.Counter()
    own = collections.Counter()
    total = 0
    for frames in samples(sys.stdin):
        total += 1
        stages[stage_of(frames)] += 1
        own[frames[0].split("+0x")[0][:100]] += 1
    if total == 0:
        sys.exit("perf-breakdown: no samples with call stacks on standard input")
    print(f"{total} samples")
    for stage, n in stages.most_common():
        if n * 200 >= total:  # 0.5% and more
            print(f"{100 * n / total:5.1f}%  {stage}")
    print("symbols with the most samples of their own:")
    for symbol, n in own.most_common(10):
        print(f"{100 * n / total:5.1f}%  {symbol}")


if __name__ == "__main__":
    main()
