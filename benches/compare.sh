#!/usr/bin/env bash
# compare.sh - projetyd beside salt-api, the salt command and the floor, on one real Salt lab.
#
# Usage: benches/compare.sh                  the whole comparison (several minutes on 2 cores)
#        BENCH_SMOKE=1 benches/compare.sh    tiny counts: checks that it works end to end
#
# Builds the bench, starts a lab of its own (a master, 3 minions, the fixture keys and salt-api,
# which scripts/salt-lab.sh sets up: cherrypy from PyPI into the lab's virtualenv, a master.d
# file with rest_cherrypy, external_auth and netapi_enable_clients), runs
# `cargo bench --bench compare` (benches/compare/, main.rs first) on it, and deletes the lab at the end,
# whatever happens. Results: target/bench-results/compare.json and compare-*.svg.
#
# Settings (environment, default in brackets): SALT_LAB_DIR [/tmp/pj-cmp], SALT_LAB_PUB_PORT
# [64505], SALT_LAB_RET_PORT [64506], SALT_LAB_API_PORT [64580], SALT_LAB_VERSION [3007.16];
# BENCH_N, BENCH_CLI_N, BENCH_SECS, BENCH_ASYNC, BENCH_API_ASYNC, BENCH_SMOKE go to the bench.
set -euo pipefail
cd "$(dirname "$0")/.."

export SALT_LAB_DIR=${SALT_LAB_DIR:-/tmp/pj-cmp}
export SALT_LAB_PUB_PORT=${SALT_LAB_PUB_PORT:-64505}
export SALT_LAB_RET_PORT=${SALT_LAB_RET_PORT:-64506}
export SALT_LAB_API_PORT=${SALT_LAB_API_PORT:-64580}
lab=scripts/salt-lab.sh

# Compile before the lab starts, so that no minion waits on the compiler.
cargo bench --bench compare --no-run

cleanup() {
  "$lab" clean || echo "compare.sh: could not clean up $SALT_LAB_DIR" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$lab" clean  # a lab an interrupted run left behind
"$lab" start 3 >/dev/null
"$lab" fixtures
"$lab" api-start >/dev/null
PROJETYD_SALT_LAB=$SALT_LAB_DIR/lab.env cargo bench --bench compare
