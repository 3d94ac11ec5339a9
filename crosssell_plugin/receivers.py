"""The core's own signal receivers, connected in ``CrossSellConfig.ready()``.

They only enqueue work: a receiver that raised would be logged by the sender, but the purchase
is already recorded, so failures here are logged with the order and never propagate.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def count_new_purchase(sender: Any, order: Any, **kwargs: Any) -> None:
    """``purchase_recorded`` -> ``crosssell.update_pair_counts`` (between two trainings)."""
    from .tasks import update_pair_counts_task

    try:
        update_pair_counts_task.delay(order.pk)
    except Exception:
        logger.exception("Could not enqueue the pair counts of order %s (store %s)", order.external_id, order.store_id)
