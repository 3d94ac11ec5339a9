"""Celery tasks of the recommender: pair counts between trainings, training (one store, every store)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..queueing import Drop, enqueue
from ..task_options import MAX_RETRIES, RETRY_ON

#: a store whose training cannot be queued is trained by the next run (nightly) or ``crosssell_train``
TRAIN_FALLBACK = Drop("the next crosssell.train_all_stores run (or manage.py crosssell_train) trains the store")


@shared_task(
    name="crosssell.update_pair_counts",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def update_pair_counts_task(order_pk: int) -> int:
    """Add a new order's item pairs to the store's pair counts (idempotent: once per order)."""
    from .training import count_order_pairs

    return count_order_pairs(order_pk)


@shared_task(name="crosssell.train_store", ignore_result=True)
def train_store_task(store_pk: int) -> dict[str, Any]:
    """Train one store's recommender; the new version is activated if training succeeds."""
    from ..models import Store
    from .training import train_store

    store = Store.objects.filter(pk=store_pk).first()
    if store is None:
        return {"store": store_pk, "status": "missing"}
    version = train_store(store)
    return {
        "store": store_pk,
        "version": version.version,
        "status": version.status,
        "fit_seconds": version.fit_seconds,
        "error": version.error,
    }


@shared_task(name="crosssell.train_all_stores", ignore_result=True)
def train_all_stores_task() -> list[int]:
    """Enqueue ``crosssell.train_store`` for every active store (one task each, so one store's
    failure or duration never holds up another's). Schedule it nightly with celery beat. A store
    whose task cannot be queued (the broker is down) is logged and left for the next run: a
    training is too long to run here instead."""
    from .training import stores_to_train

    store_pks = [store.pk for store in stores_to_train()]
    for pk in store_pks:
        enqueue(train_store_task, pk, fallback=TRAIN_FALLBACK)
    return store_pks
