"""Celery tasks of ingest: record an event sent as a plain dict (``event.to_dict()``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..events import ConsumptionEvent, PurchaseEvent, RefundEvent
from ..task_options import MAX_RETRIES, RETRY_ON
from .recording import record_consumption, record_purchase, record_refund


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
