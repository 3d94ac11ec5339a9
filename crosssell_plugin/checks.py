"""System checks: ``manage.py check`` reports a wrong ``CROSSSELL`` setting with a hint."""

from __future__ import annotations

from typing import Any

from django.core import checks

from .conf import validation_errors


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(message, hint=hint, id=check_id) for check_id, message, hint in validation_errors()]
