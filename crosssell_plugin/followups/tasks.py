"""Celery tasks of the follow-ups: the dispatcher, scheduled with celery beat."""

from __future__ import annotations

from celery import shared_task

#: a beat-scheduled run stops taking new batches after this, so runs do not pile up
DISPATCH_MAX_SECONDS = 25


@shared_task(name="crosssell.dispatch_followups")
def dispatch_followups_task(batch_size: int | None = None) -> dict[str, int]:
    """Send the follow-ups that are due (schedule it every 30 s with celery beat). Safe to run in
    several workers at once: each row is claimed by one. Never uses ETA/countdown for delays."""
    from .dispatch import dispatch_until_empty

    reports = dispatch_until_empty(batch_size, max_seconds=DISPATCH_MAX_SECONDS)
    keys = ("claimed", "sent", "skipped", "postponed", "retried", "failed", "released", "lost")
    return {key: sum(getattr(r, key) for r in reports) for key in keys}
