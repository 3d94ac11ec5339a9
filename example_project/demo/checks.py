"""``manage.py check --deploy`` of the demo store: its published SECRET_KEY must not go live."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def check_demo_secret_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SECRET_KEY != getattr(settings, "DEMO_SECRET_KEY", None):
        return []
    return [
        checks.Warning(
            "SECRET_KEY is the demo's published key: anyone can forge sessions, password-reset links, "
            "click, unsubscribe and API tokens with it.",
            hint="Set DJANGO_SECRET_KEY to a long random value, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
            id="demo.W001",
        )
    ]
