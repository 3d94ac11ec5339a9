"""Celery tasks of the core. Thin wrappers: they take plain dicts and call the services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .events import ConsumptionEvent, PurchaseEvent, RefundEvent
from .ingest import record_consumption, record_purchase, record_refund
from .recommend.tasks import train_all_stores_task, train_store_task, update_pair_counts_task
from .task_options import MAX_RETRIES, RETRY_ON
from .tracking.tasks import log_impressions_task

__all__ = [
    "MAX_RETRIES",
    "RETRY_ON",
    "compute_ahead_task",
    "dispatch_followups_task",
    "log_impressions_task",
    "record_consumption_task",
    "record_purchase_task",
    "record_refund_task",
    "train_all_stores_task",
    "train_store_task",
    "update_pair_counts_task",
]


@shared_task(
    name="crosssell.record_purchase",
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def record_purchase_task(event: dict[str, Any]) -> dict[str, Any]:
    """Record a purchase sent as ``PurchaseEvent.to_dict()``."""
    result = record_purchase(PurchaseEvent.from_dict(event))
    return {
        "order": result.order.pk,
        "created": result.created,
        "updated": result.updated,
        "stale": result.stale,
    }


@shared_task(
    name="crosssell.record_consumption",
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def record_consumption_task(event: dict[str, Any]) -> int:
    return record_consumption(ConsumptionEvent.from_dict(event)).pk


@shared_task(
    name="crosssell.record_refund",
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def record_refund_task(event: dict[str, Any]) -> dict[str, Any]:
    result = record_refund(RefundEvent.from_dict(event))
    return {"refund": result.refund.pk, "created": result.created}


# --- recommendations ----------------------------------------------------------------------


@shared_task(name="crosssell.compute_ahead")
def compute_ahead_task(order_pk: int) -> int:
    """Compute a new order's recommendations, and render its thank-you block, ahead of the page."""
    from .models import Order
    from .recommend import compute_ahead
    from .templatetags.crosssell import render_ahead

    order = Order.objects.select_related("store", "customer").filter(pk=order_pk).first()
    if order is None:
        return 0
    recommendations = compute_ahead(order)
    render_ahead(order, recommendations)
    return len(recommendations)


# --- follow-ups -----------------------------------------------------------------------------

#: a beat-scheduled run stops taking new batches after this, so runs do not pile up
DISPATCH_MAX_SECONDS = 25


@shared_task(name="crosssell.dispatch_followups")
def dispatch_followups_task(batch_size: int | None = None) -> dict[str, int]:
    """Send the follow-ups that are due (schedule it every 30 s with celery beat). Safe to run in
    several workers at once: each row is claimed by one. Never uses ETA/countdown for delays."""
    from .followups.dispatch import dispatch_until_empty

    reports = dispatch_until_empty(batch_size, max_seconds=DISPATCH_MAX_SECONDS)
    keys = ("claimed", "sent", "skipped", "postponed", "retried", "failed", "released", "lost")
    return {key: sum(getattr(r, key) for r in reports) for key in keys}
