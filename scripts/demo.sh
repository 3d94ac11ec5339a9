#!/usr/bin/env bash
# Set everything up and start the demo store at http://127.0.0.1:8000 (SQLite, no services).
# Admin: http://127.0.0.1:8000/admin/ (admin / admin). Safe to run again.
source "$(dirname "$0")/_setup.sh"
cd "$ROOT"

setup_venv demo
cd "$ROOT/example_project"
PY="$VENV/bin/python"

log "Migrating the database"
"$PY" manage.py migrate --noinput -v 0
log "Seeding the demo catalogue and purchase history (first run only)"
"$PY" manage.py seed_demo --if-empty
log "Training the recommendation model"
"$PY" manage.py crosssell_train
log "Updating the catalogue search index"
"$PY" manage.py update_index --remove -v 0
"$PY" manage.py shell -c '
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(username="admin").exists():
    User.objects.create_superuser("admin", "admin@example.com", "admin")
    print("Created the demo superuser admin / admin")
'
log "Starting the follow-up dispatcher (sends due follow-ups every 10 s; emails print here)"
"$PY" manage.py crosssell_dispatch --loop --interval 10 -v 0 &
DISPATCHER=$!
trap 'kill "$DISPATCHER" 2>/dev/null || true' EXIT INT TERM
ADDR="${CROSSSELL_DEMO_ADDR:-127.0.0.1:8000}"
log "Demo store: http://$ADDR/   admin: http://$ADDR/admin/ (admin / admin)"
"$PY" manage.py runserver "$ADDR"
