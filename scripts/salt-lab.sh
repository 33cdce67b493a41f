#!/usr/bin/env bash
# salt-lab.sh - projetyd's test lab: a real Salt master and N minions on loopback.
#
# Usage: scripts/salt-lab.sh COMMAND
#   install         make a virtualenv for SALT_LAB_VERSION and pip install salt into it (idempotent)
#   start [N]       start a master and N minions (default 2) in SALT_LAB_DIR, wait until every
#                   minion answers test.ping, then print KEY=VALUE lines (see `env`)
#   env             print the KEY=VALUE lines of the running lab again (also in SALT_LAB_DIR/lab.env)
#   fixtures        add keys that have no running minion: minion-down (accepted),
#                   minion-pending (unaccepted) and minion-rejected (rejected)
#   status          list the recorded processes; exit 0 all running, 1 some dead, 3 nothing recorded
#   stop-master     stop only the master (minions keep running and reconnect later)
#   start-master    start the master again, wait until the minions answer, print the KEY=VALUE lines
#   restart-master  stop-master, then start-master (3006 writes a new .root_key here; 3007 keeps it)
#   api-start       start salt-api (rest_cherrypy) on the lab's master, wait until it answers, print
#                   the KEY=VALUE lines; needs a lab started with SALT_LAB_API_PORT. pip installs
#                   cherrypy into the virtualenv if it is missing
#   pepper-install  make a virtualenv SALT_LAB_PEPPER_VENV and pip install salt-pepper into it
#                   (idempotent; api-start does it too)
#   api-stop        stop salt-api (only the process group this script recorded)
#   stop            stop the master, all minions and salt-api (only the process groups this script
#                   recorded)
#   clean           stop, then delete SALT_LAB_DIR
#
# Settings (environment variables, default in brackets):
#   SALT_LAB_VERSION   Salt version [3007.16]; 3006.29, 3007.16 and 3008.4 install here
#   SALT_LAB_VENV      virtualenv [/opt/projetyd-salt/<version>]
#   SALT_LAB_DIR       lab directory, absolute, at most 50 chars (unix socket paths) [/tmp/projetyd-lab]
#   SALT_LAB_PUB_PORT  master publish port [14505]
#   SALT_LAB_RET_PORT  master request ("ret") port [14506]
#   SALT_LAB_WORKERS   master worker_threads [4]
#   SALT_LAB_TIMEOUT   seconds to wait for the minions to answer [120]
#   SALT_LAB_STOP_WAIT seconds between TERM and KILL on stop [3]
#   SALT_LAB_LOG_LEVEL level of the log files in SALT_LAB_DIR/log [info]
#   SALT_LAB_PYTHON    python that creates the virtualenv [python3]
#   SALT_LAB_HOSTS     1: add this host's name to /etc/hosts if missing, so no DNS query is made [1]
#   SALT_LAB_PEPPER_VENV virtualenv of pepper, the salt-api client [/opt/projetyd-salt/pepper]
#   SALT_LAB_API_PORT  opt-in salt-api: start writes SALT_LAB_DIR/etc/master.d/salt-api.conf before
#                      the master starts: rest_cherrypy on 127.0.0.1:<port> without TLS, external_auth
#                      `auto` (ANY password) for user benchuser (the benchmarks) and `file` for user
#                      saltapi-user with a random password in SALT_LAB_DIR/api-password (the e2e
#                      tests), both ('.*', @wheel, @runner, @jobs), and netapi_enable_clients every
#                      client but ssh. Unset [default]: no such file (a stale one is removed), no salt-api
# Lines printed by start, start-master, restart-master, api-start and env (eval them with set -a):
#   SALT_LAB_DIR SALT_LAB_VERSION SALT_LAB_BIN (the venv's bin: salt, salt-key, salt-run, python)
#   SALT_LAB_CONFIG_DIR = SALT_CONFIG_DIR (salt -c DIR) SALT_LAB_MASTER_CONFIG (its master file)
#   SALT_LAB_QUICK_CONFIG_DIR (same master config with gather_job_timeout 2: the salt CLI gives up
#   on a down minion after ~3 s) SALT_LAB_MASTER_USER SALT_LAB_PKI_DIR SALT_LAB_CACHE_DIR
#   SALT_LAB_SOCK_DIR SALT_LAB_ROOT_KEY (the local client key file) SALT_LAB_EVENT_PUB_SOCK
#   SALT_LAB_INTERFACE SALT_LAB_RET_PORT SALT_LAB_PUB_PORT SALT_LAB_MINIONS (minion-1,minion-2,...)
#   SALT_LAB_MASTER_PID
#   and only in a lab started with SALT_LAB_API_PORT: SALT_LAB_API_PORT SALT_LAB_API_URL
#   SALT_LAB_API_USER SALT_LAB_API_EAUTH (benchuser, auto) SALT_LAB_API_FILE_USER
#   SALT_LAB_API_FILE_EAUTH SALT_LAB_API_PASSWORD_FILE (saltapi-user, file, its password's file)
#   SALT_LAB_API_PID (empty until api-start) SALT_LAB_PEPPER_BIN (pepper's venv bin: pepper, python)
# Progress and errors go to stderr; only the KEY=VALUE lines go to stdout.
# Two labs can run side by side when they have different SALT_LAB_DIR and ports.
set -euo pipefail

