# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Creates .venv with a Python >= 3.11 and installs the project with the given extras,
# again only when pyproject.toml changed. Safe to run any number of times.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
}

setup_venv() {  # $1: extras, e.g. "dev" or "demo"
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    local py; py="$(find_python)"
    log "Creating virtualenv .venv with $("$py" --version)"
    "$py" -m venv "$VENV" || die "could not create .venv (on Debian: apt-get install python3-venv)"
  fi
  local stamp="$VENV/.installed-$extras"
  local want; want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "Installing crosssell[$extras] into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$extras]" 2>&1 \
      | grep -v "is ignored" || true
    "$VENV/bin/python" -c "import crosssell_plugin, django, oscar" || die "installing crosssell[$extras] failed"
    echo "$want" > "$stamp"
  else
    log "crosssell[$extras] already installed in .venv"
  fi
}

port_open() {  # $1 host, $2 port
  "${VENV}/bin/python" - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
  log "apt-get install $*"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 127.0.0.1 5432; then log "PostgreSQL is up on 127.0.0.1:5432"; return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  log "Starting PostgreSQL"
  local version; version="$(ls /etc/postgresql | sort -V | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do port_open 127.0.0.1 5432 && break; sleep 1; done
  port_open 127.0.0.1 5432 || die "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started"
}

ensure_redis() {
  if port_open 127.0.0.1 6379; then log "Redis is up on 127.0.0.1:6379"; return; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  log "Starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/crosssell-redis.log || true
  for _ in $(seq 1 20); do port_open 127.0.0.1 6379 && break; sleep 0.5; done
  port_open 127.0.0.1 6379 || die "Redis is not reachable on 127.0.0.1:6379 and could not be started"
}

ensure_chromium() {  # the headless browser of tests/test_browser.py (Playwright drives Debian's chromium)
  if command -v chromium >/dev/null 2>&1; then log "chromium is installed"; return; fi
  apt_install chromium
  command -v chromium >/dev/null 2>&1 || die "chromium could not be installed (apt-get install chromium)"
}
