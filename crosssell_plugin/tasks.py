"""Every Celery task of the core, importable from here as before (Celery's autodiscovery imports
this module). Each package owns its tasks: :mod:`.ingest.tasks`, :mod:`.recommend.tasks`,
:mod:`.tracking.tasks`, :mod:`.surfaces.tasks`, :mod:`.followups.tasks`, :mod:`.deliveries.tasks`,
:mod:`.experiments.tasks`. Thin wrappers: they take plain values and call the services; their names
(``crosssell.*``) are fixed by ``name=``, never derived from the module path."""

from __future__ import annotations

from .deliveries.tasks import purge_deliveries_task
from .experiments.tasks import rollup_all_stores_task, rollup_store_task, update_bandits_task
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
    "rollup_all_stores_task",
    "rollup_store_task",
    "train_all_stores_task",
    "train_store_task",
    "update_bandits_task",
    "update_pair_counts_task",
]
