"""Test settings: the demo store's settings, made fast and isolated.

The database comes from ``DATABASE_URL`` (SQLite when unset; PostgreSQL in the second CI run).
On SQLite the test database is a file, not memory, so that threads and worker processes
share it. A Celery worker started by a test gets ``CROSSSELL_WORKER_DB_NAME`` to use the
test database itself.
"""

import os
import tempfile
from pathlib import Path

from shop.settings import *  # noqa: F403
from shop.settings import CROSSSELL, DATABASES, INSTALLED_APPS

_TMP = Path(os.environ.get("CROSSSELL_TEST_TMP", tempfile.gettempdir())) / "crosssell-tests"
_TMP.mkdir(parents=True, exist_ok=True)

DEBUG = False
# No holdout unless a test sets one on its store's experiment (tests/experiments/): a suite whose
# customers were held out by a random salt would see blocks and messages come and go.
CROSSSELL = {**CROSSSELL, "HOLDOUT_SHARE": 0}
INSTALLED_APPS = [*INSTALLED_APPS, "integrations.stripe", "integrations.shopify"]  # their tests (the demo has neither)
MEDIA_ROOT = _TMP / "media"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
HAYSTACK_CONNECTIONS = {
    "default": {
        "ENGINE": "haystack.backends.whoosh_backend.WhooshEngine",
        "PATH": str(_TMP / f"whoosh-{os.getpid()}"),
    }
}

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["NAME"] = str(_TMP / "crosssell.sqlite3")
    _db["TEST"] = {"NAME": str(_TMP / f"test-crosssell-{os.getpid()}.sqlite3")}
if os.environ.get("CROSSSELL_WORKER_DB_NAME"):  # a worker process started by a test
    _db["NAME"] = os.environ["CROSSSELL_WORKER_DB_NAME"]

# Tasks run in-process unless a test starts a real worker (and then sets a real broker).
CELERY_BROKER_URL = os.environ.get("CROSSSELL_WORKER_BROKER_URL", "memory://")
CELERY_RESULT_BACKEND = os.environ.get("CROSSSELL_WORKER_BROKER_URL", "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CROSSSELL_WORKER_BROKER_URL")
CELERY_TASK_EAGER_PROPAGATES = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"crosssell_plugin": {"level": "INFO"}, "integrations": {"level": "INFO"}},
}
