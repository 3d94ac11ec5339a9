"""``{% crosssell_checkout_consent %}``: the marketing opt-in box of Oscar's checkout.

This integration adds it to Oscar's order preview page already; a project with its own
``checkout/preview.html`` puts it where it wants (see :mod:`integrations.oscar.consent`).
"""

from __future__ import annotations

from typing import Any

from django import template

from ..consent import FIELD

register = template.Library()


@register.inclusion_tag("crosssell/oscar/checkout_consent.html", takes_context=True)
def crosssell_checkout_consent(context: Any, form_id: str = "place_order_form") -> dict[str, Any]:
    """The unticked opt-in box, part of the form ``form_id`` wherever it is on the page."""
    return {"field": FIELD, "form_id": form_id, "shop_name": context.get("shop_name", "")}
