"""CROSSSELL settings: defaults, live reads, and system checks with instructive hints."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from crosssell_plugin.conf import SETTINGS, crosssell_settings

from .conftest import celery_configured


def _errors() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id and m.id.startswith("crosssell.") and m.is_serious()]


def _messages(*, deploy: bool = False) -> dict[str, checks.CheckMessage]:
    return {m.id: m for m in checks.run_checks(include_deployment_checks=deploy) if m.id}


def test_defaults_and_live_overrides(settings) -> None:
    settings.CROSSSELL = {}
    assert crosssell_settings.ATTRIBUTION_WINDOW_DAYS == 7
    assert crosssell_settings.MAX_EVENT_BYTES == 1_048_576
    settings.CROSSSELL = {"ATTRIBUTION_WINDOW_DAYS": 14}
    assert crosssell_settings.ATTRIBUTION_WINDOW_DAYS == 14
    with pytest.raises(AttributeError, match="no setting 'NOPE'"):
        _ = crosssell_settings.NOPE


def test_valid_settings_pass(settings) -> None:
    settings.CROSSSELL = {"ATTRIBUTION_WINDOW_DAYS": 3, "CONSUMPTION_COMPLETE_AT": 0.8, "PLATFORMS": {"oscar": {}}}
    assert _errors() == []


@pytest.mark.parametrize(
    ("value", "check_id", "message", "hint"),
    [
        ("not a dict", "crosssell.E001", "must be a dict", "CROSSSELL = {}"),
        ({"ATRIBUTION_WINDOW_DAYS": 7}, "crosssell.E002", "unknown key", 'Did you mean "ATTRIBUTION_WINDOW_DAYS"'),
        ({"ATTRIBUTION_WINDOW_DAYS": "7"}, "crosssell.E003", "must be an integer", '"ATTRIBUTION_WINDOW_DAYS": 7'),
        ({"ATTRIBUTION_WINDOW_DAYS": 0}, "crosssell.E003", "between 1 and 365", "between 1 and 365"),
        ({"MAX_EVENT_BYTES": True}, "crosssell.E003", "must be an integer", "1048576"),
        ({"CONSUMPTION_COMPLETE_AT": 90}, "crosssell.E003", "at most 1", "0.9"),
        ({"PLATFORMS": {"oscar": "yes"}}, "crosssell.E003", "entry 'oscar'", '"PLATFORMS": {"oscar"'),
        ({"SITE_URL": "shop.example.com"}, "crosssell.E003", "http(s) URL", '"SITE_URL": "https://'),
        ({"SITE_URL": "javascript:alert(1)"}, "crosssell.E003", "http(s) URL", '"SITE_URL": "https://'),
        ({"SMS": {"BACKEND": "Console"}}, "crosssell.E003", "dotted path", '"SMS": {"BACKEND"'),
        ({"SMS": {"TOKEN": "x"}}, "crosssell.E003", "unknown keys ['TOKEN']", '"SMS": {"BACKEND"'),
        ({"BLOCK_CACHE_SECONDS": -1}, "crosssell.E003", "between 0 and 86400", '"BLOCK_CACHE_SECONDS": 900'),
        ({"SITE_STORE": "oscar"}, "crosssell.E003", '"platform:external_id"', '"SITE_STORE": "custom:main"'),
        ({"SITE_STORE": "oscar: x"}, "crosssell.E003", '"platform:external_id"', '"SITE_STORE": "custom:main"'),
        ({"IMPRESSION_FLUSH_SECONDS": 61}, "crosssell.E003", "between 0 and 60", '"IMPRESSION_FLUSH_SECONDS": 1'),
        ({"FAST_CADENCE": "yes"}, "crosssell.E003", "must be True or False", '"FAST_CADENCE": True'),
    ],
)
def test_wrong_values_give_a_check_error_with_a_hint(settings, value, check_id, message, hint) -> None:
    settings.CROSSSELL = value
    errors = _errors()
    assert [e.id for e in errors] == [check_id]
    assert message in errors[0].msg and hint in errors[0].hint


def test_manage_py_check_fails_on_a_wrong_setting(settings) -> None:
    settings.CROSSSELL = {"MAX_LINES_PER_ORDER": -1}
    with pytest.raises(SystemCheckError, match=r"crosssell\.E003"):
        call_command("check")


def test_every_setting_is_documented_with_a_valid_default() -> None:
    for name, spec in SETTINGS.items():
        assert spec.doc and spec.hint, name
        assert spec.validate(spec.default) is None, name


def test_the_fast_cadence_turns_hours_into_minutes_and_is_off_by_default(settings) -> None:
    from datetime import timedelta

    from crosssell_plugin.conf import followup_delay

    settings.CROSSSELL = {}
    assert followup_delay(timedelta(hours=24)) == timedelta(hours=24)
    settings.CROSSSELL = {"FAST_CADENCE": True}
    assert followup_delay(timedelta(hours=1)) == timedelta(minutes=1)
    assert followup_delay(timedelta(days=7)) == timedelta(minutes=168)


def test_without_site_url_a_check_warns_that_links_take_the_site_domain(settings) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"oscar": {}}}
    warning = _messages()["crosssell.W001"]
    assert warning.level == checks.WARNING and "example.com" in warning.msg and '"SITE_URL"' in warning.hint
    settings.CROSSSELL = {"SITE_URL": "https://shop.example.com"}
    assert "crosssell.W001" not in _messages()


def test_check_deploy_warns_about_eager_celery_and_the_fast_cadence_with_debug_off(settings) -> None:
    from crosssell_plugin.checks import _tasks_run_eagerly

    settings.DEBUG = False
    settings.CROSSSELL = {"SITE_URL": "https://shop.example.com", "FAST_CADENCE": True}
    assert _tasks_run_eagerly()  # the test settings run tasks in-process
    found = _messages(deploy=True)
    assert "CELERY_BROKER_URL" in found["crosssell.W002"].hint
    assert "60 times sooner" in found["crosssell.W003"].msg
    assert "crosssell.W002" not in _messages()  # deploy checks only

    settings.CROSSSELL = {"SITE_URL": "https://shop.example.com"}
    with celery_configured(task_always_eager=False):
        found = _messages(deploy=True)
    assert "crosssell.W002" not in found and "crosssell.W003" not in found

    settings.DEBUG = True
    assert "crosssell.W002" not in _messages(deploy=True)  # a developer's machine


def test_check_deploy_warns_about_smtp_without_a_timeout(settings) -> None:
    settings.DEBUG = False
    settings.CROSSSELL = {"SITE_URL": "https://shop.example.com"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = None
    warning = _messages(deploy=True)["crosssell.W004"]
    assert "EMAIL_TIMEOUT" in warning.msg and "EMAIL_TIMEOUT" in warning.hint
    settings.EMAIL_TIMEOUT = 30
    assert "crosssell.W004" not in _messages(deploy=True)
    settings.EMAIL_TIMEOUT = None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # no socket to hang on
    assert "crosssell.W004" not in _messages(deploy=True)


def test_check_deploy_warns_about_a_redis_broker_without_a_connect_timeout(settings) -> None:
    settings.DEBUG = False
    settings.CROSSSELL = {"SITE_URL": "https://shop.example.com"}
    redis = {"task_always_eager": False, "broker_url": "redis://127.0.0.1:6379/0"}
    with celery_configured(**redis, broker_transport_options={}):
        warning = _messages(deploy=True)["crosssell.W005"]
    assert "socket_connect_timeout" in warning.msg and "socket_connect_timeout" in warning.hint
    with celery_configured(**redis, broker_transport_options={"socket_connect_timeout": 0.25}):
        assert "crosssell.W005" not in _messages(deploy=True)
    with celery_configured(task_always_eager=False, broker_url="amqp://guest@127.0.0.1//"):
        assert "crosssell.W005" not in _messages(deploy=True)  # not Redis


def test_check_deploy_warns_about_the_demo_secret_key(settings) -> None:
    settings.SECRET_KEY = settings.DEMO_SECRET_KEY
    warning = _messages(deploy=True)["demo.W001"]
    assert "published key" in warning.msg and "DJANGO_SECRET_KEY" in warning.hint
    settings.SECRET_KEY = "a-real-secret-" + "x" * 50
    assert "demo.W001" not in _messages(deploy=True)
