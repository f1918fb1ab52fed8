#!/usr/bin/env bash
# The test command: formatting, lints, then every unit and integration test.
# The dev profile keeps CI's cold build short (RocksDB's C++ compiles at -O0 in a few minutes);
# benchmarks and the plugin a node runs use the release profile.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
