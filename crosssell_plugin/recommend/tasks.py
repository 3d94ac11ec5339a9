"""Celery tasks of the recommender: pair counts between trainings, training (one store, every store)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..task_options import MAX_RETRIES, RETRY_ON


@shared_task(
    name="crosssell.update_pair_counts",
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def update_pair_counts_task(order_pk: int) -> int:
    """Add a new order's item pairs to the store's pair counts (idempotent: once per order)."""
    from .training import count_order_pairs

    return count_order_pairs(order_pk)


@shared_task(name="crosssell.train_store")
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


@shared_task(name="crosssell.train_all_stores")
def train_all_stores_task() -> list[int]:
    """Enqueue ``crosssell.train_store`` for every active store (one task each, so one store's
    failure or duration never holds up another's). Schedule it nightly with celery beat."""
    from .training import stores_to_train

    store_pks = [store.pk for store in stores_to_train()]
    for pk in store_pks:
        train_store_task.delay(pk)
    return store_pks
