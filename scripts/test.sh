#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and
# integration tests (the integration tests start the real daemon on
# 127.0.0.1 with an ephemeral port and talk HTTP to it).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo not found; install Rust with rustup first" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
