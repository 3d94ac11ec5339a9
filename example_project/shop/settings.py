"""Settings of the crosssell demo store: a django-oscar shop selling films, courses and merch.

Works with nothing installed but the Python packages (SQLite, eager Celery, console email).
Environment variables switch to real services without code changes:

* ``DATABASE_URL``        e.g. postgres://postgres@127.0.0.1:5432/crosssell
* ``CELERY_BROKER_URL``   e.g. redis://127.0.0.1:6379/0 (tasks then run in a worker)
* ``DJANGO_DEBUG``        "0" to turn debug off
* ``CROSSSELL_DEMO_ADDR``  what runserver listens on (default 127.0.0.1:8000); every link of the
  demo (pages, emails, SMS, the Site's domain) follows it. ``CROSSSELL_DEMO_URL`` overrides the
  links' address alone (a tunnel, another machine's view of this one).
* ``CROSSSELL_DEMO_FAST_CADENCE`` "1" (scripts/demo.sh sets it): follow-ups come minutes apart
  instead of hours and days, day and night
"""

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *

from integrations.oscar.dashboard_nav import NAVIGATION_ENTRY as _CROSSSELL_DASHBOARD_NAV

from .addr import allowed_hosts, demo_url

BASE_DIR = Path(__file__).resolve().parent.parent

#: the published demo key: ``manage.py check --deploy`` warns about it (demo.checks)
DEMO_SECRET_KEY = "demo-only-not-secret-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEMO_SECRET_KEY)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
DEMO_ADDR = os.environ.get("CROSSSELL_DEMO_ADDR", "") or "127.0.0.1:8000"
#: where the demo's links point: http://<CROSSSELL_DEMO_ADDR> (seed_demo makes it the Site's domain too)
DEMO_URL = demo_url(DEMO_ADDR, os.environ.get("CROSSSELL_DEMO_URL", ""))
ALLOWED_HOSTS = allowed_hosts(DEMO_ADDR, DEMO_URL)

_DJANGO_APPS = [app for app in OSCAR_APPS if app.startswith("django.")]
INSTALLED_APPS = [
    *_DJANGO_APPS,
    "rest_framework",
    "drf_spectacular",
    # crosssell comes before Oscar so that its template overrides win.
    "crosssell_plugin",
    "integrations.oscar",
    "demo",
    *[app for app in OSCAR_APPS if app not in _DJANGO_APPS],
    "sorl.thumbnail",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shop" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers queue up instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = (
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_TIMEOUT = 30  # seconds; a silent SMTP server must not hold a worker (crosssell.W004)

# Oscar browses the catalogue through Haystack; Whoosh is a pure-Python index on disk, so the
# demo needs no search server. Products are indexed as they are saved.
HAYSTACK_CONNECTIONS = {
    "default": {
        "ENGINE": "haystack.backends.whoosh_backend.WhooshEngine",
        "PATH": os.environ.get("DJANGO_WHOOSH_PATH", str(BASE_DIR / "whoosh_index")),
    }
}
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.RealtimeSignalProcessor"
# Whoosh cannot facet; without this Oscar asks for price-range facets and Whoosh warns on every page.
OSCAR_SEARCH_FACETS = {"fields": {}, "queries": {}}

OSCAR_SHOP_NAME = "Reel & Learn"
OSCAR_SHOP_TAGLINE = "Films, courses and merch"
OSCAR_DEFAULT_CURRENCY = "EUR"
OSCAR_ALLOW_ANON_CHECKOUT = True
# the cross-sell dashboard in Oscar's dashboard menu (its URLs are in shop/urls.py)
OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, _CROSSSELL_DASHBOARD_NAV]
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_INITIAL_LINE_STATUS = "Pending"
OSCAR_ORDER_STATUS_PIPELINE = {
    "Pending": ("Being processed", "Cancelled"),
    "Being processed": ("Complete", "Cancelled"),
    "Complete": (),
    "Cancelled": (),
}

# --- Celery: a real broker when CELERY_BROKER_URL is set, otherwise run tasks in-process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if CELERY_BROKER_URL:
    CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
else:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A broker or result store that is down must cost a page milliseconds, not seconds (README, "When
# the broker is down"). Redis: give up connecting after 0.25 s and waiting for a reply after 2 s
# (the transport's own socket timeouts: CELERY_BROKER_CONNECTION_TIMEOUT only bounds a publish's
# reconnection attempts in all, and cannot cut a connect that hangs), and try a lost connection
# once, at once, instead of retrying for seconds; the result store likewise.
CELERY_BROKER_CONNECTION_TIMEOUT = 0.25
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 0.25,
    "socket_timeout": 2.0,  # more than the worker's 1 s BRPOP
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 0.25
CELERY_REDIS_SOCKET_TIMEOUT = 5.0
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
}
# Retrain every store's recommender nightly (run `celery -A shop beat` next to the worker).
CELERY_BEAT_SCHEDULE = {
    "crosssell-nightly": {"task": "crosssell.train_all_stores", "schedule": crontab(hour=3, minute=0)},
    # send the follow-ups that are due (each row is claimed by one worker; delays are rows, not ETAs)
    "crosssell-followups": {"task": "crosssell.dispatch_followups", "schedule": 30.0},
    # delete webhook deliveries past CROSSSELL["WEBHOOK_RETENTION_DAYS"] (their bodies hold customer data)
    "crosssell-purge-deliveries": {"task": "crosssell.purge_deliveries", "schedule": crontab(hour=4, minute=0)},
    # the measurement's daily rollups of every active store, then the bandits' new shares
    "crosssell-rollup": {"task": "crosssell.rollup_all_stores", "schedule": crontab(hour=2, minute=30)},
}

# --- the REST API's OpenAPI schema (crosssell's API views set their schema class themselves;
# this makes drf-spectacular the default for any other DRF view of the project too)
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "crosssell API",
    "DESCRIPTION": "Recommendations, catalogue and click events of one store, authenticated by the store's API key.",
    "VERSION": "1.0.0",
}

# --- crosssell
CROSSSELL = {
    "SITE_URL": DEMO_URL,  # links in follow-up emails and SMS
    "PLATFORMS": {
        # BASE_URL: the product links recommendations send shoppers to
        "oscar": {"STORE_NAME": OSCAR_SHOP_NAME, "BASE_URL": DEMO_URL},
    },
}
if os.environ.get("CROSSSELL_DEMO_FAST_CADENCE") == "1":
    # The classic path's 1 hour, 24 hours and 7 days become 1, 24 and 168 minutes, at any hour:
    # a demo checkout with the opt-in ticked gets its first follow-up in the log a minute later.
    CROSSSELL |= {"FAST_CADENCE": True, "QUIET_HOURS": None}

# crosssell's INFO lines (orders recorded, follow-ups planned and sent) go to the terminal of the
# long-running processes: the server, the dispatcher, a Celery worker. A one-off command such as
# crosssell_train or crosssell_sync reports on the terminal itself; its log lines (meant
# for log files) would print every line a second time, so there only warnings and errors show.
_COMMAND = sys.argv[1] if len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" else ""
_LOG_LEVEL = "WARNING" if _COMMAND and _COMMAND not in ("runserver", "crosssell_dispatch", "shell") else "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "crosssell_plugin": {"handlers": ["console"], "level": _LOG_LEVEL},
        "integrations": {"handlers": ["console"], "level": _LOG_LEVEL},
    },
}
