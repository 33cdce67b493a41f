#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. formatting, lints and the API docs (cargo doc, warnings denied);
#   2. unit and integration tests (the real daemon on 127.0.0.1, port 0),
#      then a short smoke run of each fuzz target (scripts/fuzz-smoke.sh),
#      and third-party checkers (Python, scripts/py-tools.sh) on the daemon;
#   3. end-to-end tests against real Salt: for each version in
#      PROJETYD_SALT_VERSIONS (default "3006.29 3007.16 3008.4"), install Salt into a
#      virtualenv, start a master and 3 minions on loopback with
#      scripts/salt-lab.sh (with its salt-api and pepper), and run the e2e tests against it;
#      on the first version's lab, schemathesis too (docs/openapi.md).
# Set PROJETYD_SALT_VERSIONS="" to skip step 3 (plain `cargo test` reports
# the e2e tests as ignored).
# Ends with a line "N passed, N failed" counting the steps.
set -uo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo not found; install Rust with rustup first" >&2; exit 1; }

passed=0 failed=0
step() {  # step NAME COMMAND...: run it, count it
  local name=$1; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else echo "FAILED: $name"; failed=$((failed + 1)); fi
}

# Salt needs a virtualenv; Debian splits venv out of python3.
prerequisites() {
  python3 -c 'import venv, ensurepip' 2>/dev/null && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "test.sh: python3 venv support is missing (Debian: apt-get install python3-venv)" >&2
    return 1
  fi
}

LABS=()
stop_labs() {
  local dir
  for dir in "${LABS[@]}"; do SALT_LAB_DIR=$dir scripts/salt-lab.sh clean >/dev/null 2>&1 || true; done
}
trap stop_labs EXIT

# e2e VERSION INDEX: a lab of its own (dir and ports), the salt_e2e tests, clean up.
e2e() {
  local version=$1 index=$2 dir
  dir=/tmp/projetyd-e2e-${version}
  export SALT_LAB_VERSION=$version SALT_LAB_DIR=$dir
  export SALT_LAB_PUB_PORT=$((34505 + 10 * index)) SALT_LAB_RET_PORT=$((34506 + 10 * index))
  # The lab's own salt-api (and pepper) for the saltapi_e2e tests, on the port next to the pair.
  export SALT_LAB_API_PORT=$((34507 + 10 * index))
  LABS+=("$dir")
  scripts/salt-lab.sh clean >/dev/null 2>&1 || true
  scripts/salt-lab.sh install || return 1
  # Starting Salt's own daemons is the one step here that has failed by
  # itself (a minion gone at start, twice in many runs, cause unknown; its
  # logs are printed): one more try on a clean lab before giving up.
  if ! scripts/salt-lab.sh start 3 >/dev/null; then
    echo "test.sh: the Salt $version lab did not start; cleaning it and trying once more"
    scripts/salt-lab.sh clean >/dev/null 2>&1 || true
    scripts/salt-lab.sh start 3 >/dev/null || return 1
  fi
  scripts/salt-lab.sh fixtures || return 1
  scripts/salt-lab.sh api-start >/dev/null || return 1
  # The e2e tests are #[ignore]d (a plain `cargo test` reports them as
  # ignored); --ignored runs exactly them.
  PROJETYD_SALT_LAB=$dir/lab.env \
    cargo test --locked --test api -- --ignored --test-threads=2 salt_e2e:: tasks_e2e:: master_loss_e2e:: run_e2e:: access_e2e:: saltapi_e2e:: events_e2e::
  local rc=$?
  # Runner and wheel calls of the library (no HTTP), on the same lab.
  PROJETYD_SALT_LAB=$dir/lab.env \
    cargo test --locked --test salt_runner_e2e -- --ignored --test-threads=2
  local rc_runner=$?
  [ "$rc" -eq 0 ] && rc=$rc_runner
  # schemathesis on the served spec (docs/openapi.md), once: on the first
  # version's lab, when the checkers' virtualenv is there (step "third-party
  # checkers" installs it).
  local tools
  tools=$(scripts/py-tools.sh path)
  if [[ $index == 0 && -x $tools/schemathesis ]]; then
    PROJETYD_SALT_LAB=$dir/lab.env PROJETYD_TOOLS_BIN=$tools \
      cargo test --locked --test api -- --ignored --nocapture schemathesis_e2e::
    local rc_schema=$?
    [ "$rc" -eq 0 ] && rc=$rc_schema
  fi
  scripts/salt-lab.sh clean >/dev/null 2>&1 || true
  return $rc
}

# Third-party checkers against the daemon without Salt (Prometheus's own
# parser on /metrics, an OpenAPI validator on the spec): #[ignore]d tests
# named `checked_by_*`, given the checkers' virtualenv (scripts/py-tools.sh).
checkers() {
  prerequisites && scripts/py-tools.sh install || return 1
  PROJETYD_TOOLS_BIN=$(scripts/py-tools.sh path) \
    cargo test --locked --test api -- --ignored --test-threads=2 checked_by_
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --locked --workspace --all-targets -- -D warnings
step "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
step "cargo test" cargo test --locked --workspace
# A few seconds of each fuzz target on its committed corpus (docs/fuzzing.md).
step "fuzz smoke" scripts/fuzz-smoke.sh
step "third-party checkers" checkers

versions=${PROJETYD_SALT_VERSIONS-3006.29 3007.16 3008.4}
if [[ -n $versions ]]; then
  step "salt lab prerequisites" prerequisites
  i=0
  for version in $versions; do
    step "end-to-end tests against Salt $version" e2e "$version" "$i"
    i=$((i + 1))
  done
fi

echo "$passed passed, $failed failed"
(( failed == 0 ))
