"""``{% load crosssell %}``: recommendation blocks for an order, a customer or an item.

::

    {% crosssell_block order placement="thank_you" limit=4 %}
    {% crosssell_customer_block customer placement="email" limit=4 %}
    {% crosssell_item_block item placement="item_page" limit=4 %}

Each also takes ``heading="..."`` (the block's title) and ``variant="..."`` (recorded with each
impression and click, for the page's own A/B tests; another variant is another cached block).

Each renders ``crosssell/block.html`` (override it at the same path to restyle) and logs one
:class:`~crosssell_plugin.models.Impression` per item shown, in one query. With no
recommendations, or when anything goes wrong, it renders nothing: a recommendation block never
breaks the page around it.

The blocks themselves (computing, rendering, the cache, the blocks rendered ahead) live in
:mod:`crosssell_plugin.surfaces.blocks`; this tag library only hands them the template's
arguments and its request, so a worker never imports it.
"""

from __future__ import annotations

from typing import Any

from django import template

from ..money import format_price
from ..surfaces import blocks
from ..surfaces.blocks import render_ahead

register = template.Library()

#: importable from here as before
__all__ = ["crosssell_block", "crosssell_customer_block", "crosssell_item_block", "format_price", "render_ahead"]


@register.simple_tag(takes_context=True)
def crosssell_block(
    context: template.Context,
    order: Any,
    placement: str = "thank_you",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """Recommendations after ``order``: a crosssell Order, or a platform's own order object (a
    django-oscar order) that its installed integration recognises
    (:func:`crosssell_plugin.platforms.platform_order_ref`)."""
    return blocks.order_block(context.get("request"), order, placement, limit, heading, variant)


@register.simple_tag(takes_context=True)
def crosssell_customer_block(
    context: template.Context,
    customer: Any,
    placement: str = "next_order",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """What a crosssell Customer may buy next (an account page, an email)."""
    return blocks.customer_block(context.get("request"), customer, placement, limit, heading, variant)


@register.simple_tag(takes_context=True)
def crosssell_item_block(
    context: template.Context,
    item: Any,
    placement: str = "item_page",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """What goes with a crosssell Item (an item page, for anyone)."""
    return blocks.item_block(context.get("request"), item, placement, limit, heading, variant)
