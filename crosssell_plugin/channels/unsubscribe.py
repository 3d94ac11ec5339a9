"""Unsubscribe links: a signed token naming a customer, and what following it does.

The link is ``/crosssell/u/<token>/`` with ``token = signing.dumps({"c": customer pk, "s":
store pk}, salt="crosssell.unsubscribe")``. It never expires: an email read months later must
still let its reader leave. The view is in :mod:`crosssell_plugin.channels.unsubscribe_views`.
"""

from __future__ import annotations

from functools import partial

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..absolute_urls import absolute_url
from ..models import Customer, CustomerConsent
from ..signals import consent_withdrawn

UNSUBSCRIBE_SALT = "crosssell.unsubscribe"
#: ``source`` of the consent records and of ``consent_withdrawn``
SOURCE_LINK = "unsubscribe link"
SOURCE_ONE_CLICK = "one-click unsubscribe"


def unsubscribe_token(customer: Customer) -> str:
    return signing.dumps({"c": customer.pk, "s": customer.store_id}, salt=UNSUBSCRIBE_SALT)


def customer_of(token: str) -> Customer | None:
    """The customer a token names, looked up within the token's store; None if it is tampered,
    malformed or the customer is gone."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    customer_pk, store_pk = payload.get("c"), payload.get("s")
    if not all(isinstance(pk, int) and not isinstance(pk, bool) and pk > 0 for pk in (customer_pk, store_pk)):
        return None
    return Customer.objects.for_store(store_pk).select_related("store").filter(pk=customer_pk).first()


def unsubscribe_url(customer: Customer) -> str:
    """The absolute unsubscribe link of ``customer`` (see :mod:`crosssell_plugin.absolute_urls`)."""
    return absolute_url(reverse("crosssell:unsubscribe", args=[unsubscribe_token(customer)]))


def unsubscribe(customer: Customer, source: str = SOURCE_LINK) -> bool:
    """Opt ``customer`` out of every cross-sell message, at once; True if anything changed.

    Sets ``unsubscribed_at`` (kept if already set) and withdraws each granted consent with
    ``source`` and the current time; consents already withdrawn keep their own record. After
    commit, ``consent_withdrawn`` is sent once with ``channel="all"``. Calling it again changes
    nothing and sends nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = Customer.objects.for_store(customer.store_id).select_for_update().get(pk=customer.pk)
        granted = CustomerConsent.objects.filter(customer=locked, granted=True)
        changed = granted.update(granted=False, source=source, recorded_at=now) > 0
        if locked.unsubscribed_at is None:
            locked.unsubscribed_at = now
            locked.save(update_fields=["unsubscribed_at", "updated_at"])
            changed = True
        if changed:
            transaction.on_commit(partial(_announce, locked, source), robust=True)
    customer.unsubscribed_at = locked.unsubscribed_at
    return changed


def _announce(customer: Customer, source: str) -> None:
    consent_withdrawn.send(sender=CustomerConsent, customer=customer, channel="all", source=source)
