"""Signal receivers. They never raise into Oscar: a failing receiver would leave the order
saved while the customer sees an error and cannot retry (Oscar uses ``Signal.send``).

Work is deferred until the checkout's transaction commits, then handed to Celery through
:func:`crosssell_plugin.queueing.enqueue`. When the broker cannot be reached, the work is done
in the request instead (both are idempotent and quick): the order is recorded, and a product's
item synced, before the customer's next page, so nothing waits for a worker that cannot get the
message. Every failure is logged with the order number; ``manage.py crosssell_sync --store
oscar:default --orders`` records anything that was missed (recording is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone
from oscar.core.loading import get_class, get_model

from crosssell_plugin.queueing import INLINE, enqueue
from crosssell_plugin.shoppers import remember_order
from crosssell_plugin.signals import order_not_recorded

logger = logging.getLogger(__name__)


def connect() -> None:
    order_placed = get_class("order.signals", "order_placed")
    order_placed.connect(on_order_placed, dispatch_uid="crosssell_oscar_order_placed")
    post_checkout = get_class("checkout.signals", "post_checkout")
    post_checkout.connect(on_post_checkout, dispatch_uid="crosssell_oscar_post_checkout")
    order_not_recorded.connect(on_order_not_recorded, dispatch_uid="crosssell_oscar_order_not_recorded")
    post_save.connect(
        on_product_saved,
        sender=get_model("catalogue", "Product"),
        dispatch_uid="crosssell_oscar_product",
    )
    post_save.connect(
        on_stockrecord_saved,
        sender=get_model("partner", "StockRecord"),
        dispatch_uid="crosssell_oscar_stockrecord",
    )


def _after_commit(description: str, func: Callable[[], Any]) -> None:
    """Run ``func`` once the current transaction commits; log, never raise, any failure."""

    def run() -> None:
        try:
            func()
        except Exception:
            logger.exception("crosssell could not %s; the store is unaffected", description)

    try:
        transaction.on_commit(run)
    except Exception:
        logger.exception("crosssell could not schedule: %s", description)


def on_order_placed(sender: Any, order: Any = None, **kwargs: Any) -> None:
    try:
        order_pk, number = order.pk, order.number
    except Exception:
        logger.exception("crosssell received order_placed without a usable order (%r)", order)
        return
    from .tasks import record_oscar_order

    _after_commit(f"record Oscar order {number}", lambda: enqueue(record_oscar_order, order_pk, fallback=INLINE))


def on_post_checkout(sender: Any, order: Any = None, request: Any = None, **kwargs: Any) -> None:
    """The browser that placed the order may ask the REST API about it with its session (the
    thank-you page's own scripts, a guest included); see :mod:`crosssell_plugin.shoppers`. The
    marketing consent ticked at checkout is recorded (:mod:`integrations.oscar.consent`)."""
    try:
        remember_order(request.session, order.number)
    except Exception:
        logger.exception("crosssell could not note order %r in the checkout's session", getattr(order, "number", None))
    from .consent import on_post_checkout as record_consent

    record_consent(order, request)


#: only an order placed this recently is recorded by a page (:func:`on_order_not_recorded`)
RECORD_ON_PAGE_WITHIN = timedelta(hours=1)


def on_order_not_recorded(sender: Any, store: Any = None, platform_order: Any = None, **kwargs: Any) -> None:
    """The thank-you page asks for the block of an order the worker has not recorded yet: record
    it now, in the request (idempotent: the queued task then finds it recorded). Only an order
    placed within :data:`RECORD_ON_PAGE_WITHIN`: an older one that was never recorded (placed
    before crosssell was installed, say) waits for ``crosssell_sync --store oscar:default --orders``, so that
    opening an old order's page never starts its follow-ups."""
    if getattr(store, "platform", None) != "oscar" or not isinstance(platform_order, get_model("order", "Order")):
        return
    placed = platform_order.date_placed
    if placed is None or timezone.now() - placed > RECORD_ON_PAGE_WITHIN:
        return
    from .tasks import record_order

    record_order(platform_order)


def _sync_enabled() -> bool:
    from .adapter import OscarAdapter

    try:
        return bool(OscarAdapter().options()["SYNC_CATALOG_ON_SAVE"])
    except Exception:
        logger.exception("crosssell could not read its Oscar options")
        return False


def on_product_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or not _sync_enabled():
        return
    from .tasks import sync_oscar_product

    product_pk = instance.pk
    _after_commit(f"sync Oscar product {product_pk}", lambda: enqueue(sync_oscar_product, product_pk, fallback=INLINE))


def on_stockrecord_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or not _sync_enabled():
        return
    from .tasks import sync_oscar_product

    product_pk = instance.product_id
    _after_commit(f"sync Oscar product {product_pk}", lambda: enqueue(sync_oscar_product, product_pk, fallback=INLINE))
