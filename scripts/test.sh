#!/usr/bin/env bash
# Set everything up and run the whole test suite: lint, the import contracts and the type check,
# then the tests on SQLite, then on PostgreSQL (with Redis and a real Celery worker). Safe to run
# again; fails loudly.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -k checkout     extra arguments go to both pytest runs
source "$(dirname "$0")/_setup.sh"
cd "$ROOT"

setup_venv dev
ensure_postgres
ensure_redis
ensure_chromium

export PATH="$VENV/bin:$PATH"
unset DJANGO_SETTINGS_MODULE CELERY_BROKER_URL
PG_URL="${CROSSSELL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
WORKERS="${CROSSSELL_TEST_WORKERS:-2}"

log "ruff check"
ruff check .
log "ruff format --check"
ruff format --check .
log "import-linter (the architecture contracts in pyproject.toml)"
PYTHONPATH="$ROOT" lint-imports
log "mypy (engine, events, platforms; the Django plugin loads tests.settings)"
PYTHONPATH="$ROOT:$ROOT/example_project" mypy

started=$SECONDS
log "pytest on SQLite"
env -u DATABASE_URL pytest -n "$WORKERS" "$@"
sqlite_s=$((SECONDS - started))

started=$SECONDS
log "pytest on PostgreSQL ($PG_URL)"
DATABASE_URL="$PG_URL" pytest -n "$WORKERS" "$@"
pg_s=$((SECONDS - started))

log "All green: SQLite ${sqlite_s}s, PostgreSQL ${pg_s}s"
