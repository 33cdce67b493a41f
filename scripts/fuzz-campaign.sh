#!/usr/bin/env bash
# Fuzz campaign: runs every cargo-fuzz target in turn until it reaches
# FUZZ_RUNS executions (default 10,000,000) or FUZZ_SECONDS of fuzzing
# (default 1800), growing its committed corpus (fuzz/corpus/<t>/), then
# minimizes the corpus with `cargo fuzz cmin`. One line per target goes to
# stdout with libFuzzer's own figures; the full output of each run is kept
# in FUZZ_LOGS (default fuzz/logs/, ignored by git). Targets can be named
# on the command line; the default is all of them. Exits non-zero if any
# target crashed (its input is in fuzz/artifacts/<t>/). FUZZ_RSS_MB sets
# libFuzzer's RSS limit (default 2048).
#
# This takes hours with the defaults; docs/fuzzing.md has the figures of
# the last campaign. For a quick check use scripts/fuzz-smoke.sh instead.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${FUZZ_RUNS:-10000000}
seconds=${FUZZ_SECONDS:-1800}
logs=${FUZZ_LOGS:-fuzz/logs}
mkdir -p "$logs"

cargo +nightly fuzz build || { echo "fuzz-campaign: the fuzz targets do not build" >&2; exit 1; }
targets=("$@")
if (( ${#targets[@]} == 0 )); then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

failed=0
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  mkdir -p "fuzz/corpus/$target"
  started=$SECONDS
  if cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
    -runs="$runs" -max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1; then
    verdict=ok
  else
    verdict=CRASHED
    failed=$((failed + 1))
  fi
  stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}'; }
  echo "$target: $verdict executions=$(stat number_of_executed_units) wall_seconds=$((SECONDS - started))" \
    "exec/s=$(stat average_exec_per_sec) peak_rss_mb=$(stat peak_rss_mb) new_units=$(stat new_units_added)"
  if [[ $verdict == ok ]]; then
    cargo +nightly fuzz cmin "$target" >"$logs/$target.cmin.log" 2>&1 ||
      echo "$target: cmin failed (see $logs/$target.cmin.log)"
    echo "$target: corpus $(find "fuzz/corpus/$target" -type f | wc -l) files," \
      "$(find "fuzz/corpus/$target" -type f -printf '%s\n' | awk '{s+=$1} END {print s}') bytes"
  fi
done
(( failed == 0 ))
