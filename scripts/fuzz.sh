#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ (cargo fuzz, libFuzzer, the nightly toolchain) and runs each for
# a bounded time; exits non-zero at the first crash, whose input libFuzzer leaves in
# fuzz/artifacts/<target>/. docs/reliability.md describes the targets and their invariants.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 60 seconds, every target)
#
# Each target starts from its committed seeds (fuzz/seeds/<target>, read only) and a working
# corpus (fuzz/corpus/<target>, not committed) that grows from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
shift || true

CARGO_FUZZ_VERSION=0.13.2
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
# Installed once into ~/.cargo/bin, like the other tools a fresh machine gets.
if [ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

# The instrumented build has its own flags and target directory: sharing the main workspace's
# would make each build invalidate the other's.
export CARGO_TARGET_DIR="$PWD/fuzz/target"
# No sanitizer: kvvm has no `unsafe` code and cargo fuzz would not instrument RocksDB's C++
# anyway; the targets assert their invariants, and any panic aborts the run. Release with debug
# assertions (cargo fuzz's default), so overflow checks stay on.
fuzz=(cargo +nightly fuzz)
flags=(--fuzz-dir fuzz --sanitizer none)

if (($# == 0)); then
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
else
  targets=("$@")
fi

# cargo fuzz has no --locked: check here that fuzz/Cargo.lock needs no change.
cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
echo "== fuzz: building ${#targets[@]} targets"
start=$SECONDS
if (($# == 0)); then
  "${fuzz[@]}" build "${flags[@]}"
else
  for target in "${targets[@]}"; do
    "${fuzz[@]}" build "${flags[@]}" "$target"
  done
fi
echo "fuzz: built in $((SECONDS - start)) s; fuzz/target holds $(du -sh fuzz/target | cut -f1)"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  echo "== fuzz: $target for ${seconds} s"
  if ! "${fuzz[@]}" run "${flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$logs/$target" 2>&1; then
    tail -n 60 "$logs/$target" >&2
    echo "fuzz: $target CRASHED; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs="$(grep -o "stat::number_of_executed_units: *[0-9]*" "$logs/$target" | grep -o '[0-9]*$')"
  rate="$(grep -o "stat::average_exec_per_sec: *[0-9]*" "$logs/$target" | grep -o '[0-9]*$')"
  echo "fuzz: $target: ${runs:-?} executions, ${rate:-?}/s, no crash"
done