VERSION=${SALT_LAB_VERSION:-3007.16}
VENV=${SALT_LAB_VENV:-/opt/projetyd-salt/$VERSION}
LAB=${SALT_LAB_DIR:-/tmp/projetyd-lab}
LAB=${LAB%/}
PUB_PORT=${SALT_LAB_PUB_PORT:-14505}
RET_PORT=${SALT_LAB_RET_PORT:-14506}
WORKERS=${SALT_LAB_WORKERS:-4}
TIMEOUT=${SALT_LAB_TIMEOUT:-120}
STOP_WAIT=${SALT_LAB_STOP_WAIT:-3}
LOG_LEVEL=${SALT_LAB_LOG_LEVEL:-info}
API_PORT=${SALT_LAB_API_PORT:-}
ADDR=127.0.0.1
BIN=$VENV/bin

# Layout. Kept short on purpose: a unix socket path must fit in 108 bytes, and the longest one
# is a minion's "$LAB/m/<id>/run/minion_event_<10 hex>_pull.ipc" (length of $LAB + 49 for minion-NN).
CONF=$LAB/etc                 # master config dir (salt -c $CONF); the file is $CONF/master
QUICK=$LAB/etc-quick          # same master config + gather_job_timeout 2, for the salt CLI only:
                              # a down minion is given up on in ~3 s instead of ~15 s
PKI=$LAB/pki/master
CACHE=$LAB/cache/master
SOCKS=$LAB/run/master
PIDS=$LAB/pids
LOGS=$LAB/log
MARK=$LAB/.projetyd-salt-lab  # only a dir holding this file is ever deleted by `clean`
API_CONF=$CONF/master.d/salt-api.conf  # only with SALT_LAB_API_PORT (Salt's default_include is
                                       # master.d/*.conf beside the master file)
API_PORT_FILE=$LAB/api-port   # the port the lab was started with, for api-start and env
API_USER=benchuser
PEPPER_VENV=${SALT_LAB_PEPPER_VENV:-/opt/projetyd-salt/pepper}
PEPPER_VERSION=0.7.6          # salt-pepper, the salt-api client the e2e tests run
API_FILE_USER=saltapi-user      # the file eauth's user (a real password, in API_PASSWORD_FILE)
API_PASSWORD_FILE=$LAB/api-password
API_USERS_FILE=$LAB/api-users  # the file eauth's user list (user:password)

