#!/usr/bin/env bash
# HTTP load benchmark on loopback: unauthenticated GET /healthz against
# token-authenticated GET /api/v1.0/users, same daemon, same wrk settings.
#
#   benches/http_load.sh            # wrk -t2 -c64 -d10s on each endpoint
#   DURATION=30s CONNECTIONS=128 benches/http_load.sh
#   RUST_LOG=warn benches/http_load.sh   # without the per-request log line
#
# Builds the release binary, starts it on 127.0.0.1:0 with a throwaway
# database in a temporary directory, learns its port from the sd_notify
# READY datagram, creates a user and a token, runs wrk, prints requests/s,
# p50/p99 latency, their ratio and the daemon's RSS before and after load,
# the daemon's CPU time per request (which, unlike req/s, hardly depends on
# what else the machine runs), then stops the daemon (SIGTERM, by its pid)
# and removes the directory.
# Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
export RUST_LOG=${RUST_LOG:-info}

die() { printf 'http_load.sh: %s\n' "$*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 is needed (it receives the READY datagram)"
command -v curl >/dev/null || die "curl is needed"
if ! command -v wrk >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "wrk is missing: sudo apt-get install wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null ||
        die "could not install wrk"
fi

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --locked --quiet
fi
BIN=${BIN:-$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/projetyd}
[ -x "$BIN" ] || die "no binary at $BIN"

TMP=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ] && [ -d "/proc/$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Receive the daemon's first sd_notify datagram ("READY=1\nSTATUS=listening
# on 127.0.0.1:PORT\n...") on a socket of our own; give up after 30 s.
python3 - "$TMP/notify.sock" >"$TMP/ready" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
print(s.recv(4096).decode())
EOF
LISTENER=$!
for _ in $(seq 1 50); do [ -S "$TMP/notify.sock" ] && break; sleep 0.1; done

# --no-salt: this measures HTTP and token checks, not a Salt master.
NOTIFY_SOCKET=$TMP/notify.sock "$BIN" serve --no-salt --listen 127.0.0.1:0 \
    --db "$TMP/db" --admin-socket "$TMP/admin.sock" 2>"$TMP/daemon.log" &
PID=$!
wait "$LISTENER" || die "no READY from the daemon; its log: $(cat "$TMP/daemon.log")"
ADDR=$(sed -n 's/^STATUS=listening on //p' "$TMP/ready")
[ -n "$ADDR" ] || die "no address in the READY message: $(cat "$TMP/ready")"
URL=http://$ADDR

PASSWORD=$("$BIN" adduser bench --db "$TMP/db" --admin-socket "$TMP/admin.sock" |
    sed -n 's/^User bench created with password //p')
[ -n "$PASSWORD" ] || die "adduser failed"
TOKEN=$(curl -fsS -u "bench:$PASSWORD" -X POST "$URL/api/v1.0/tokens?expiration=3600" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1.0/users" >/dev/null ||
    die "the token does not work"

rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }
sleep 1
RSS_REST=$(rss VmRSS)

# The daemon's CPU time so far (user + system), in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$PID/stat" | awk '{print $12 + $13}'; }
TICK=$(getconf CLK_TCK)

# wrk output -> "requests/s p50 p99 non-2xx daemon-CPU-us-per-request"
run_wrk() {
    local out before after
    before=$(cpu_ticks)
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
    after=$(cpu_ticks)
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out" | awk -v ticks=$((after - before)) -v hz="$TICK" '
        /^Requests\/sec:/ {rps = $2}
        $1 == "50%" {p50 = $2}
        $1 == "99%" {p99 = $2}
        / requests in / {n = $1}
        / Non-2xx or 3xx responses:/ {bad = $NF}
        END {printf "%s %s %s %s %.1f\n", rps, p50, p99, (bad ? bad : 0), ticks / hz * 1e6 / n}'
}

echo "== commit $(git describe --always --dirty 2>/dev/null || echo unknown)," \
    "$(nproc) cores, RUST_LOG=$RUST_LOG, wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
echo "== GET /healthz" >&2
read -r H_RPS H_P50 H_P99 H_BAD H_CPU < <(run_wrk "$URL/healthz")
echo "== GET /api/v1.0/users (Bearer)" >&2
read -r U_RPS U_P50 U_P99 U_BAD U_CPU < <(run_wrk -H "Authorization: Bearer $TOKEN" "$URL/api/v1.0/users")
RSS_LOADED=$(rss VmRSS)
RSS_PEAK=$(rss VmHWM)

kill -TERM "$PID"
STATUS=0
wait "$PID" || STATUS=$?
PID=

RATIO=$(awk -v h="$H_RPS" -v u="$U_RPS" 'BEGIN {printf "%.2f", h / u}')
cat <<EOF

endpoint                    req/s       p50       p99   non-2xx  daemon CPU/req
GET /healthz           $(printf '%10s %9s %9s %9s %12s us' "$H_RPS" "$H_P50" "$H_P99" "$H_BAD" "$H_CPU")
GET /api/v1.0/users    $(printf '%10s %9s %9s %9s %12s us' "$U_RPS" "$U_P50" "$U_P99" "$U_BAD" "$U_CPU")
healthz/users throughput ratio: $RATIO (target: at most 2)
users/healthz daemon CPU per request: $(awk -v h="$H_CPU" -v u="$U_CPU" 'BEGIN {printf "%.2f", u / h}')
RSS at rest: $((RSS_REST / 1024)) MiB ($RSS_REST kB; target: under 20 MB)
RSS after load: $((RSS_LOADED / 1024)) MiB ($RSS_LOADED kB), peak $((RSS_PEAK / 1024)) MiB ($RSS_PEAK kB)
daemon exit status after SIGTERM: $STATUS
EOF
if [ "$H_BAD" != 0 ] || [ "$U_BAD" != 0 ]; then
    die "some responses were not 2xx"
fi
