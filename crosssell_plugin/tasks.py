"""Every Celery task of the core, importable from here as before (Celery's autodiscovery imports
this module). Each package owns its tasks: :mod:`.ingest.tasks`, :mod:`.recommend.tasks`,
:mod:`.tracking.tasks`, :mod:`.surfaces.tasks`, :mod:`.followups.tasks`; the one task of the
webhook deliveries' retention (:func:`purge_deliveries_task`) is defined here. Thin wrappers: they
take plain values and call the services; their names (``crosssell.*``) are fixed by ``name=``,
never derived from the module path."""

from __future__ import annotations

from celery import shared_task

from .followups.tasks import DISPATCH_MAX_SECONDS, dispatch_followups_task
from .ingest.tasks import record_consumption_task, record_purchase_task, record_refund_task
from .recommend.tasks import train_all_stores_task, train_store_task, update_pair_counts_task
from .surfaces.tasks import compute_ahead_task
from .task_options import MAX_RETRIES, RETRY_ON
from .tracking.tasks import log_impressions_task

__all__ = [
    "DISPATCH_MAX_SECONDS",
    "MAX_RETRIES",
    "RETRY_ON",
    "compute_ahead_task",
    "dispatch_followups_task",
    "log_impressions_task",
    "purge_deliveries_task",
    "record_consumption_task",
    "record_purchase_task",
    "record_refund_task",
    "train_all_stores_task",
    "train_store_task",
    "update_pair_counts_task",
]


@shared_task(name="crosssell.purge_deliveries", ignore_result=True, autoretry_for=RETRY_ON, retry_backoff=True)
def purge_deliveries_task() -> int:
    """Delete the webhook deliveries older than ``WEBHOOK_RETENTION_DAYS`` (daily, from beat)."""
    from .deliveries import purge_deliveries

    return sum(p.deleted for p in purge_deliveries())
