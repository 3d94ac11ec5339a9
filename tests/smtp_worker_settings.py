"""Settings of a dispatcher process that sends email through a test's SMTP server on 127.0.0.1
(port in ``CROSSSELL_TEST_SMTP_PORT``): the follow-up worker settings with Django's SMTP backend."""

import os

from tests.followups_worker_settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["CROSSSELL_TEST_SMTP_PORT"])
EMAIL_TIMEOUT = float(os.environ.get("CROSSSELL_TEST_SMTP_TIMEOUT", "60"))
EMAIL_USE_TLS = EMAIL_USE_SSL = False
