"""Celery tasks of the Shopify integration: syncing a shop, and reconciling every shop's recent
orders with what the webhooks delivered. Both are safe to run twice: items are upserted and an
order is recorded once.

Beat schedule (``CELERY_BEAT_SCHEDULE``)::

    "crosssell-shopify-reconcile": {
        "task": "crosssell.shopify.reconcile",
        "schedule": 3600,  # every hour
        "kwargs": {"hours": 6},  # orders updated in the last 6 hours
    },

``crosssell.shopify.sync_shop`` is enqueued per shop when it installs the app (the receiver of
``shop_installed`` in :mod:`.signals`, unless ``SYNC_ON_INSTALL`` is off), or by hand
(``sync_shop.delay(shop_pk)``); a nightly run of it for every shop is optional. A run holds the
shop's sync claim (:func:`.sync_state.claim`) while it works: a second run of the same shop that
starts meanwhile does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from crosssell_plugin.events import PurchaseEvent
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.ingest import record_purchase, sync_catalog
from crosssell_plugin.platforms import Unreadable

from . import sync, sync_state
from .models import ShopifyShop

logger = logging.getLogger(__name__)

RETRY_ON = (OperationalError,)
MAX_RETRIES = 5
#: how far back ``crosssell.shopify.reconcile`` re-reads orders by default
RECONCILE_HOURS = 6


@dataclass
class OrderCounts:
    """What recording a run of orders did."""

    recorded: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.recorded} recorded, {self.updated} updated, {self.unchanged} unchanged, {self.failed} failed"


def record_orders(shop: ShopifyShop, events: Iterable[PurchaseEvent | Unreadable]) -> OrderCounts:
    """Record each order; one that cannot be recorded is counted, logged, and the rest go on."""
    counts = OrderCounts()
    for n, event in enumerate(events, start=1):
        if isinstance(event, Unreadable):
            _failed(shop, counts, event.external_id, event.error)
            continue
        try:
            result = record_purchase(event)
        except InvalidEvent as err:
            _failed(shop, counts, event.order_id, str(err))
            continue
        if result.created:
            counts.recorded += 1
        elif result.updated:
            counts.updated += 1
        else:
            counts.unchanged += 1
        if n % sync.LOG_EVERY == 0:
            logger.info("Shopify shop %s: %d orders so far (%s)", shop.domain, n, counts)
    return counts


def _failed(shop: ShopifyShop, counts: OrderCounts, order_id: str, error: str) -> None:
    counts.failed += 1
    counts.failures.append(order_id)
    logger.error("Shopify order %s of %s was not recorded: %s", order_id, shop.domain, error)


def _progress(shop: ShopifyShop) -> Callable[[int], None]:
    def report(count: int) -> None:
        if count % sync.LOG_EVERY == 0:
            logger.info("Shopify shop %s: %d items so far", shop.domain, count)

    return report


def run_sync(shop: ShopifyShop, *, catalog: bool = True, orders: bool = True) -> dict[str, str]:
    """Sync ``shop``: its catalogue, then its orders changed since the last sync. Returns what
    each part did (also logged, with its throughput)."""
    done: dict[str, str] = {}
    if catalog:
        started = time.monotonic()
        result = sync_catalog(shop.store, sync.iter_catalog(shop), progress=_progress(shop))
        count = result.created + result.updated
        done["catalog"] = f"{result.created} created, {result.updated} updated"
        logger.info(
            "Shopify sync of %s: catalogue %s in %.1f s (%s)",
            shop.domain,
            done["catalog"],
            time.monotonic() - started,
            sync._rate(count, started, "items"),
        )
    if orders:
        started = time.monotonic()
        counts = record_orders(shop, sync.iter_orders(shop, sync.orders_since(shop)))
        done["orders"] = str(counts)
        total = counts.recorded + counts.updated + counts.unchanged + counts.failed
        logger.info(
            "Shopify sync of %s: orders %s in %.1f s (%s)",
            shop.domain,
            counts,
            time.monotonic() - started,
            sync._rate(total, started, "orders"),
        )
    return done


@shared_task(
    name="crosssell.shopify.sync_shop",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def sync_shop(shop_pk: int, catalog: bool = True, orders: bool = True) -> dict[str, str]:
    """Sync one installed shop (catalogue, then orders since its last sync), unless a sync of it
    is running already (then ``{"skipped": ...}``)."""
    shop = ShopifyShop.objects.installed().select_related("store").filter(pk=shop_pk).first()
    if shop is None:
        logger.info("Shopify shop %s is not installed: nothing to sync", shop_pk)
        return {}
    claimed_at = timezone.now()
    if not sync_state.claim(shop, claimed_at):
        logger.info("Shopify shop %s is being synced already: this run does nothing", shop.domain)
        return {"skipped": "a sync of this shop is running"}
    try:
        return run_sync(shop, catalog=catalog, orders=orders)
    finally:
        sync_state.release(shop, claimed_at)


@shared_task(
    name="crosssell.shopify.reconcile",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def reconcile(hours: int = RECONCILE_HOURS) -> dict[str, str]:
    """Re-read the orders every installed shop changed in the last ``hours`` and record the ones a
    webhook did not bring (a delivery lost, a subscription removed). A shop whose read fails is
    logged and the others go on."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 60:
        raise ValueError(f"hours must be a whole number of hours from 1 to 1440, got {hours!r}")
    since = timezone.now() - timedelta(hours=hours)
    done: dict[str, str] = {}
    for shop in ShopifyShop.objects.installed().select_related("store"):
        try:
            counts = record_orders(shop, sync.iter_orders(shop, since))
        except Exception as err:  # one shop's API error must not stop the others
            logger.exception("Shopify reconcile of %s failed: %s", shop.domain, type(err).__name__)
            done[shop.domain] = f"failed: {type(err).__name__}"
            continue
        done[shop.domain] = str(counts)
        logger.info("Shopify reconcile of %s (last %d h): %s", shop.domain, hours, counts)
    return done
