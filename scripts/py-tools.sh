#!/usr/bin/env bash
# Third-party Python checkers the test suite runs against the daemon, in a
# virtualenv of their own (never Salt's): Prometheus's own text parser
# (prometheus_client), an OpenAPI validator (openapi-spec-validator) and
# schemathesis. Versions are pinned in scripts/py-tools.txt.
#
#   scripts/py-tools.sh install   create or update the virtualenv (idempotent, locked)
#   scripts/py-tools.sh path      print the virtualenv's bin directory
#
# Settings: PROJETYD_TOOLS_VENV  the virtualenv [/opt/projetyd-salt/tools]
#           PROJETYD_PYTHON      python that creates it [python3]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${PROJETYD_TOOLS_VENV:-/opt/projetyd-salt/tools}
requirements=$here/py-tools.txt

# Installed when every pinned line is what pip reports.
installed() {
  [[ -x $venv/bin/python ]] || return 1
  local frozen line
  frozen=$("$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr '[:upper:]_' '[:lower:]-')
  while read -r line; do
    line=${line%%#*}
    line=$(echo "$line" | tr -d ' ' | tr '[:upper:]_' '[:lower:]-')
    [[ -z $line ]] && continue
    grep -qxF "$line" <<<"$frozen" || return 1
  done <"$requirements"
}

install() {
  installed && return 0
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! installed; then
    [[ -x $venv/bin/python ]] || "${PROJETYD_PYTHON:-python3}" -m venv "$venv"
    echo "py-tools: pip install -r scripts/py-tools.txt into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 ||
      { echo "py-tools: pip could not install scripts/py-tools.txt into $venv" >&2; exit 1; }
    installed || { echo "py-tools: $venv does not hold scripts/py-tools.txt after pip install" >&2; exit 1; }
  fi
  flock -u 9
}

case ${1:-} in
  install) install ;;
  path) echo "$venv/bin" ;;
  *) echo "usage: scripts/py-tools.sh install|path" >&2; exit 2 ;;
esac
