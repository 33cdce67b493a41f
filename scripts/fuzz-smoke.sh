#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets in fuzz/ and runs each one
# for a few seconds, starting from its committed corpus (fuzz/corpus/<t>/).
# Exits non-zero if any target crashes (its input is left in
# fuzz/artifacts/<t>/) or fails to build. New inputs found here go to a
# temporary directory, so the committed corpora stay as they are.
#
# Needs a nightly toolchain (libFuzzer's instrumentation); without one it
# prints a SKIPPED line and exits 0. Installs cargo-fuzz if it is missing.
# FUZZ_SECONDS sets the time per target (default 5).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-5}

if ! command -v cargo >/dev/null || ! cargo +nightly --version >/dev/null 2>&1; then
  echo 'fuzz-smoke: SKIPPED: no nightly Rust toolchain: "cargo +nightly" is not available (rustup toolchain install nightly)'
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || { echo "fuzz-smoke: cannot install cargo-fuzz" >&2; exit 1; }
fi

echo "== cargo +nightly fuzz build"
cargo +nightly fuzz build || { echo "fuzz-smoke: FAILED: the fuzz targets do not build" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0 failed=0
for target in $(cargo +nightly fuzz list); do
  echo "== fuzz $target (${seconds}s)"
  mkdir -p "$scratch/$target" "fuzz/corpus/$target"
  # The first directory receives new inputs; the committed corpus is only read.
  if cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1; then
    passed=$((passed + 1))
  else
    echo "FAILED: fuzz $target (crash input in fuzz/artifacts/$target/)"
    failed=$((failed + 1))
  fi
done

echo "fuzz-smoke: $passed passed, $failed failed"
(( failed == 0 ))