say() { printf 'salt-lab: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

check_settings() {
  [[ $LAB == /* && $LAB != *[[:space:]]* && $LAB != / ]] || fail "SALT_LAB_DIR must be an absolute path without spaces"
  (( ${#LAB} <= 50 )) || fail "SALT_LAB_DIR is ${#LAB} chars; at most 50 keep unix socket paths under 108 bytes"
  local p
  for p in "$PUB_PORT" "$RET_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || (( p < 1 || p > 65535 )); then fail "bad port: $p"; fi
  done
  [[ $PUB_PORT != "$RET_PORT" ]] || fail "SALT_LAB_PUB_PORT and SALT_LAB_RET_PORT must differ"
  if [[ -n $API_PORT ]]; then
    if ! [[ $API_PORT =~ ^[0-9]+$ ]] || (( API_PORT < 1 || API_PORT > 65535 )); then
      fail "bad port: SALT_LAB_API_PORT=$API_PORT"
    fi
    [[ $API_PORT != "$PUB_PORT" && $API_PORT != "$RET_PORT" ]] \
      || fail "SALT_LAB_API_PORT must differ from SALT_LAB_PUB_PORT and SALT_LAB_RET_PORT"
  fi
}

# ---------------------------------------------------------------------------------------------
# install

venv_salt_version() {
  [[ -x $BIN/python ]] || return 0
  "$BIN/python" -c 'import importlib.metadata as m; print(m.version("salt"))' 2>/dev/null || true
}

installed() { [[ -x $BIN/salt-master && -x $BIN/salt-minion && $(venv_salt_version) == "$VERSION" ]]; }

cmd_install() {
  installed && { say "salt $VERSION is already installed in $VENV"; return 0; }
  local t0 lock
  t0=$(now)
  mkdir -p "$(dirname "$VENV")"
  # Two test runs may install the same version at once: serialize on a lock beside the venv.
  lock=$VENV.lock
  exec 9>"$lock"
  flock 9
  if installed; then say "salt $VERSION was installed meanwhile in $VENV"; return 0; fi
  if [[ ! -x $BIN/python ]]; then
    say "creating virtualenv $VENV"
    "${SALT_LAB_PYTHON:-python3}" -m venv "$VENV"
  fi
  say "pip install salt==$VERSION into $VENV"
  "$BIN/python" -m pip install --quiet --disable-pip-version-check "salt==$VERSION" >&2 \
    || fail "pip could not install salt==$VERSION (3006.30, 3007.17 and 3008.5 need a newer certifi than the registry here has)"
  installed || fail "salt $VERSION is not usable in $VENV after pip install"
  flock -u 9
  say "installed salt $VERSION in $VENV in $(since "$t0")s"
}

# ---------------------------------------------------------------------------------------------
# processes: every daemon runs in its own session (setsid), so its pid is also its process
# group id, and stopping it means signalling that group (workers and job processes included).

pidfile() { printf '%s/%s.pid' "$PIDS" "$1"; }
recorded_pid() { local f; f=$(pidfile "$1"); if [[ -s $f ]]; then cat "$f"; fi; }

# The recorded start time (field 22 of /proc/PID/stat) tells our process from a later one that
# got the same pid. (The command line is no good for that: setproctitle rewrites it, and a
# reader can catch it half written.)
start_time() { [[ -r /proc/$1/stat ]] && sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '$1 != "Z" { print $20 }'; }

running() {  # $1 = name (master, minion-1, ...): its recorded process runs
  local pid t f
  pid=$(recorded_pid "$1"); f=$PIDS/$1.start
  [[ -n $pid && -s $f ]] || return 1
  t=$(start_time "$pid") || return 1
  [[ -n $t && $t == "$(<"$f")" ]]
}

# A group whose leader is gone is still ours if a member's command line names the lab dir
# (every daemon is started with -c $LAB/...; forks inherit it).
group_has_ours() {
  local p
  for p in $(ps -e -o pid= -o pgid= | awk -v g="$1" '$2 == g { print $1 }'); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$LAB/" && return 0
  done
  return 1
}

# Stop the recorded process groups of the named daemons: TERM, wait, KILL, wait until gone.
stop_daemons() {
  local name pid groups=() dying=()
  for name; do
    pid=$(recorded_pid "$name")
    [[ -n $pid ]] || continue
    if running "$name" || group_has_ours "$pid"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      groups+=("$pid")
    elif kill -0 -- "-$pid" 2>/dev/null; then
      dying+=("$pid")  # killed from outside, not reaped yet: wait for it, signal nothing
    fi
  done
  if (( ${#groups[@]} )); then
    # Salt takes seconds to exit cleanly; a lab does not need a clean exit.
    groups_gone $((STOP_WAIT * 10)) "${groups[@]}" || {
      say "sending KILL to what is left of ${#groups[@]} group(s)"
      # A process group id is not reused while the group has a member: these are still ours.
      for pid in "${groups[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
      groups_gone 100 "${groups[@]}" || say "warning: some processes did not exit"
    }
  fi
  # A daemon started while its predecessor is still exiting stops at once ("An instance is
  # already running"), so wait until the old groups are gone.
  if (( ${#dying[@]} )); then groups_gone 50 "${dying[@]}" || true; fi
  # Salt's own pid files too: one naming a reused pid would stop the next start.
  for name; do
    rm -f "$(pidfile "$name")" "$PIDS/$name.start"
    case $name in
      master) rm -f "$LAB/run/salt-master.pid" "$LAB/run/process_responsibility_salt-master.pid" ;;
      api) rm -f "$LAB/run/salt-api.pid" ;;
      *) rm -f "$LAB/m/$name/run/salt-minion.pid" "$LAB/m/$name/run/process_responsibility_salt-minion.pid" ;;
    esac
  done
  if (( ${#groups[@]} )); then say "stopped ${#groups[@]} process group(s)"; fi
}

groups_gone() {  # $1 = tenths of a second to wait, then process group ids
  local tenths=$1 i g left; shift
  for ((i = 0; i <= tenths; i++)); do
    left=0
    for g; do kill -0 -- "-$g" 2>/dev/null && left=1; done
    (( left )) || return 0
    sleep 0.1
  done
  return 1
}

spawn() {  # $1 = name, then the command
  local name=$1; shift
  mkdir -p "$PIDS" "$LOGS"
  setsid "$@" </dev/null >>"$LOGS/$name.console" 2>&1 &
  echo "$!" >"$(pidfile "$name")"
  start_time "$!" >"$PIDS/$name.start" || true
  say "started $name, pid $!"
}

listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# ---------------------------------------------------------------------------------------------
# configuration

# Salt's grains resolve this host's name (IPv4 and IPv6). With no /etc/hosts line for it, glibc
# asks the DNS server, i.e. traffic leaves the machine. Add what is missing, once.
ensure_hosts() {
  [[ ${SALT_LAB_HOSTS:-1} == 1 ]] || return 0
  local host fam line
  host=$(uname -n)
  for fam in 4 6; do
    if ! awk -v h="$host" -v fam="$fam" '
        /^[[:space:]]*(#|$)/ { next }
        { v6 = ($1 ~ /:/) ? 6 : 4; if (v6 != fam) next
          for (i = 2; i <= NF; i++) { if ($i ~ /^#/) break; if ($i == h) found = 1 } }
        END { exit !found }' /etc/hosts; then
      [[ $fam == 4 ]] && line="127.0.1.1 $host" || line="::1 $host"
      if [[ -w /etc/hosts ]]; then
        [[ -z $(tail -c1 /etc/hosts) ]] || echo >>/etc/hosts
        echo "$line  # added by projetyd salt-lab.sh" >>/etc/hosts
        say "added '$line' to /etc/hosts"
      else
        say "warning: /etc/hosts has no IPv$fam line for $host; Salt's grains will query DNS"
      fi
    fi
  done
}

# 3007.x (seen in 3007.16, not in 3006.29 or 3008.4): a job's minion process never learns that
# its return was sent and lingers return_retry_tries * return_retry_timer_max seconds (30 s by
# default) before giving up; the return itself arrives. Short retry settings end it in ~3 s.
retry_settings() {
  case $(venv_salt_version) in
    3007.*) printf '%s\n' "return_retry_timer: 1" "return_retry_timer_max: 1" "return_retry_tries: 3" ;;
    *) echo "# return_retry_* left at Salt's defaults" ;;
  esac
}

write_configs() {  # $1 = number of minions
  local n=$1 i id d me
  me=$(id -un)
  mkdir -p "$CONF" "$PKI" "$CACHE" "$SOCKS" "$PIDS" "$LOGS" "$LAB/srv/salt" "$LAB/srv/pillar"
  touch "$MARK"
  cat >"$CONF/master" <<EOF
# written by projetyd scripts/salt-lab.sh; rewritten on every start
root_dir: $LAB
user: $me
interface: $ADDR
ipv6: False
publish_port: $PUB_PORT
ret_port: $RET_PORT
pki_dir: $PKI
cachedir: $CACHE
sock_dir: $SOCKS
pidfile: $LAB/run/salt-master.pid
log_file: $LOGS/master.log
key_logfile: $LOGS/key.log
log_level_logfile: $LOG_LEVEL
auto_accept: True
worker_threads: $WORKERS
skip_grains: True
enable_fqdns_grains: False
file_roots:
  base: [$LAB/srv/salt]
pillar_roots:
  base: [$LAB/srv/pillar]
# Targets for the e2e tests: a grain-based and a list nodegroup.
nodegroups:
  webs: 'G@role:web'
  firsts: [minion-1, minion-2]
EOF
  write_states
  for ((i = 1; i <= n; i++)); do
    id=minion-$i
    d=$LAB/m/$id
    mkdir -p "$d"
    cat >"$d/minion" <<EOF
# written by projetyd scripts/salt-lab.sh; rewritten on every start
id: $id
root_dir: $LAB
user: $me
master: $ADDR
master_port: $RET_PORT
publish_port: $PUB_PORT
ipv6: False
pki_dir: $d/pki
cachedir: $d/cache
sock_dir: $d/run
pidfile: $d/run/salt-minion.pid
log_file: $LOGS/$id.log
log_level_logfile: $LOG_LEVEL
enable_fqdns_grains: False
acceptance_wait_time: 1
acceptance_wait_time_max: 2
# After a master restart the minion (re)schedules status.master every master_alive_interval
# seconds; with Salt's default 0 that is a new process every second, forever.
master_alive_interval: 60
# Reconnect to a restarted master's publish port within a second (Salt's default backs off
# to a random delay of up to 10 s).
recon_default: 200
recon_max: 1000
recon_randomize: False
$(retry_settings)
# Grains the e2e tests target: minion-3 is the one database.
grains:
  role: $( ((i == 3)) && echo db || echo web)
  lab_index: $i
file_roots:
  base: [$LAB/srv/salt]
pillar_roots:
  base: [$LAB/srv/pillar]
EOF
  done
  mkdir -p "$QUICK"
  { cat "$CONF/master"; echo "gather_job_timeout: 2"; } >"$QUICK/master"
  echo "$n" >"$LAB/minion-count"
  write_api_config
}

# States the e2e tests apply: one that succeeds, one that fails (a non-zero retcode).
write_states() {
  mkdir -p "$LAB/srv/salt/e2e"
  cat >"$LAB/srv/salt/e2e/ok.sls" <<'EOF'
# written by projetyd scripts/salt-lab.sh
e2e-managed:
  file.managed:
    - name: {{ opts['cachedir'] }}/e2e-managed.txt
    - contents: managed by the projetyd e2e tests
EOF
  cat >"$LAB/srv/salt/e2e/fail.sls" <<'EOF'
# written by projetyd scripts/salt-lab.sh
e2e-fails:
  cmd.run:
    - name: exit 3
EOF
}

# The master itself checks external_auth when salt-api asks it for tokens and publishes, so this
# file must be in place before the master starts. Without SALT_LAB_API_PORT there is none.
write_api_config() {
  if [[ -z $API_PORT ]]; then
    rm -f "$API_CONF" "$API_PORT_FILE" "$API_USERS_FILE"
    return 0
  fi
  mkdir -p "$(dirname "$API_CONF")"
  # The file eauth's user: a password of its own, made once per lab (kept across restarts),
  # readable by this user only; lab.env names the file, never the password.
  if [[ ! -s $API_PASSWORD_FILE ]]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$API_PASSWORD_FILE")
  fi
  (umask 077; printf '%s:%s\n' "$API_FILE_USER" "$(<"$API_PASSWORD_FILE")" >"$API_USERS_FILE")
  cat >"$API_CONF" <<EOF
# written by projetyd scripts/salt-lab.sh (SALT_LAB_API_PORT); rewritten on every start.
# Two users: $API_USER with the auto eauth, which accepts ANY password (for the benchmarks), and
# $API_FILE_USER with the file eauth and a real password (for the e2e tests: a bad password is refused).
rest_cherrypy:
  host: $ADDR
  port: $API_PORT
  disable_ssl: True
external_auth:
  auto:
    $API_USER: ['.*', '@wheel', '@runner', '@jobs']
  file:
    ^filename: $API_USERS_FILE
    ^filetype: text
    $API_FILE_USER: ['.*', '@wheel', '@runner', '@jobs']
# Empty by default since Salt 3006: every netapi client is refused until it is listed. Every
# client but ssh here (the lab has no salt-ssh roster), so ssh is the disabled one the tests call.
netapi_enable_clients: [local, local_async, local_batch, local_subset, runner, runner_async, wheel, wheel_async]
api_pidfile: $LAB/run/salt-api.pid
api_logfile: $LOGS/api.log
EOF
  echo "$API_PORT" >"$API_PORT_FILE"
}

lab_api_port() { if [[ -s $API_PORT_FILE ]]; then cat "$API_PORT_FILE"; fi; }

minion_count() { [[ -s $LAB/minion-count ]] && cat "$LAB/minion-count" || echo 0; }

minion_ids() {  # comma separated
  local i n out=""
  n=$(minion_count)
  for ((i = 1; i <= n; i++)); do out+="${out:+,}minion-$i"; done
  printf '%s' "$out"
}

# The file the local client (salt, projetyd) reads: .<user>_key, .root_key for root.
root_key_path() { printf '%s/.%s_key' "$CACHE" "$(id -un)"; }

write_env() {
  cat >"$LAB/lab.env" <<EOF
SALT_LAB_DIR=$LAB
SALT_LAB_VERSION=$(venv_salt_version)
SALT_LAB_BIN=$BIN
SALT_LAB_CONFIG_DIR=$CONF
SALT_CONFIG_DIR=$CONF
SALT_LAB_MASTER_CONFIG=$CONF/master
SALT_LAB_QUICK_CONFIG_DIR=$QUICK
SALT_LAB_MASTER_USER=$(id -un)
SALT_LAB_PKI_DIR=$PKI
SALT_LAB_CACHE_DIR=$CACHE
SALT_LAB_SOCK_DIR=$SOCKS
SALT_LAB_ROOT_KEY=$(root_key_path)
SALT_LAB_EVENT_PUB_SOCK=$SOCKS/master_event_pub.ipc
SALT_LAB_INTERFACE=$ADDR
SALT_LAB_RET_PORT=$RET_PORT
SALT_LAB_PUB_PORT=$PUB_PORT
SALT_LAB_MINIONS=$(minion_ids)
SALT_LAB_MASTER_PID=$(recorded_pid master)
EOF
  local port
  port=$(lab_api_port)
  if [[ -n $port ]]; then
    cat >>"$LAB/lab.env" <<EOF
SALT_LAB_API_PORT=$port
SALT_LAB_API_URL=http://$ADDR:$port
SALT_LAB_API_USER=$API_USER
SALT_LAB_API_EAUTH=auto
SALT_LAB_API_FILE_USER=$API_FILE_USER
SALT_LAB_API_FILE_EAUTH=file
SALT_LAB_API_PASSWORD_FILE=$API_PASSWORD_FILE
SALT_LAB_API_PID=$(recorded_pid api)
SALT_LAB_PEPPER_BIN=$PEPPER_VENV/bin
EOF
  fi
}

# ---------------------------------------------------------------------------------------------
# waiting

# The master is up when its request port listens, its event bus socket exists and the local
# client key is written (3006 writes a new one at every start).
wait_master() {
  local t0 deadline
  t0=$(now); deadline=$((SECONDS + TIMEOUT))
  until listening "$RET_PORT" && [[ -S $SOCKS/master_event_pub.ipc && -s $(root_key_path) ]]; do
    running master || fail "salt-master exited; see $LOGS/master.console and $LOGS/master.log"
    (( SECONDS < deadline )) || fail "salt-master not up after ${TIMEOUT}s; see $LOGS/master.log"
    sleep 0.2
  done
  say "master up in $(since "$t0")s"
}

# The last lines a daemon wrote, on stderr: a clean-up after a failure deletes the lab's logs.
show_logs() {  # $1 = name (master, minion-1, ...)
  local f
  for f in "$LOGS/$1.console" "$LOGS/$1.log"; do
    [[ -s $f ]] || continue
    echo "salt-lab: --- last lines of $f:" >&2
    tail -n 20 "$f" >&2
  done
}

wait_minions() {
  local n ids t0 deadline out got i
  n=$(minion_count); ids=$(minion_ids)
  (( n > 0 )) || return 0
  t0=$(now); deadline=$((SECONDS + TIMEOUT))
  while :; do
    # Short timeouts: a minion that is not ready yet should not hold the loop for long.
    out=$("$BIN/salt" -c "$QUICK" -L "$ids" test.ping --out=json --static -t 1 2>/dev/null || true)
    got=$(grep -c '": true' <<<"$out" || true)
    (( got == n )) && break
    running master || fail "salt-master is not running; see $LOGS/master.console and $LOGS/master.log"
    for ((i = 1; i <= n; i++)); do
      running "minion-$i" || { show_logs "minion-$i"; fail "minion-$i is not running; see $LOGS/minion-$i.console and $LOGS/minion-$i.log"; }
    done
    (( SECONDS < deadline )) || fail "only $got of $n minions answered test.ping within ${TIMEOUT}s; logs in $LOGS"
    sleep 0.5
  done
  say "all $n minions answered test.ping after $(since "$t0")s"
}

# ---------------------------------------------------------------------------------------------
# commands

ports_free() {
  local p
  for p in "$PUB_PORT" "$RET_PORT"; do
    if listening "$p"; then fail "port $p is in use; pick others with SALT_LAB_PUB_PORT / SALT_LAB_RET_PORT"; fi
  done
}

launch_master() {
  running master && return 0
  stop_daemons master  # what a dead master left behind
  ports_free
  spawn master "$BIN/salt-master" -c "$CONF" -l quiet
}

cmd_start() {
  local n=${1:-2} i t0 have master_was_running=0
  if ! [[ $n =~ ^[0-9]+$ ]] || (( n < 1 || n > 99 )); then fail "N must be between 1 and 99"; fi
  check_settings
  have=$(minion_count)
  if (( have != n )) && [[ -n $(running_names) ]]; then
    fail "a lab with $have minion(s) runs in $LAB; stop it first"
  fi
  running master || ports_free
  if [[ -n $API_PORT ]] && ! running api && listening "$API_PORT"; then
    fail "port $API_PORT is in use; pick another with SALT_LAB_API_PORT"
  fi
  t0=$(now)
  installed || cmd_install
  ensure_hosts
  if running master; then master_was_running=1; fi
  write_configs "$n"
  if [[ -n $API_PORT ]] && (( master_was_running )); then
    say "warning: the master was already running; restart-master to apply $API_CONF"
  fi
  launch_master
  for ((i = 1; i <= n; i++)); do
    # --disable-keepalive: no supervising parent, so the recorded pid is the minion itself.
    if ! running "minion-$i"; then
      stop_daemons "minion-$i"  # what a dead minion left behind
      spawn "minion-$i" "$BIN/salt-minion" -c "$LAB/m/minion-$i" --disable-keepalive -l quiet
    fi
  done
  wait_master
  wait_minions
  write_env
  say "lab ready in $(since "$t0")s: salt $(venv_salt_version), $n minion(s), dir $LAB"
  cat "$LAB/lab.env"
}

cmd_env() {
  [[ -s $LAB/lab.env ]] || fail "no lab in $LAB; run start first"
  cat "$LAB/lab.env"
}

cmd_fixtures() {
  [[ -d $PKI/minions ]] || fail "the master has no pki dir in $LAB yet; run start first"
  local keys=$LAB/fixture-keys id dest
  mkdir -p "$keys"
  for id in minion-down minion-pending minion-rejected; do
    [[ -s $keys/$id.pub ]] || "$BIN/salt-key" -c "$CONF" --gen-keys="$id" --gen-keys-dir="$keys" >/dev/null
    case $id in
      minion-down) dest=minions ;;           # accepted, but no minion runs: never answers
      minion-pending) dest=minions_pre ;;    # waiting for acceptance
      minion-rejected) dest=minions_rejected ;;
    esac
    cp "$keys/$id.pub" "$PKI/$dest/$id"
  done
  say "fixture keys: minion-down (accepted, no minion), minion-pending (unaccepted), minion-rejected"
}

cmd_status() {
  local f name pid rc=0 any=0
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    any=1; name=$(basename "$f" .pid); pid=$(<"$f")
    if running "$name"; then echo "$name $pid running"; else echo "$name $pid dead"; rc=1; fi
  done
  (( any )) || { echo "nothing running in $LAB"; return 3; }
  return "$rc"
}

all_names() {
  local f
  for f in "$PIDS"/*.pid; do [[ -e $f ]] && basename "$f" .pid; done
  return 0
}

running_names() {
  local name
  for name in $(all_names); do
    if running "$name"; then echo "$name"; fi
  done
}

cmd_stop() {
  local names
  mapfile -t names < <(all_names)
  (( ${#names[@]} )) || { say "nothing to stop in $LAB"; return 0; }
  stop_daemons "${names[@]}"
}

cmd_stop_master() {
  local t0; t0=$(now)
  stop_daemons master
  # The next master must be able to bind the same ports.
  local deadline=$((SECONDS + 10))
  while listening "$RET_PORT" || listening "$PUB_PORT"; do
    (( SECONDS < deadline )) || fail "ports $PUB_PORT/$RET_PORT still in use after the master stopped"
    sleep 0.1
  done
  say "master stopped in $(since "$t0")s"
}

cmd_start_master() {
  check_settings
  [[ -s $CONF/master ]] || fail "no lab in $LAB; run start first"
  local t0; t0=$(now)
  launch_master
  wait_master
  wait_minions
  write_env
  say "master started and minions answer after $(since "$t0")s"
  cat "$LAB/lab.env"
}

cmd_restart_master() {
  [[ -s $CONF/master ]] || fail "no lab in $LAB; run start first"
  cmd_stop_master
  cmd_start_master
}

# ---------------------------------------------------------------------------------------------
# salt-api (opt-in: a lab started with SALT_LAB_API_PORT)

ensure_cherrypy() {
  "$BIN/python" -c 'import cherrypy' 2>/dev/null && return 0
  exec 9>"$VENV.lock"  # the lock install uses: one pip at a time in this venv
  flock 9
  if ! "$BIN/python" -c 'import cherrypy' 2>/dev/null; then
    say "pip install cherrypy into $VENV"
    "$BIN/python" -m pip install --quiet --disable-pip-version-check cherrypy >&2 \
      || fail "pip could not install cherrypy into $VENV"
  fi
  flock -u 9
}

# salt-api answers GET / with a welcome document once CherryPy serves.
api_answers() {
  "$BIN/python" - "$1" 2>/dev/null <<'EOF'
import sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2) as reply:
    sys.exit(0 if reply.status == 200 else 1)
EOF
}

pepper_installed() {
  [[ -x $PEPPER_VENV/bin/pepper ]] && [[ $("$PEPPER_VENV/bin/python" -c \
    'import importlib.metadata as m; print(m.version("salt-pepper"))' 2>/dev/null) == "$PEPPER_VERSION" ]]
}

# pepper (salt-pepper: CLI `pepper`, library `pepper.Pepper`) in a virtualenv of its own, so that
# it runs without Salt importable, as on a workstation.
cmd_pepper_install() {
  pepper_installed && return 0
  mkdir -p "$(dirname "$PEPPER_VENV")"
  exec 8>"$PEPPER_VENV.lock"
  flock 8
  if ! pepper_installed; then
    [[ -x $PEPPER_VENV/bin/python ]] || "${SALT_LAB_PYTHON:-python3}" -m venv "$PEPPER_VENV"
    say "pip install salt-pepper==$PEPPER_VERSION into $PEPPER_VENV"
    "$PEPPER_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "salt-pepper==$PEPPER_VERSION" >&2 \
      || fail "pip could not install salt-pepper==$PEPPER_VERSION into $PEPPER_VENV"
    pepper_installed || fail "salt-pepper is not usable in $PEPPER_VENV after pip install"
  fi
  flock -u 8
}

cmd_api_start() {
  check_settings
  local port t0 deadline
  port=$(lab_api_port)
  [[ -n $port ]] || fail "the lab in $LAB was started without SALT_LAB_API_PORT; start it with one"
  if [[ -n $API_PORT && $API_PORT != "$port" ]]; then
    fail "the lab in $LAB was started with SALT_LAB_API_PORT=$port, not $API_PORT"
  fi
  running master || fail "no master runs in $LAB; run start first"
  t0=$(now)
  if running api; then
    say "salt-api already runs, pid $(recorded_pid api)"
  else
    ensure_cherrypy
    cmd_pepper_install
    stop_daemons api  # what a dead salt-api left behind
    if listening "$port"; then fail "port $port is in use; pick another with SALT_LAB_API_PORT"; fi
    spawn api "$BIN/salt-api" -c "$CONF" -l quiet
  fi
  deadline=$((SECONDS + TIMEOUT))
  until api_answers "$port"; do
    running api || fail "salt-api exited; see $LOGS/api.console and $LOGS/api.log"
    (( SECONDS < deadline )) || fail "salt-api does not answer after ${TIMEOUT}s; see $LOGS/api.log"
    sleep 0.2
  done
  write_env
  say "salt-api answers on http://$ADDR:$port after $(since "$t0")s"
  cat "$LAB/lab.env"
}

cmd_api_stop() {
  stop_daemons api
  if [[ -s $LAB/lab.env ]]; then write_env; fi
}

cmd_clean() {
  [[ -d $LAB ]] || return 0
  [[ -e $MARK ]] || fail "$LAB was not made by salt-lab.sh; not deleting it"
  cmd_stop
  rm -rf -- "$LAB"
  say "deleted $LAB"
}

usage() { sed -n '2,/^set -euo/{ /^#/{ s/^# \{0,1\}//; p } }' "$0" >&2; }

case ${1:-} in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  env) cmd_env ;;
  fixtures) cmd_fixtures ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  stop-master) cmd_stop_master ;;
  start-master) cmd_start_master ;;
  restart-master) cmd_restart_master ;;
  api-start) cmd_api_start ;;
  api-stop) cmd_api_stop ;;
  pepper-install) cmd_pepper_install ;;
  clean) cmd_clean ;;
  -h | --help | help) usage ;;
  *) usage; exit 2 ;;
esac
