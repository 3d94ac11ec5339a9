"""Celery tasks of the Oscar integration: thin wrappers, safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError
from oscar.core.loading import get_model

from crosssell_plugin.ingest import record_catalog_item, record_purchase

from .adapter import OscarAdapter

logger = logging.getLogger(__name__)

#: transient database errors (a deadlock victim, a dropped connection) are retried
RETRY_ON = (OperationalError,)
MAX_RETRIES = 5


@shared_task(
    name="crosssell.oscar.record_order",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def record_oscar_order(order_pk: int) -> str:
    """Record the Oscar order ``order_pk`` as a crosssell purchase."""
    OscarAdapter().store()  # created on first use
    return record_order(get_model("order", "Order").objects.get(pk=order_pk))


def record_order(order: Any) -> str:
    """Record an Oscar order (its store exists) as a crosssell purchase: recorded, updated or unchanged."""
    result = record_purchase(OscarAdapter().order_to_event(order))
    state = "recorded" if result.created else "updated" if result.updated else "unchanged"
    logger.info("Oscar order %s %s (crosssell order %s)", order.number, state, result.order.pk)
    return state


@shared_task(
    name="crosssell.oscar.sync_product",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def sync_oscar_product(product_pk: int) -> str:
    """Create or refresh the item of one Oscar product."""
    Product = get_model("catalogue", "Product")
    product = Product.objects.filter(pk=product_pk).select_related("product_class").first()
    if product is None or product.structure == Product.PARENT:
        return "skipped"
    adapter = OscarAdapter()
    item = adapter.product_to_item(product)
    if item is None:
        return "skipped (no price)"
    _, created = record_catalog_item(adapter.store(), item)
    return "created" if created else "updated"
