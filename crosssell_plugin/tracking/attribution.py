"""Attribution: a new order's line items that were recommended to the customer become Conversions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ..conf import crosssell_settings
from ..models import Conversion, Impression, OrderLine


def attribute_order(order: Any) -> list[Any]:
    """The Conversions of ``order`` (created or already there).

    For each item of the order: the customer's most recent Impression of that item within
    ``ATTRIBUTION_WINDOW_DAYS`` before ``order.placed_at``, not shown on this same order's pages
    (shown with an earlier order, or with no order: a customer block). Idempotent: one
    Conversion per (impression, order), with what the order paid for the item (its lines, in the
    order's currency).
    """
    window = timedelta(days=crosssell_settings.ATTRIBUTION_WINDOW_DAYS)
    amounts: dict[int, Decimal] = {}
    for item_id, quantity, unit_price in (
        OrderLine.objects.filter(order=order).order_by("position").values_list("item_id", "quantity", "unit_price")
    ):
        amounts[item_id] = amounts.get(item_id, Decimal(0)) + unit_price * quantity
    conversions = []
    for item_id, amount in amounts.items():
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
                impression=impression,
                order=order,
                defaults={"item_id": item_id, "amount": amount, "currency": order.currency},
            )
            conversions.append(conversion)
    return conversions
