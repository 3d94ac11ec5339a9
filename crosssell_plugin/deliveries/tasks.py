"""Celery task of the stored webhook deliveries: their retention (processing them is the
webhook pipeline's own task, ``crosssell.process_delivery`` in ``integrations/webhooks.py``)."""

from __future__ import annotations

from celery import shared_task

from ..task_options import RETRY_ON


@shared_task(name="crosssell.purge_deliveries", ignore_result=True, autoretry_for=RETRY_ON, retry_backoff=True)
def purge_deliveries_task() -> int:
    """Delete the webhook deliveries older than ``WEBHOOK_RETENTION_DAYS`` (daily, from beat)."""
    from . import purge_deliveries

    return sum(p.deleted for p in purge_deliveries())
