"""Celery tasks of the measurement: the nightly rollup of every store, one store's rollup, and the
bandits' new shares from the rolled-up figures. Thin wrappers around :mod:`.rollup`."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger("crosssell.rollup")


def _log_progress(store: Any, done: int, total: int, message: str) -> None:
    logger.info("Rollup of store %s: %d/%d days, %s", store.pk, done, total, message)


def _summary(run: Any) -> dict[str, Any]:
    return {
        "store": run.store_id,
        "rows": run.rows,
        "first_day": run.first_day.isoformat() if run.first_day else None,
        "last_day": run.last_day.isoformat() if run.last_day else None,
        "error": run.error,
    }


@shared_task(name="crosssell.rollup_all_stores", ignore_result=True)
def rollup_all_stores_task() -> dict[str, Any]:
    """Recompute the open days of every active store's rollups (nightly, from beat), then give the
    running bandits their new shares. A store that fails is logged; the others still run."""
    from .rollup import run_all, update_bandits

    runs = [_summary(run) for run in run_all(progress=_log_progress) if run is not None]
    bandits = update_bandits()
    logger.info("Rolled up %d stores; %d bandits updated", len(runs), bandits)
    return {"stores": runs, "bandits": bandits}


@shared_task(name="crosssell.rollup_store", ignore_result=True)
def rollup_store_task(store_id: int, full: bool = False) -> dict[str, Any]:
    """Recompute one store's rollups (every day with ``full``)."""
    from ..models import Store
    from .rollup import run

    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return {"store": store_id, "status": "missing"}
    return _summary(
        run(store, full=full, progress=lambda done, total, message: _log_progress(store, done, total, message))
    )


@shared_task(name="crosssell.update_bandits", ignore_result=True)
def update_bandits_task() -> int:
    """Give every running bandit's arms their shares from the rolled-up figures."""
    from .rollup import update_bandits

    return update_bandits()
