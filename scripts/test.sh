#!/usr/bin/env bash
# The test command: formatting, lints, every unit and integration test, every fuzz target for 20 s
# (KVVM_FUZZ_SECONDS), then the end-to-end suite on real AvalancheGo nodes (scripts/e2e.sh).
# The dev profile keeps CI's cold build short (RocksDB's C++ compiles at -O0 in a few minutes); the
# end-to-end suite installs the debug `kvvm` that `cargo test` built as the nodes' plugin, so no
# release build is needed here. Benchmarks and the plugin of scripts/run-network.sh use release.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

if [ "${CI:-}" = "true" ]; then
  # A fresh clone builds everything once: incremental state would only take disk (~1 GB).
  export CARGO_INCREMENTAL=0
fi
echo "== disk free where target/ grows"
df -h . | tail -1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== gofmt (tests/network)"
unformatted="$(cd tests/network && gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== fuzz targets, briefly (scripts/fuzz.sh; docs/reliability.md)"
scripts/fuzz.sh "${KVVM_FUZZ_SECONDS:-20}"
if [ "${CI:-}" = "true" ]; then
  # The instrumented build (~2 GB) is not needed again; the end-to-end nodes want the disk.
  rm -rf fuzz/target
fi
echo "== end-to-end on AvalancheGo"
scripts/e2e.sh
