#!/usr/bin/env bash
# salt-lab-smoke.sh - check that scripts/salt-lab.sh gives a working real Salt lab.
#
# Starts a lab with 3 minions in its own dir and ports, checks key listing, test.ping, the
# fixture keys, a down minion, stop-master/start-master and restart-master (3006 must write a
# new .root_key, 3007 and later must keep it), then stops and deletes the lab.
# Settings: SALT_LAB_VERSION as for salt-lab.sh; SALT_LAB_DIR [/tmp/projetyd-lab-smoke],
#   SALT_LAB_PUB_PORT [24605], SALT_LAB_RET_PORT [24606]; KEEP=1 leaves the lab running.
# Prints one line per check and "N passed, N failed"; exits 1 if a check failed.

# Checks are functions run through check(); the SALT_LAB_* variables come from the lab's env lines.
# shellcheck disable=SC2317,SC2153
set -uo pipefail

LAB_SH=$(cd "$(dirname "$0")" && pwd)/salt-lab.sh
export SALT_LAB_DIR=${SALT_LAB_DIR:-/tmp/projetyd-lab-smoke}
export SALT_LAB_PUB_PORT=${SALT_LAB_PUB_PORT:-24605}
export SALT_LAB_RET_PORT=${SALT_LAB_RET_PORT:-24606}
want_version=${SALT_LAB_VERSION:-3007.16}

