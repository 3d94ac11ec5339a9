#!/usr/bin/env bash
# Set everything up and start the demo store at http://127.0.0.1:8000 (SQLite, no services).
# Admin: http://127.0.0.1:8000/admin/ (admin / admin). Safe to run again.
#
#   CROSSSELL_DEMO_ADDR=0.0.0.0:8080 scripts/demo.sh   # listen elsewhere; every link follows
#   CROSSSELL_DEMO_FAST_CADENCE=0 scripts/demo.sh      # follow-ups at their real 1 h, 24 h, 7 days
#   CELERY_BROKER_URL=redis://127.0.0.1:6379/0 ...     # tasks in a Celery worker (started here)
source "$(dirname "$0")/_setup.sh"
cd "$ROOT"

# Follow-ups minutes apart instead of hours and days (see example_project/shop/settings.py).
export CROSSSELL_DEMO_FAST_CADENCE="${CROSSSELL_DEMO_FAST_CADENCE:-1}"
export CROSSSELL_DEMO_ADDR="${CROSSSELL_DEMO_ADDR:-127.0.0.1:8000}"

setup_venv demo
cd "$ROOT/example_project"
PY="$VENV/bin/python"
URL="$("$PY" -c 'from shop.addr import demo_url; import os; print(demo_url(os.environ["CROSSSELL_DEMO_ADDR"], os.environ.get("CROSSSELL_DEMO_URL", "")))')" \
  || die "CROSSSELL_DEMO_ADDR=$CROSSSELL_DEMO_ADDR is not a port or host:port"

log "Migrating the database"
"$PY" manage.py migrate --noinput -v 0
log "Seeding the demo catalogue and purchase history (first run only); links go to $URL"
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
PIDS=()
trap 'for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT INT TERM
if [ -n "${CELERY_BROKER_URL:-}" ]; then
  log "Starting a Celery worker with beat on $CELERY_BROKER_URL (records orders, sends follow-ups every 30 s)"
  "$VENV/bin/celery" -A shop worker --beat --pool=solo --loglevel=INFO \
    --schedule "$ROOT/example_project/celerybeat-schedule" &
  PIDS+=($!)
fi
if [ "$CROSSSELL_DEMO_FAST_CADENCE" = 1 ]; then cadence="1, 24 and 168 minutes after the order"; else cadence="1 hour, 24 hours and 7 days after the order"; fi
log "Starting the follow-up dispatcher: checks every 10 s, sends the due follow-ups ($cadence); emails print here"
"$PY" manage.py crosssell_dispatch --loop --interval 10 -v 0 &
PIDS+=($!)
log "Demo store: $URL/   admin: $URL/admin/ (admin / admin)"
log "Tick \"Email me recommendations and offers\" before placing an order to get its follow-ups"
"$PY" manage.py runserver "$CROSSSELL_DEMO_ADDR"
