"""The core's own signal receivers, connected in ``CrossSellConfig.ready()``.

They only enqueue work: a receiver that raised would be logged by the sender, but the purchase
is already recorded, so failures here are logged with the order and never propagate.
"""

from __future__ import annotations

import logging
from typing import Any

from .tracking.attribution import attribute_order

__all__ = ["attribute_order", "attribute_purchase", "compute_ahead", "count_new_purchase"]

logger = logging.getLogger(__name__)


def count_new_purchase(sender: Any, order: Any, **kwargs: Any) -> None:
    """``purchase_recorded`` -> ``crosssell.update_pair_counts`` (between two trainings)."""
    from .tasks import update_pair_counts_task

    try:
        update_pair_counts_task.delay(order.pk)
    except Exception:
        logger.exception("Could not enqueue the pair counts of order %s (store %s)", order.external_id, order.store_id)


def compute_ahead(sender: Any, order: Any, **kwargs: Any) -> None:
    """``purchase_recorded`` -> ``crosssell.compute_ahead``: the order's recommendations, ready
    before its thank-you page asks (connected after ``count_new_purchase``, so that with eager
    tasks they include the order's own pair counts)."""
    from .tasks import compute_ahead_task

    try:
        compute_ahead_task.delay(order.pk)
    except Exception:
        logger.exception(
            "Could not enqueue the recommendations of order %s (store %s)", order.external_id, order.store_id
        )


def attribute_purchase(sender: Any, order: Any, **kwargs: Any) -> None:
    """``purchase_recorded`` -> a Conversion per line item that was recommended to the customer.

    For each item of the new order: the customer's most recent Impression of that item within
    ``ATTRIBUTION_WINDOW_DAYS`` before ``order.placed_at``, not shown on this same order's pages
    (shown with an earlier order, or with no order: a customer block). Idempotent: one
    Conversion per (impression, order).
    """
    try:
        attribute_order(order)
    except Exception:
        logger.exception("Could not attribute order %s (store %s)", order.external_id, order.store_id)
