"""Stripe Checkout as a crosssell platform: signed webhooks -> purchases, refunds, email consent.

Topics handled (the Stripe event ``type``; every other type is logged and dropped by the view):

==========================================  ==================================================
``checkout.session.completed``              a purchase, once the session is paid (a delayed
                                            method completes unpaid: nothing until ...)
``checkout.session.async_payment_succeeded``  ... this one, the purchase of a delayed method
``charge.refunded``                         a refund per succeeded Refund of the charge
==========================================  ==================================================

A Checkout Session is the order: its id (``cs_...``) is the order's external id, which the
success page knows (``success_url=...?session_id={CHECKOUT_SESSION_ID}``). Line items are not
in the event: they are read from ``GET /v1/checkout/sessions/{id}/line_items`` with
``price.product`` expanded; a product is the catalog item (its ``metadata.kind`` may name the
item kind, else ``product``). ``consent.promotions`` (``opt_in``/``opt_out``, present when the
session collected it) becomes the customer's email marketing consent.

The Store's external id is chosen by the merchant (the Stripe account id is a good one); its
:class:`~integrations.stripe.models.StripeAccount` holds the API key and the endpoint's signing
secret. A store without one is not installed: its webhooks are answered 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import stripe
from django.http import HttpRequest

from crosssell_plugin.events import (
    CatalogItem,
    Consent,
    CustomerData,
    ItemKind,
    Platform,
    PurchaseEvent,
    PurchaseLine,
    RefundEvent,
)
from crosssell_plugin.exceptions import ConfigurationError
from crosssell_plugin.jsonbody import MalformedBody
from crosssell_plugin.models import Store
from crosssell_plugin.money import minor_units
from crosssell_plugin.platforms import (
    Capability,
    DeliveryInfo,
    Event,
    InboundDelivery,
    PlatformAdapter,
    WebhookValidationFailure,
)

from . import client
from .models import StripeAccount

#: seconds a signed timestamp stays acceptable (the library's default; replays beyond it are refused)
TOLERANCE_SECONDS = 300
_KINDS = {kind.value for kind in ItemKind}


def amount(minor: int | None, currency: str) -> Decimal:
    """A Stripe amount (an integer of minor units, "zero-decimal" currencies included) as a Decimal."""
    return Decimal(int(minor or 0)).scaleb(-minor_units(currency))


def _when(timestamp: Any) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)


class StripeAdapter(PlatformAdapter):
    platform_id = Platform.STRIPE.value
    platform_name = "Stripe"
    capabilities = frozenset({Capability.WEBHOOKS})
    webhook_view = "integrations.stripe.webhooks.StripeWebhookView"
    webhook_topics: ClassVar[frozenset[str]] = frozenset(
        {"checkout.session.completed", "checkout.session.async_payment_succeeded", "charge.refunded"}
    )

    def account(self, store: Store) -> StripeAccount:
        """The store's Stripe credentials; ConfigurationError if it has none."""
        account = StripeAccount.objects.select_related("store").filter(store=store).first()
        if account is None:
            raise ConfigurationError(f"Store {store.pk} ({store}) has no Stripe account: add one in the admin.")
        return account

    def is_installed(self, store: Store) -> bool:
        return store.is_active and StripeAccount.objects.filter(store=store).exists()

    # -- webhooks -------------------------------------------------------------------------

    def verify_webhook(self, request: HttpRequest, store: Store) -> None:
        header = request.headers.get("Stripe-Signature")
        if not header:
            raise WebhookValidationFailure("The Stripe webhook has no Stripe-Signature header.")
        try:
            stripe.WebhookSignature.verify_header(
                request.body, header, self.account(store).webhook_secret, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as err:
            raise WebhookValidationFailure(f"Bad Stripe-Signature: {err.user_message or err}") from None
        except UnicodeDecodeError:
            raise WebhookValidationFailure("The Stripe webhook body is not UTF-8 text.") from None

    def describe_webhook(self, request: HttpRequest, payload: Mapping[str, Any]) -> DeliveryInfo:
        event_id, event_type = payload.get("id"), payload.get("type")
        if not (isinstance(event_id, str) and event_id.startswith("evt_") and isinstance(event_type, str)):
            raise MalformedBody("A Stripe event needs an id (evt_...) and a type.")
        return DeliveryInfo(topic=event_type, delivery_id=event_id)

    def parse_webhook(self, delivery: InboundDelivery) -> list[Event]:
        obj = delivery.payload.get("data", {}).get("object", {})
        if not isinstance(obj, Mapping):
            raise MalformedBody("The Stripe event has no data.object.")
        account = self.account(delivery.store)
        if delivery.topic == "charge.refunded":
            return list(self.refunds(account, obj))
        if delivery.topic == "checkout.session.completed" and obj.get("payment_status") == "unpaid":
            return []  # a delayed payment method: async_payment_succeeded brings the purchase
        return [self.purchase(account, obj)]

    # -- events ---------------------------------------------------------------------------

    def purchase(self, account: StripeAccount, session: Mapping[str, Any]) -> PurchaseEvent:
        """The PurchaseEvent of a paid Checkout Session (its line items read from Stripe)."""
        currency = str(session["currency"]).upper()
        lines = tuple(self._line(item, currency) for item in client.line_items(account, session["id"]))
        placed = _when(session["created"])
        return PurchaseEvent(
            store=self.store_ref(account.store.external_id),
            order_id=session["id"],
            occurred_at=placed,
            currency=currency,
            customer=self._customer(session, placed),
            lines=lines,
            total=amount(session.get("amount_total"), currency),
            raw={
                key: session.get(key)
                for key in ("id", "payment_intent", "mode", "payment_status", "amount_total", "client_reference_id")
            },
        )

    def _line(self, line: Mapping[str, Any], currency: str) -> PurchaseLine:
        price = line.get("price") or {}
        expanded = price.get("product")
        product: Mapping[str, Any] = expanded if isinstance(expanded, Mapping) else {}
        quantity = int(line.get("quantity") or 1)
        unit = price.get("unit_amount")
        if unit is None:  # a custom or tiered price: what the line cost, per unit
            unit = int(line.get("amount_subtotal") or 0) // quantity
        metadata = product.get("metadata") or {}
        kind = str(metadata.get("kind", "")).lower()
        images = product.get("images") or []
        item = CatalogItem(
            external_id=product.get("id") or str(price.get("product") or price.get("id")),
            title=product.get("name") or line.get("description") or "Stripe product",
            kind=kind if kind in _KINDS else ItemKind.PRODUCT.value,
            price=amount(unit, currency),
            currency=currency,
            description=product.get("description") or "",
            url=product.get("url") or "",
            image_url=images[0] if images else "",
            raw={"price": price.get("id"), "product": product.get("id")},
        )
        return PurchaseLine(item=item, quantity=quantity, unit_price=amount(unit, currency))

    def _customer(self, session: Mapping[str, Any], placed: datetime) -> CustomerData:
        details = session.get("customer_details") or {}
        first, _, last = str(details.get("name") or "").partition(" ")
        promotions = (session.get("consent") or {}).get("promotions")
        consents: tuple[Consent, ...] = ()
        if promotions in ("opt_in", "opt_out"):
            consents = (
                Consent(channel="email", granted=promotions == "opt_in", source="stripe checkout", recorded_at=placed),
            )
        customer = session.get("customer")
        return CustomerData(
            email=details.get("email") or session.get("customer_email") or "",
            external_id=customer if isinstance(customer, str) else "",
            first_name=first,
            last_name=last,
            country=str((details.get("address") or {}).get("country") or ""),
            phone=str(details.get("phone") or ""),
            consents=consents,
        )

    def refunds(self, account: StripeAccount, charge: Mapping[str, Any]) -> list[RefundEvent]:
        """A RefundEvent per succeeded refund of a Checkout charge (none for other charges)."""
        payment_intent = charge.get("payment_intent")
        session = client.session_of_payment_intent(account, payment_intent) if payment_intent else None
        if session is None:
            return []  # not a Checkout payment: not an order crosssell knows
        events = []
        for refund in client.refunds_of_charge(account, charge["id"]):
            if refund.get("status") != "succeeded":
                continue
            currency = str(refund["currency"]).upper()
            events.append(
                RefundEvent(
                    store=self.store_ref(account.store.external_id),
                    order_id=session["id"],
                    refund_id=refund["id"],
                    amount=amount(refund["amount"], currency),
                    currency=currency,
                    occurred_at=_when(refund["created"]),
                    reason=refund.get("reason") or "",
                    raw={"id": refund["id"], "charge": charge["id"], "payment_intent": payment_intent},
                )
            )
        return events
