"""``{% load crosssell_stripe %}``: the recommendation block on a Stripe Checkout success page.

Create the session with ``success_url="https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}"``
and, in the success page's template::

    {% crosssell_stripe_block request.GET.session_id %}

It renders ``{% crosssell_block %}`` for the order of that Checkout Session (same template, cache,
impressions and arguments: ``placement``, ``limit``, ``heading``, ``variant``). The store is
``store=`` (a Store, or its external id), else ``CROSSSELL["SITE_STORE"]`` when it is a Stripe
store, else the only active Stripe store. When the page is faster than the webhook, the paid
session is read from Stripe and recorded now (the webhook finds it recorded). Like every block, it
renders nothing rather than break the page.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django import template

from crosssell_plugin.conf import crosssell_settings
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Order, Store
from crosssell_plugin.shoppers import remember_order
from crosssell_plugin.templatetags.crosssell import crosssell_block

from .. import client
from ..adapter import StripeAdapter

logger = logging.getLogger(__name__)
register = template.Library()

#: what a Checkout Session id looks like (anything else is not looked up)
SESSION_ID = re.compile(r"cs_(test_|live_)?[A-Za-z0-9]{10,200}")


def _store(store: Any) -> Store | None:
    stores = Store.objects.filter(platform=StripeAdapter.platform_id, is_active=True)
    if isinstance(store, Store):
        return store if store.platform == StripeAdapter.platform_id else None
    if store:
        return stores.filter(external_id=str(store)).first()
    platform, _, external_id = crosssell_settings.SITE_STORE.partition(":")
    if platform == StripeAdapter.platform_id:
        return stores.filter(external_id=external_id).first()
    found = list(stores[:2])
    return found[0] if len(found) == 1 else None


def order_of_session(store: Store, session_id: str) -> Order | None:
    """The crosssell Order of a Checkout Session, recorded now from Stripe if the webhook has not run."""
    order = Order.objects.for_store(store).select_related("store", "customer").filter(external_id=session_id).first()
    if order is not None:
        return order
    adapter = StripeAdapter()
    account = adapter.account(store)
    session = client.checkout_session(account, session_id)
    if session.get("payment_status") == "unpaid":
        return None  # a delayed payment: the block comes with the payment
    return record_purchase(adapter.purchase(account, session)).order


@register.simple_tag(takes_context=True)
def crosssell_stripe_block(context: template.Context, session_id: Any, store: Any = None, **options: Any) -> str:
    """The block after the order of Checkout Session ``session_id``."""
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        return ""
    try:
        found = _store(store)
        order = order_of_session(found, session_id) if found is not None else None
    except Exception:
        logger.exception("The order of Stripe Checkout Session %s could not be read", session_id)
        return ""
    if order is None:
        return ""
    request = context.get("request")
    if request is not None and hasattr(request, "session"):
        remember_order(request.session, order.external_id)  # the shopper API may show this order too
    return crosssell_block(context, order, **options)
