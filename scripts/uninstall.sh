#!/usr/bin/env bash
# Undoes scripts/install.sh: stops projetyd, removes /usr/bin/projetyd and
# /etc/systemd/system/projetyd.service. Keeps the database in
# /var/lib/projetyd unless --purge is given (then it and the log go too).
#
#   sudo ./scripts/uninstall.sh [--purge]
#
# A Debian package install is removed with `apt remove projetyd` instead.
set -euo pipefail

BIN=/usr/bin/projetyd
UNIT=/etc/systemd/system/projetyd.service
STATE_DIR=/var/lib/projetyd
RUN_DIR=/run/projetyd
PID_FILE=$RUN_DIR/projetyd.pid
LOG_FILE=/var/log/projetyd.log

say() { printf '==> %s\n' "$*"; }

PURGE=
case "${1:-}" in
    "") ;;
    --purge) PURGE=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "uninstall.sh: run this as root" >&2; exit 1; }
    exec sudo "$0" "$@"
fi

alive() {
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //; s/ .*//' "/proc/$1/stat")" != Z ]
}

if [ -d /run/systemd/system ] && [ -f "$UNIT" ]; then
    say "stopping and disabling the projetyd unit"
    systemctl disable --now projetyd || true
fi
if [ -f "$PID_FILE" ]; then
    pid=$(cat "$PID_FILE")
    # Only that pid, and only if it still is a projetyd.
    if [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1 | grep -q 'projetyd$'; then
        say "stopping projetyd (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.2
        done
        if alive "$pid"; then
            kill -KILL "$pid"
        fi
    fi
    rm -f "$PID_FILE"
fi

rm -f "$BIN" "$UNIT" "$UNIT.d/install.conf"
rmdir "$UNIT.d" 2>/dev/null || true
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
rmdir "$RUN_DIR" 2>/dev/null || true
say "removed $BIN and $UNIT"

if [ -n "$PURGE" ]; then
    rm -rf "$STATE_DIR" "$LOG_FILE"
    say "removed $STATE_DIR and $LOG_FILE"
else
    say "kept the database in $STATE_DIR (--purge removes it)"
fi
