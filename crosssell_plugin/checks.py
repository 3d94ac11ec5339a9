"""System checks: ``manage.py check`` reports a wrong ``CROSSSELL`` setting with a hint, and
``manage.py check --deploy`` what must not reach production.

=================  =================================================================================
``crosssell.E00x`` a wrong ``CROSSSELL`` value (:func:`crosssell_plugin.conf.validation_errors`)
``crosssell.E004`` ``SHOPPER_EMAIL_VERIFIED`` names a function that cannot be imported or called
``crosssell.W001`` no ``SITE_URL``: links in emails and SMS take the Site's domain (``example.com``
                   until someone changes it)
``crosssell.W002`` (deploy) Celery runs tasks eagerly, in the request, with DEBUG off
``crosssell.W003`` (deploy) ``FAST_CADENCE`` is on with DEBUG off
``crosssell.W004`` (deploy) the SMTP email backend without ``EMAIL_TIMEOUT``: a mail server that
                   stops answering holds a follow-up worker for good
``crosssell.W005`` (deploy) a Redis broker without ``socket_connect_timeout`` in its transport
                   options: a broker host that stops answering holds every checkout
=================  =================================================================================
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from .conf import SETTINGS, crosssell_settings, validation_errors


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(message, hint=hint, id=check_id) for check_id, message, hint in validation_errors()]


@checks.register(checks.Tags.compatibility)
def check_site_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Emails and SMS are read outside the site: without ``SITE_URL`` their links take the
    domain of the current Site, which is ``example.com`` in a fresh project."""
    if validation_errors() or crosssell_settings.SITE_URL:
        return []
    return [
        checks.Warning(
            'CROSSSELL["SITE_URL"] is not set: links in follow-up emails and SMS use the domain of the current '
            'django.contrib.sites Site, which is "example.com" until it is changed.',
            hint='Write "SITE_URL": "https://shop.example.com" in CROSSSELL (or, if the Site\'s domain is '
            'right, add "crosssell.W001" to SILENCED_SYSTEM_CHECKS).',
            id="crosssell.W001",
        )
    ]


@checks.register(checks.Tags.compatibility)
def check_email_verified(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``SHOPPER_EMAIL_VERIFIED`` is imported when a signed-in shopper asks about an email: a path
    that does not import would fail those requests, so it is found at start-up instead."""
    path = crosssell_settings.SHOPPER_EMAIL_VERIFIED
    if SETTINGS["SHOPPER_EMAIL_VERIFIED"].validate(path) is not None:
        return []  # crosssell.E003 says what is wrong with it
    hint = (
        'Write "SHOPPER_EMAIL_VERIFIED": "<module>.<function>", a function taking the user and returning True '
        "when the user's email is verified (or leave it out for django-allauth's verified flag)."
    )
    try:
        found = import_string(path)
    except ImportError as err:
        problem = f"cannot be imported ({err})"
    else:
        if callable(found):
            return []
        problem = f"is a {type(found).__name__}, not a function"
    return [checks.Error(f'CROSSSELL["SHOPPER_EMAIL_VERIFIED"] = {path!r} {problem}.', hint=hint, id="crosssell.E004")]


def _tasks_run_eagerly() -> bool:
    from celery import current_app

    return bool(current_app.conf.task_always_eager)


@checks.register(checks.Tags.security, deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: settings meant for a demo or a laptop, with DEBUG off."""
    if settings.DEBUG:
        return []
    found: list[checks.CheckMessage] = []
    if _tasks_run_eagerly():
        found.append(
            checks.Warning(
                "Celery runs tasks eagerly (CELERY_TASK_ALWAYS_EAGER), with DEBUG off: recording orders, "
                "training and sending follow-ups happen inside the shoppers' requests.",
                hint="Set CELERY_BROKER_URL to a broker (e.g. redis://127.0.0.1:6379/0), remove "
                "CELERY_TASK_ALWAYS_EAGER and run a worker and beat: celery -A <project> worker -B.",
                id="crosssell.W002",
            )
        )
    if not validation_errors() and crosssell_settings.FAST_CADENCE is True:
        found.append(
            checks.Warning(
                'CROSSSELL["FAST_CADENCE"] is on with DEBUG off: every follow-up goes out 60 times sooner '
                "than its step says (minutes instead of hours).",
                hint='Remove "FAST_CADENCE" from CROSSSELL (it is for demos and trying a path out).',
                id="crosssell.W003",
            )
        )
    if _smtp_without_timeout():
        found.append(
            checks.Warning(
                "EMAIL_BACKEND is Django's SMTP backend and EMAIL_TIMEOUT is not set: a mail server that accepts "
                "the connection and then stops answering holds the follow-up worker sending to it for good.",
                hint="Set EMAIL_TIMEOUT (seconds, e.g. 30); a message whose send times out is retried.",
                id="crosssell.W004",
            )
        )
    if _redis_broker_without_connect_timeout():
        found.append(
            checks.Warning(
                "The Celery broker is Redis and CELERY_BROKER_TRANSPORT_OPTIONS has no socket_connect_timeout: "
                "a broker host that stops answering holds every request that enqueues a task (an order at "
                "checkout) until the operating system gives up, minutes later.",
                hint='Set CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 2.0, '
                '"max_retries": 1} (README, "When the broker is down").',
                id="crosssell.W005",
            )
        )
    return found


def _redis_broker_without_connect_timeout() -> bool:
    from celery import current_app

    conf = current_app.conf
    url = str(conf.broker_url or "")
    if conf.task_always_eager or not url.startswith(("redis://", "rediss://", "redis+socket://")):
        return False
    return (conf.broker_transport_options or {}).get("socket_connect_timeout") is None


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def _smtp_without_timeout() -> bool:
    return getattr(settings, "EMAIL_BACKEND", "") == SMTP_BACKEND and getattr(settings, "EMAIL_TIMEOUT", None) is None
