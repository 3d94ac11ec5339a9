"""The default path every store starts with, disabled: the classic three-step cadence by email.

Migration ``0008_default_path`` installed the same path in the stores that existed then, from
its own frozen copy of these values (a migration never imports app code that may change).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction

from ..models import Path, Step, Store

DEFAULT_PATH_NAME = "Classic follow-up (1 hour, 24 hours, 7 days)"
#: position, name, delay, template, subject
DEFAULT_STEPS = (
    (1, "Soft upsell", timedelta(hours=1), "soft_upsell", "Picked for you after your order"),
    (2, "Bundle", timedelta(hours=24), "bundle", "Complete your collection"),
    (3, "Loyalty nudge", timedelta(days=7), "loyalty", "Something new for you"),
)


def install_default_path(store: Store) -> Path:
    """The store's default path, created disabled (with its three email steps) if it is missing."""
    with transaction.atomic():
        path, created = Path.objects.get_or_create(store=store, name=DEFAULT_PATH_NAME, defaults={"enabled": False})
        if created:
            Step.objects.bulk_create(
                Step(path=path, position=n, name=name, delay=delay, channel="email", template=template, subject=subject)
                for n, name, delay, template, subject in DEFAULT_STEPS
            )
    return path


def store_created(sender: Any, instance: Store, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """``post_save`` of Store: a new store gets the default path (disabled)."""
    if created and not raw:
        install_default_path(instance)
