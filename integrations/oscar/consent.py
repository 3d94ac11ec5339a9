"""Marketing consent asked at Oscar's checkout: the opt-in box, and recording what was ticked.

Follow-ups go only to customers who consented (``no marketing consent on email`` otherwise), and
Oscar itself never asks. With ``integrations.oscar`` installed, the order preview page shows an
unticked box, "Email me recommendations and offers" (the template
``crosssell/oscar/checkout_consent.html``, added to Oscar's ``checkout/preview.html`` by this
integration's override of it). It works for guests and signed-in customers alike.

When the order is placed with the box ticked (the POST field :data:`FIELD` of the place-order
request), the customer's email consent is recorded on crosssell's ``Customer`` in the same
request, with its source (``oscar checkout, order <number>``) and time: their follow-ups then go
out. An unticked box records nothing: it neither grants nor withdraws a consent given before.

The hooks for a checkout that differs from Oscar's:

* a project with its own ``checkout/preview.html`` adds ``{% load crosssell_oscar %}`` and
  ``{% crosssell_checkout_consent %}`` where the box should be (inside the place-order form, or
  anywhere on the page: the box names the form ``place_order_form``);
* a project that asks on another page (the gateway, the address step) calls
  :func:`note_consent` with the request and the answer; the answer is kept in the session until
  the order is placed, and recorded then;
* a project that places orders its own way calls :func:`record_checkout_consent` with the order.

A shop that asks for consent in its own way leaves the box out: an empty
``crosssell/oscar/checkout_consent.html`` in its templates hides it, and without the field
nothing is recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crosssell_plugin.events import Channel, Consent, CustomerData
from crosssell_plugin.ingest import upsert_customer
from crosssell_plugin.models import Customer

logger = logging.getLogger(__name__)

#: the name of the opt-in box in the place-order form
FIELD = "crosssell_marketing_consent"
#: where :func:`note_consent` keeps an answer given on an earlier checkout page
SESSION_KEY = "crosssell_marketing_consent_at"
#: the source recorded with the consent (the order number follows)
SOURCE = "oscar checkout"


def note_consent(request: Any, granted: bool) -> None:
    """Remember the shopper's answer until their order is placed (for a box on an earlier page).
    ``granted=False`` forgets an earlier tick."""
    if granted:
        request.session[SESSION_KEY] = timezone.now().isoformat()
    else:
        request.session.pop(SESSION_KEY, None)


def consent_given(request: Any) -> datetime | None:
    """When the shopper placing the order ticked the box: now, for the place-order request's own
    box, else the time kept by :func:`note_consent`; None if they did not."""
    if request is None:
        return None
    if request.method == "POST" and request.POST.get(FIELD) in ("on", "1", "true", "yes"):
        return timezone.now()
    noted = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    when = parse_datetime(noted) if isinstance(noted, str) else None
    return when if when is not None and timezone.is_aware(when) else None


def record_checkout_consent(order: Any, recorded_at: datetime, source: str = SOURCE) -> Customer | None:
    """Record that the buyer of the Oscar ``order`` consented to marketing email at ``recorded_at``,
    on the store's crosssell customer (created if the order is not recorded yet). None when the
    order has no email (a deleted account)."""
    from .adapter import OscarAdapter

    email = (order.email or "").strip()
    if not email:
        return None
    consent = Consent(
        channel=Channel.EMAIL.value,
        granted=True,
        source=f"{source}, order {order.number}"[:100],
        recorded_at=recorded_at,
    )
    data = CustomerData(email=email, consents=(consent,))
    data.validate("customer")
    store = OscarAdapter().store()
    with transaction.atomic():
        return upsert_customer(store, data)


def on_post_checkout(order: Any, request: Any) -> None:
    """After a successful checkout: record the consent the shopper gave, if any. Never raises."""
    try:
        when = consent_given(request)
        if when is None:
            return
        customer = record_checkout_consent(order, when)
        request.session.pop(SESSION_KEY, None)
    except Exception:
        logger.exception("crosssell could not record the marketing consent given with order %s", order.number)
        return
    if customer is not None:
        logger.info("Oscar order %s: marketing consent by email recorded (customer %s)", order.number, customer.pk)
