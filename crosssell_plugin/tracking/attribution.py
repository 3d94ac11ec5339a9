"""Attribution: a new order's line items that were recommended to the customer become Conversions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..conf import crosssell_settings
from ..models import Conversion, Impression, OrderLine


def attribute_order(order: Any) -> list[Any]:
    """The Conversions of ``order`` (created or already there).

    For each item of the order: the customer's most recent Impression of that item within
    ``ATTRIBUTION_WINDOW_DAYS`` before ``order.placed_at``, not shown on this same order's pages
    (shown with an earlier order, or with no order: a customer block). Idempotent: one
    Conversion per (impression, order).
    """
    window = timedelta(days=crosssell_settings.ATTRIBUTION_WINDOW_DAYS)
    items = OrderLine.objects.filter(order=order).order_by("position").values_list("item_id", flat=True)
    conversions = []
    for item_id in dict.fromkeys(items):
        impression = (
            Impression.objects.for_store(order.store_id)
            .filter(
                customer_id=order.customer_id,
                item_id=item_id,
                created_at__lt=order.placed_at,
                created_at__gte=order.placed_at - window,
            )
            .exclude(order_id=order.pk)
            .order_by("-created_at", "-pk")
            .first()
        )
        if impression is not None:
            conversion, _ = Conversion.objects.get_or_create(
                impression=impression, order=order, defaults={"item_id": item_id}
            )
            conversions.append(conversion)
    return conversions
