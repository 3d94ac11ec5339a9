"""Celery tasks of the core. Thin wrappers: they take plain dicts and call the services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from .events import ConsumptionEvent, PurchaseEvent, RefundEvent
from .ingest import record_consumption, record_purchase, record_refund

RETRY_ON = (OperationalError,)
MAX_RETRIES = 5


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