passed=0 failed=0
check() {  # check NAME COMMAND...: run the command, count it
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
note_fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
# json_is PY_EXPR: true when the Python expression holds for d = the JSON on stdin
json_is() { "$SALT_LAB_BIN/python" -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
finish() {
  local f
  if (( failed )); then  # show the end of each log before the lab is deleted
    for f in "$SALT_LAB_DIR"/log/*; do
      [[ -s $f ]] && { echo "--- $f"; tail -n 8 "$f" | cut -c1-300; }
    done
  fi
  [[ ${KEEP:-0} == 1 ]] || "$LAB_SH" clean 2>/dev/null
  echo "$passed passed, $failed failed"
  exit $((failed > 0))
}
load_env() { set -a; eval "$1"; set +a; }
lab_pids() { pgrep -a -f -- "$SALT_LAB_DIR/" || true; }

"$LAB_SH" clean 2>/dev/null
t0=$SECONDS
if ! lines=$("$LAB_SH" start 3); then note_fail "start 3 minions"; finish; fi
echo "ok   start 3 minions ($((SECONDS - t0))s)"; passed=$((passed + 1))
load_env "$lines"

has_all_keys() {
  local k
  for k in SALT_LAB_DIR SALT_LAB_VERSION SALT_LAB_BIN SALT_LAB_CONFIG_DIR SALT_LAB_MASTER_CONFIG \
    SALT_LAB_PKI_DIR SALT_LAB_CACHE_DIR SALT_LAB_SOCK_DIR SALT_LAB_ROOT_KEY SALT_LAB_EVENT_PUB_SOCK \
    SALT_LAB_RET_PORT SALT_LAB_MINIONS SALT_LAB_MASTER_PID; do
    grep -q "^$k=." <<<"$lines" || { echo "  missing $k"; return 1; }
  done
  [[ $("$LAB_SH" env) == "$lines" ]]
}
check "env lines complete, 'env' repeats them" has_all_keys
version_is() { [[ $("$SALT_LAB_BIN/salt-master" --version) == "salt-master $want_version"* ]]; }
check "salt-master --version is $want_version" version_is
all_running() { "$LAB_SH" status >/dev/null; }
check "status: all running" all_running

key_list() { "$SALT_LAB_BIN/salt-key" -c "$SALT_LAB_CONFIG_DIR" -L --out=json 2>/dev/null; }
ping_all() {
  "$SALT_LAB_BIN/salt" -c "$SALT_LAB_CONFIG_DIR" '*' test.ping --out=json --static 2>/dev/null |
    json_is 'd == {"minion-1": True, "minion-2": True, "minion-3": True}'
}
check "salt-key -L --out=json: 3 accepted, nothing else" json_is \
  'd == {"minions": ["minion-1", "minion-2", "minion-3"], "minions_pre": [], "minions_rejected": [], "minions_denied": []}' \
  < <(key_list)
check "test.ping: all 3 minions answer" ping_all
check "local client key $SALT_LAB_ROOT_KEY is mode 600" [ "$(stat -c %a "$SALT_LAB_ROOT_KEY" 2>/dev/null)" == 600 ]
check "event bus socket exists" [ -S "$SALT_LAB_EVENT_PUB_SOCK" ]

"$LAB_SH" fixtures 2>/dev/null
check "fixtures: minion-down accepted, minion-pending pending, minion-rejected rejected" json_is \
  'd["minions"] == ["minion-1", "minion-2", "minion-3", "minion-down"] and d["minions_pre"] == ["minion-pending"] and d["minions_rejected"] == ["minion-rejected"]' \
  < <(key_list)
down_silent() {
  local out rc t=$SECONDS
  out=$("$SALT_LAB_BIN/salt" -c "$SALT_LAB_QUICK_CONFIG_DIR" minion-down test.ping -t 1 --out=json --static 2>/dev/null)
  rc=$?
  echo "  minion-down: output $out, exit $rc, $((SECONDS - t))s"
  [[ $out == "{}" && $rc -ne 0 ]]
}
check "down minion gives no answer" down_silent
pending_unmatched() {
  local out
  out=$("$SALT_LAB_BIN/salt" -c "$SALT_LAB_CONFIG_DIR" minion-pending test.ping 2>&1)
  [[ $out == *"No minions matched"* ]]
}
check "pending key matches no minion" pending_unmatched

# stop-master / start-master
old_key=$(cat "$SALT_LAB_ROOT_KEY")
t0=$SECONDS
"$LAB_SH" stop-master 2>/dev/null
master_gone() { ! pgrep -f -- "salt-master -c $SALT_LAB_CONFIG_DIR" >/dev/null; }
# Salt's CLI prints this error but exits 0.
cli_fails() {
  "$SALT_LAB_BIN/salt" -c "$SALT_LAB_QUICK_CONFIG_DIR" minion-1 test.ping -t 1 --out=json 2>&1 |
    grep -q "The master is not responding"
}
check "stop-master: master gone, minions still run" master_gone
check "salt CLI: 'master is not responding' while the master is down" cli_fails
if lines=$("$LAB_SH" start-master); then
  echo "ok   start-master: minions answer again ($((SECONDS - t0))s)"; passed=$((passed + 1))
else
  note_fail "start-master"
fi
load_env "$lines"
check "test.ping after start-master" ping_all

# restart-master and the local client key
key_after_start=$(cat "$SALT_LAB_ROOT_KEY")
old_pid=$SALT_LAB_MASTER_PID
t0=$SECONDS
if lines=$("$LAB_SH" restart-master); then
  echo "ok   restart-master: minions answer again ($((SECONDS - t0))s)"; passed=$((passed + 1))
else
  note_fail "restart-master"
fi
load_env "$lines"
new_key=$(cat "$SALT_LAB_ROOT_KEY")
check "restart-master: new master pid" [ "$SALT_LAB_MASTER_PID" != "$old_pid" ]
check "test.ping after restart-master" ping_all
case $SALT_LAB_VERSION in
  3006.*) check "3006: .root_key changes at every master start" \
    [ "$old_key" != "$key_after_start" -a "$key_after_start" != "$new_key" ] ;;
  *) check "$SALT_LAB_VERSION: .root_key kept across master starts" \
    [ "$old_key" == "$key_after_start" -a "$key_after_start" == "$new_key" ] ;;
esac

if [[ ${KEEP:-0} != 1 ]]; then
  "$LAB_SH" stop 2>/dev/null
  "$LAB_SH" status >/dev/null
  check "stop: status reports nothing running" [ $? == 3 ]
  check "stop: no process of the lab is left" [ -z "$(lab_pids)" ]
  "$LAB_SH" clean 2>/dev/null
  check "clean: lab dir deleted" [ ! -e "$SALT_LAB_DIR" ]
fi
finish
