#!/usr/bin/env bash
# The test command: formatting, lints, then every unit and integration test, all in the release
# profile so RocksDB's C++ is compiled once for the tests and the plugin binary alike.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --release --workspace --locked
