"""``{% load crosssell_inbox %}{% crosssell_inbox customer %}``: a customer's in-app follow-ups.

``customer`` is a crosssell Customer. Renders ``crosssell/inbox.html`` with the newest messages
(``limit``, default 5) and the number of unread ones; override the template to restyle it.
"""

from __future__ import annotations

from typing import Any

from django import template

from ..models import Customer, InAppMessage

register = template.Library()


@register.inclusion_tag("crosssell/inbox.html")
def crosssell_inbox(customer: Customer | None, limit: int = 5) -> dict[str, Any]:
    if not isinstance(customer, Customer):
        return {"messages": [], "unread": 0, "customer": None}
    rows = InAppMessage.objects.for_store(customer.store_id).filter(customer=customer)
    return {
        "customer": customer,
        "messages": list(rows.order_by("-created_at", "-pk")[: max(0, int(limit))]),
        "unread": rows.filter(read_at__isnull=True).count(),
    }
