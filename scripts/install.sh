#!/usr/bin/env bash
# Builds projetyd from this source tree, installs it and starts it.
#
#   sudo ./scripts/install.sh
#
# Steps: check for a recent enough cargo; apt-get install the build
# prerequisites that are missing; cargo build --release --locked (as the
# owner of the source tree, so target/ never becomes root's); install
# /usr/bin/projetyd and /etc/systemd/system/projetyd.service; then start
# the daemon: with systemd when systemd runs this machine, otherwise
# (containers, CI sandboxes) in the background with its log in
# /var/log/projetyd.log and its pid in /run/projetyd/projetyd.pid. Waits
# until GET /healthz answers.
#
# Running it again upgrades and restarts. Data in /var/lib/projetyd is kept.
#
# projetyd talks to the Salt master on this machine, found through
# /etc/salt/master (or SALT_CONFIG=/path/to/master in the environment).
# Without that file the daemon is started with --no-salt (users and tokens
# work, Salt endpoints answer 503), with a warning; run this script again
# once salt-master is installed.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=/usr/bin/projetyd                       # the unit's ExecStart
UNIT=/etc/systemd/system/projetyd.service
CONF=/etc/projetyd/projetyd.toml            # `serve --config` in the unit
STATE_DIR=/var/lib/projetyd                 # `serve --db` default
RUN_DIR=/run/projetyd                       # admin socket's directory
PID_FILE=$RUN_DIR/projetyd.pid              # no-systemd case only
LOG_FILE=/var/log/projetyd.log              # no-systemd case only
DROPIN=/etc/systemd/system/projetyd.service.d/install.conf
DEFAULT_SALT_CONFIG=/etc/salt/master        # `serve --salt-config` default
SALT_CONFIG=${SALT_CONFIG:-$DEFAULT_SALT_CONFIG}
URL=http://127.0.0.1:5000                   # `serve --listen` default
# Debian packages the build needs, checked one by one; extend as needed.
# build-essential brings gcc and g++ (ZeroMQ is built from source, no
# cmake); pkg-config finds system libraries; curl checks the daemon.
APT_PACKAGES=(build-essential pkg-config curl)

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "run this as root"
    exec sudo "$0" "$@"
fi

# --- cargo -----------------------------------------------------------------
# Build as whoever owns the source tree. Under sudo, cargo is often in that
# user's ~/.cargo/bin and not on root's PATH.
BUILD_USER=$(stat -c %U "$SRC")
BUILD_HOME=$(getent passwd "$BUILD_USER" | cut -d: -f6)
as_builder() {
    if [ "$BUILD_USER" = "$(id -un)" ]; then
        env PATH="$BUILD_HOME/.cargo/bin:$PATH" "$@"
    else
        runuser -u "$BUILD_USER" -- env HOME="$BUILD_HOME" \
            PATH="$BUILD_HOME/.cargo/bin:$PATH" "$@"
    fi
}
rust_help() {
    cat >&2 <<EOF
install.sh: $1
projetyd needs Rust $MSRV or newer. Debian 12's own cargo (1.63) is older than
that; install the current toolchain with rustup instead, as $BUILD_USER:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
    . "\$HOME/.cargo/env"

then run this script again.
EOF
    exit 1
}
MSRV=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$SRC/Cargo.toml")
CARGO_VERSION=$(as_builder cargo --version 2>/dev/null | awk '{print $2}') ||
    rust_help "cargo not found (looked on PATH and in ~$BUILD_USER/.cargo/bin)"
[ -n "$CARGO_VERSION" ] || rust_help "cargo not found"
if [ "$(printf '%s\n%s\n' "$MSRV" "$CARGO_VERSION" | sort -V | head -n1)" != "$MSRV" ]; then
    rust_help "cargo $CARGO_VERSION is too old"
fi
say "cargo $CARGO_VERSION (building as $BUILD_USER)"

# --- build prerequisites ---------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null ||
        die "missing ${missing[*]} and no apt-get here; install them by hand"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# --- build and install -----------------------------------------------------
say "building (cargo build --release --locked)"
(cd "$SRC" && as_builder cargo build --release --locked)
TARGET_DIR=$(cd "$SRC" && as_builder cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# Copy then rename, so a running old binary is replaced, not overwritten.
install -m 0755 "${TARGET_DIR:-$SRC/target}/release/projetyd" "$BIN.new"
mv -f "$BIN.new" "$BIN"
install -m 0644 "$SRC/packaging/projetyd.service" "$UNIT"
say "installed $BIN and $UNIT"
# The settings file is the admin's: installed once, never overwritten.
if [ -f "$CONF" ]; then
    say "kept $CONF"
else
    install -D -m 0644 "$SRC/packaging/projetyd.toml" "$CONF"
    say "installed $CONF (every setting, commented out at its default)"
fi

# --- start -----------------------------------------------------------------
# Whether pid $1 runs (a zombie whose parent has not reaped it does not).
alive() {
    [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //; s/ .*//' "/proc/$1/stat")" != Z ]
}

# Stops the background daemon this script started before, by its pid file,
# only if that pid is still a projetyd.
stop_background() {
    [ -f "$PID_FILE" ] || return 0
    local pid
    pid=$(cat "$PID_FILE")
    if [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1 | grep -q 'projetyd$'; then
        say "stopping the running projetyd (pid $pid)"
        kill -TERM "$pid"
        # It drains open requests for up to 10 s, then flushes.
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.2
        done
        if alive "$pid"; then
            say "pid $pid still running after 20 s; killing it"
            kill -KILL "$pid"
        fi
    fi
    rm -f "$PID_FILE"
}

# Waits until /healthz answers: 200, or 503 when the daemon is up but the
# Salt master is not reachable (said, but not an install failure).
wait_healthy() {
    local code
    for _ in $(seq 1 60); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/healthz" 2>/dev/null) || true
        case "$code" in
            200) return 0 ;;
            503)
                say "warning: projetyd is up but reports the Salt master unreachable:"
                curl -sS "$URL/healthz" >&2 || true
                echo >&2
                return 0
                ;;
        esac
        if [ -n "${1:-}" ] && ! alive "$1"; then
            return 1
        fi
        sleep 0.5
    done
    return 1
}

# Flags for `projetyd serve` beyond the unit's defaults.
SERVE_ARGS=()
if [ ! -f "$SALT_CONFIG" ]; then
    say "warning: no $SALT_CONFIG: starting projetyd with --no-salt (users and"
    say "tokens only). Install salt-master, then run this script again."
    SERVE_ARGS=(--no-salt)
elif [ "$SALT_CONFIG" != "$DEFAULT_SALT_CONFIG" ]; then
    SERVE_ARGS=(--salt-config "$SALT_CONFIG")
fi
"$BIN" serve --config "$CONF" "${SERVE_ARGS[@]}" --check >/dev/null ||
    die "the settings are not valid (see above): fix $CONF and run this script again"

if [ -d /run/systemd/system ]; then
    stop_background
    say "starting with systemd"
    if [ "${#SERVE_ARGS[@]}" -gt 0 ]; then
        install -d -m 0755 "$(dirname "$DROPIN")"
        printf '# Written by scripts/install.sh; rerunning it rewrites or removes this.\n[Service]\nExecStart=\nExecStart=%s serve --config %s %s\n' \
            "$BIN" "$CONF" "${SERVE_ARGS[*]}" >"$DROPIN"
    else
        rm -f "$DROPIN"
    fi
    systemctl daemon-reload
    systemctl enable projetyd
    # restart, not start: a rerun must pick up the new binary.
    systemctl restart projetyd ||
        { journalctl -u projetyd -n 30 --no-pager >&2 || true; die "projetyd did not start"; }
    systemctl is-active --quiet projetyd || die "projetyd is not active"
    wait_healthy || die "projetyd is active but $URL/healthz does not answer"
    STOP="systemctl stop projetyd"
    LOGS="journalctl -u projetyd"
else
    say "no systemd here: starting projetyd in the background"
    stop_background
    install -d -m 0700 "$STATE_DIR" "$RUN_DIR"
    # Not a child of this shell's session: survives the terminal closing.
    setsid nohup "$BIN" serve --config "$CONF" "${SERVE_ARGS[@]}" </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    if ! wait_healthy "$pid"; then
        tail -n 20 "$LOG_FILE" >&2
        die "projetyd did not answer on $URL/healthz (log: $LOG_FILE)"
    fi
    STOP="kill \$(cat $PID_FILE)"
    LOGS="tail -f $LOG_FILE"
fi

cat <<EOF

projetyd is running on $URL: $(curl -sS "$URL/healthz")

  Create a user (prints its generated password):
    sudo projetyd adduser alice
  Get a token:
    curl -u alice:PASSWORD -X POST $URL/api/v1.0/tokens
  Use it:
    curl -H "Authorization: Bearer TOKEN" $URL/api/v1.0/users
    curl -H "Authorization: Bearer TOKEN" $URL/api/v1.0/users/1
  Revoke it:
    curl -X DELETE -H "Authorization: Bearer TOKEN" $URL/api/v1.0/tokens

  Other admin commands: projetyd passwd NAME | deluser NAME | users
  Logs: $LOGS
  Stop: $STOP
EOF
