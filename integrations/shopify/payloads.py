"""Shopify webhook bodies -> crosssell's events: pure functions (no HTTP, no database).

A Shopify webhook body is the REST-shaped JSON resource of its topic, whatever API the app
otherwise uses. Each function here reads one and returns the core's normalized event
(:mod:`crosssell_plugin.events`) or, for what the core has no event for, a small typed object
the webhook processing acts on. A malformed or unknown value raises
:class:`ShopifyPayloadError` (an :class:`~crosssell_plugin.exceptions.InvalidEvent`, so a
``ValueError``) naming the field in Shopify's terms (``line_items[2].price``); nothing else.

===================================  ===================================================
``orders/paid``                      :class:`PurchaseEvent` (:func:`purchase_event`)
``orders/create``                    the same, only when ``financial_status`` is ``paid``
                                     (it also fires for pending and authorized orders)
``refunds/create``                   :class:`RefundEvent` (:func:`refund_event`)
``orders/cancelled``                 :class:`CancelEvent` (:func:`cancel_event`): the core
                                     records it as a refund of what is left of the order
``products/create``, ``/update``     :class:`CatalogChangeEvent` with the item
``products/delete``                  :class:`CatalogChangeEvent` taking the item off sale
``collections/create|update|delete`` :class:`CollectionChange` (the body has no products)
``customers/create``, ``/update``    :class:`ConsentEvent` for email and SMS, or nothing
``customers/redact``                 :class:`CustomerRedactEvent`
``customers/data_request``           :class:`CustomerDataRequest`
``shop/redact``                      :class:`ShopRedactRequest`
``app/uninstalled``                  :class:`AppUninstalled`
===================================  ===================================================

:func:`parse` dispatches on the topic; :func:`delivery_meta` reads the ``X-Shopify-*`` headers
(:class:`DeliveryMeta`, with the two duplicate keys) and :func:`is_stale` compares times.

Decisions, where Shopify leaves a choice:

* **Money is in the shop's currency** (``currency``, ``price``, ``total_price``, the
  ``shop_money`` of ``*_set``), never ``presentment_currency`` (what the buyer saw, kept in
  ``raw``): one store, one currency for totals, refunds and price bands. An order's total is
  ``total_price`` (after discounts, with shipping and taxes: what was paid); a line's unit price
  is its ``price`` before discounts, as for Stripe. The discount codes and each line's
  allocated discount are kept in the order's ``raw``.
* **Items are products**: a line's item external id is its ``product_id``; the variant
  (``variant_id``, ``sku``, ``variant_title``) is kept in ``raw``. A line with no product (a
  custom sale) gets ``custom:<line item id>`` and is not available for recommendation.
* **Kinds**: a ``kind:<kind>`` tag, else the ``kinds`` mapping given (product type -> kind),
  else a product type naming a kind (``Film``, ``Courses``, ``Movie``, ``Merchandise``), else
  ``product``.
* **Customers without an email**: Shopify redacts customer data unless the app is approved for
  protected customer data, and an order may have no customer at all. The core identifies a
  customer by email, so such an order is recorded with the never-deliverable address
  ``customer-<customer id>@shopify.invalid`` (or ``order-<order id>@shopify.invalid`` with no
  customer): the purchase still trains and personalises on-site recommendations, one customer's
  orders stay together, and no email consent is recorded for an address nobody can read, so
  such a customer is never emailed. ``.invalid`` is reserved (RFC 6761), as for CSV imports.
* **Consent**: ``email_marketing_consent`` / ``sms_marketing_consent``: ``subscribed`` is
  consent; ``unsubscribed``, ``not_subscribed`` and ``pending`` (double opt-in not confirmed)
  are none; ``redacted`` and ``invalid`` say nothing. The time is ``consent_updated_at`` (else
  the order's or customer's time; ``not_subscribed`` without one says nothing) and the source
  is ``shopify <opt_in_level>``.
* **Refunds**: the money of the refund's transactions (``kind`` ``refund``, ``status``
  ``success`` or ``pending``), in the shop's currency; a transaction in another currency is
  converted at the rate of the refund's own line items (their ``shop_money`` over their
  ``presentment_money``). A refund without money (a restock only) is recorded as 0: the items
  came back, so the order's follow-ups stop all the same.
* **Cancellations** of an order that was never paid (``financial_status`` pending, authorized,
  voided...) are ignored: such an order was never recorded.
* **Collections**: the core has no collections, and a collection's webhook body does not list
  its products. Membership is held as item tags ``collection:<handle>`` (:func:`collection_tag`);
  pass a product's collection handles to :func:`catalog_item` (read with the Admin API) so that
  an update keeps them, and act on a :class:`CollectionChange` by re-reading its products.
* **Catalog staleness**: the core's catalog events carry no update time; a product's
  ``updated_at`` is kept in the item's ``raw`` so that :func:`is_stale` can compare it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from crosssell_plugin.events import (
    MAX_QUANTITY,
    CancelEvent,
    CatalogChangeEvent,
    CatalogItem,
    Consent,
    ConsentEvent,
    CustomerData,
    CustomerRedactEvent,
    ItemKind,
    Platform,
    PurchaseEvent,
    PurchaseLine,
    RefundEvent,
    StoreRef,
)
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.money import is_currency, minor_units, parse_amount


class ShopifyPayloadError(InvalidEvent):
    """A Shopify webhook body or header is malformed; ``field`` is its path in Shopify's terms."""


class UnsupportedTopic(ShopifyPayloadError):
    """A topic this module does not turn into anything."""


#: the reserved, never-deliverable domain of customers Shopify sent without an email
PLACEHOLDER_DOMAIN = "shopify.invalid"
#: ``X-Shopify-Shop-Domain``: ``{handle}.myshopify.com``, the Store's external id
SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*\.myshopify\.com$")
_TOPIC = re.compile(r"^[a-z_]+/[a-z_]+$")
_API_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")
#: Shopify ids are 64-bit integers
_MAX_ID = 2**63
#: a catalog item's description is at most this long (longer ones are cut)
_MAX_DESCRIPTION = 20_000


# --- reading JSON with paths ------------------------------------------------------------------


def _bad(path: str, message: str) -> ShopifyPayloadError:
    return ShopifyPayloadError(path or "body", message)


def _clean(path: str, value: str, *, multiline: bool = False) -> str:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise _bad(path, "contains an unpaired surrogate (not valid Unicode text)")
        if category == "Cc" and not (multiline and char in "\n\r\t"):
            raise _bad(path, f"contains the control character U+{ord(char):04X}")
    return value.strip()


class _Fields:
    """A JSON object of the body and its path (``line_items[2]``), read field by field."""

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise _bad(path, f"must be a JSON object, got {_type(data)}")
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def obj(self, key: str) -> _Fields | None:
        value = self.data.get(key)
        return None if value is None else _Fields(value, self.at(key))

    def require_obj(self, key: str) -> _Fields:
        found = self.obj(key)
        if found is None:
            raise _bad(self.at(key), "is required")
        return found

    def objects(self, key: str) -> list[_Fields]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad(self.at(key), f"must be a list, got {_type(value)}")
        return [_Fields(entry, f"{self.at(key)}[{i}]") for i, entry in enumerate(value)]

    def text(self, key: str, *, multiline: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _bad(self.at(key), f"must be text, got {_type(value)}")
        return _clean(self.at(key), value, multiline=multiline)

    def id(self, key: str, *, required: bool = True) -> str:
        return _shopify_id(self.at(key), self.data.get(key), required=required)

    def integer(self, key: str, *, minimum: int = -_MAX_ID, maximum: int = _MAX_ID) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(self.at(key), f"must be a whole number, got {_shown(value)}")
        if not minimum <= value <= maximum:
            raise _bad(self.at(key), f"must be between {minimum:,} and {maximum:,}, got {_shown(value)}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise _bad(self.at(key), f"must be true or false, got {_shown(value)}")
        return value

    def time(self, key: str) -> datetime | None:
        return parse_time(self.data.get(key), self.at(key)) if self.has(key) else None

    def require_time(self, *keys: str) -> datetime:
        for key in keys:
            found = self.time(key)
            if found is not None:
                return found
        raise _bad(self.at(keys[0]), "is required")

    def currency(self, key: str) -> str:
        value = self.data.get(key)
        if not is_currency(value):
            raise _bad(self.at(key), f"{_shown(value)} is not an ISO 4217 currency code such as 'USD'")
        return str(value)

    def money(self, key: str, currency: str) -> Decimal:
        return _amount(self.at(key), self.data.get(key), currency)

    def shop_money(self, key: str, currency: str, *, numbers: bool = False) -> Decimal:
        """``key``'s amount in the shop's currency: ``<key>_set.shop_money`` when given, else ``key``
        (which is checked either way). ``numbers``: JSON numbers are read through their text (for
        amounts kept only in ``raw``; Shopify's refund lines send ``15.0``)."""
        plain = self.data.get(key)
        if numbers and isinstance(plain, float):
            plain = repr(plain)
        checked = _amount(self.at(key), plain, currency) if plain is not None else None
        money_set = self.obj(f"{key}_set")
        shop = money_set.obj("shop_money") if money_set is not None else None
        if shop is None:
            if checked is None:
                raise _bad(self.at(key), "is required")
            return checked
        if shop.has("currency_code") and shop.data["currency_code"] != currency:
            raise _bad(
                shop.at("currency_code"),
                f"is {_shown(shop.data['currency_code'])} but the shop's currency is {currency}",
            )
        return shop.money("amount", currency)


def _shopify_id(path: str, value: Any, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise _bad(path, "is required")
        return ""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < _MAX_ID:
        raise _bad(path, f"must be a Shopify id (a positive whole number), got {_shown(value)}")
    return str(value)


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 200:
        return "a number of more than 60 digits"
    text = repr(value) if isinstance(value, str | int | float | bool) or value is None else _type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _amount(path: str, value: Any, currency: str) -> Decimal:
    if value is None:
        raise _bad(path, "is required")
    try:
        return parse_amount(value, currency)
    except ValueError as err:
        raise _bad(path, str(err)) from None


def parse_time(value: Any, field: str = "time") -> datetime:
    """An ISO 8601 date-time with an offset (``2026-03-01T10:15:00-05:00``, ``...Z``) as aware UTC;
    :class:`ShopifyPayloadError` naming ``field`` for anything else (a naive time included)."""
    if not isinstance(value, str):
        raise _bad(field, f"must be an ISO 8601 date-time, got {_shown(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad(field, f"{_shown(value)} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _bad(field, f"{_shown(value)} has no UTC offset (for example 2026-03-01T10:15:00-05:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _bad(field, f"{_shown(value)} is out of range once in UTC") from None


# --- deliveries: headers, duplicates, staleness ---------------------------------------------------

#: the request headers a stored delivery keeps (``webhook_headers`` of the adapter)
WEBHOOK_HEADERS = (
    "X-Shopify-Topic",
    "X-Shopify-Webhook-Id",
    "X-Shopify-Event-Id",
    "X-Shopify-Triggered-At",
    "X-Shopify-Shop-Domain",
    "X-Shopify-API-Version",
)


@dataclass(frozen=True)
class DeliveryMeta:
    """What a delivery's ``X-Shopify-*`` headers say."""

    topic: str
    #: unique per delivery, the same across its retries: the delivery's key
    webhook_id: str
    shop_domain: str
    api_version: str
    #: the underlying event, the same in every subscription to the topic ("" when not sent)
    event_id: str = ""
    #: when the event fired (aware UTC); a retry carries the original payload, so older is staler
    triggered_at: datetime | None = None

    @property
    def store(self) -> StoreRef:
        return shop_store(self.shop_domain)

    @property
    def dedupe_key(self) -> str:
        """The key a re-sent delivery is recognized by: ``X-Shopify-Webhook-Id``."""
        return self.webhook_id

    @property
    def event_key(self) -> str:
        """The key of the event across subscriptions: ``<topic>:<X-Shopify-Event-Id>`` ("" without one)."""
        return f"{self.topic}:{self.event_id}" if self.event_id else ""


def _header(headers: Mapping[str, str], name: str, *, required: bool) -> str:
    lowered = {str(key).lower(): value for key, value in headers.items()}
    short = name.lower().removeprefix("x-")  # Shopify "Events" drop the X- prefix
    value = lowered.get(name.lower(), lowered.get(short))
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(name, "header is required")
        return ""
    if not isinstance(value, str):
        raise _bad(name, f"header must be text, got {_type(value)}")
    return _clean(name, value)


def delivery_meta(headers: Mapping[str, str]) -> DeliveryMeta:
    """The :class:`DeliveryMeta` of a delivery's headers (names in any case, with or without ``X-``).

    Topic, webhook id, shop domain and API version are required, as Shopify's own validator
    has them; the event id and trigger time are optional."""
    topic = _header(headers, "X-Shopify-Topic", required=True)
    if not _TOPIC.match(topic):
        raise _bad("X-Shopify-Topic", f"{_shown(topic)} is not a topic such as orders/paid")
    webhook_id = _header(headers, "X-Shopify-Webhook-Id", required=True)
    if len(webhook_id) > 255:
        raise _bad("X-Shopify-Webhook-Id", "is longer than 255 characters")
    event_id = _header(headers, "X-Shopify-Event-Id", required=False)
    if len(event_id) > 200:
        raise _bad("X-Shopify-Event-Id", "is longer than 200 characters")
    version = _header(headers, "X-Shopify-API-Version", required=True)
    if not _API_VERSION.match(version):
        raise _bad("X-Shopify-API-Version", f"{_shown(version)} is not a version such as 2026-01")
    triggered = _header(headers, "X-Shopify-Triggered-At", required=False)
    return DeliveryMeta(
        topic=topic,
        webhook_id=webhook_id,
        shop_domain=shop_store(_header(headers, "X-Shopify-Shop-Domain", required=True)).external_id,
        api_version=version,
        event_id=event_id,
        triggered_at=parse_time(triggered, "X-Shopify-Triggered-At") if triggered else None,
    )


def shop_store(shop_domain: str) -> StoreRef:
    """The StoreRef of a shop (``{handle}.myshopify.com``, lower-cased); refused if not such a domain."""
    if not isinstance(shop_domain, str) or not SHOP_DOMAIN.match(shop_domain.strip()):
        raise _bad("X-Shopify-Shop-Domain", f"{_shown(shop_domain)} is not a shop domain such as demo.myshopify.com")
    return StoreRef(Platform.SHOPIFY.value, shop_domain.strip().lower())


def is_stale(payload_updated_at: datetime | str | None, held_updated_at: datetime | str | None) -> bool:
    """Whether a delivery's state (its ``updated_at``, or ``X-Shopify-Triggered-At``) is older than
    the state already held. An equal time is not stale (the same state again); an unknown time on
    either side is not stale either (nothing to compare)."""
    if payload_updated_at is None or held_updated_at is None:
        return False
    payload = _as_time(payload_updated_at, "payload_updated_at")
    held = _as_time(held_updated_at, "held_updated_at")
    return payload < held


def _as_time(value: datetime | str, field: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _bad(field, "must be timezone-aware")
        return value
    return parse_time(value, field)


# --- orders -> purchases ------------------------------------------------------------------------

#: ``financial_status`` of an order the core may hold (it was recorded when paid)
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
_KINDS = frozenset(kind.value for kind in ItemKind)
_KIND_WORDS = {"movie": "film", "movies": "film", "merchandise": "merch", "courses": "course"}


def order_purchase(
    topic: str, order: Mapping[str, Any], store: StoreRef, *, kinds: Mapping[str, str] | None = None
) -> PurchaseEvent | None:
    """The purchase of an ``orders/paid`` body, or of an ``orders/create`` one once it is paid
    (None while it is pending or only authorized)."""
    if topic == "orders/create":
        status = _Fields(order).text("financial_status")
        if status != "paid":
            return None
    elif topic != "orders/paid":
        raise UnsupportedTopic("topic", f"{topic!r} is not orders/paid or orders/create")
    return purchase_event(order, store, kinds=kinds)


def purchase_event(
    order: Mapping[str, Any], store: StoreRef, *, kinds: Mapping[str, str] | None = None
) -> PurchaseEvent:
    """The :class:`PurchaseEvent` of a Shopify order (``id`` is the order's external id)."""
    body = _Fields(order)
    currency = body.currency("currency")
    order_id = body.id("id")
    placed = body.require_time("processed_at", "created_at")
    items = body.objects("line_items")
    if not items:
        raise _bad("line_items", "an order needs at least one line item")
    lines = tuple(_purchase_line(line, currency, kinds) for line in items)
    return PurchaseEvent(
        store=store,
        order_id=order_id,
        occurred_at=placed,
        currency=currency,
        customer=_buyer(body, order_id, placed),
        lines=lines,
        total=body.shop_money("total_price", currency),
        updated_at=body.time("updated_at"),
        raw=_order_raw(body, items, currency),
    )


def _purchase_line(line: _Fields, currency: str, kinds: Mapping[str, str] | None) -> PurchaseLine:
    price = line.shop_money("price", currency)
    quantity = line.integer("quantity", minimum=1, maximum=MAX_QUANTITY)
    product_id = line.id("product_id", required=False)
    product_type = line.text("product_type")
    item = _catalog_item(
        line.path,
        _LINE_FIELDS,
        external_id=product_id or f"custom:{line.id('id')}",
        title=line.text("title") or line.text("name"),
        kind=kind_of(product_type, (), kinds),
        price=price,
        currency=currency,
        available=bool(product_id),
        attributes=_vendor_and_type(line.text("vendor"), product_type),
        raw={
            "product_id": product_id,
            "variant_id": line.id("variant_id", required=False),
            "sku": line.text("sku"),
            "variant_title": line.text("variant_title"),
        },
    )
    return PurchaseLine(item=item, quantity=quantity, unit_price=price)


#: CatalogItem fields -> where they come from in a line item and in a product
_LINE_FIELDS = {"external_id": "product_id", "price": "price", "currency": "currency", "attributes": "vendor"}
_PRODUCT_FIELDS = {
    "external_id": "id",
    "description": "body_html",
    "url": "handle",
    "image_url": "images[0].src",
    "price": "variants",
    "attributes": "vendor",
}


def _catalog_item(path: str, names: Mapping[str, str], **fields: Any) -> CatalogItem:
    """A CatalogItem; its validation errors named as the Shopify field under ``path``."""
    try:
        return CatalogItem(**fields)
    except ShopifyPayloadError:
        raise
    except InvalidEvent as err:
        name = err.field.removeprefix("item.")
        head = re.match(r"[a-z_]+", name)
        if head is not None and head.group() in names:
            name = names[head.group()] + name[head.end() :]
        raise _bad(f"{path}.{name}" if path else name, err.message) from None


def _vendor_and_type(vendor: str, product_type: str) -> dict[str, str]:
    return {key: value for key, value in (("vendor", vendor), ("product_type", product_type)) if value}


def kind_of(product_type: str, tags: Sequence[str] = (), kinds: Mapping[str, str] | None = None) -> str:
    """The item kind of a Shopify product: a ``kind:<kind>`` tag, the ``kinds`` mapping (product
    type -> kind, any case), a product type naming a kind (``Film``, ``Courses``), else ``product``."""
    for tag in tags:
        label, _, value = tag.partition(":")
        if label.strip().lower() == "kind" and value.strip().lower() in _KINDS:
            return value.strip().lower()
    wanted = product_type.strip().lower()
    for name, kind in (kinds or {}).items():
        if name.strip().lower() == wanted and wanted:
            return kind
    if wanted in _KINDS:
        return wanted
    if wanted in _KIND_WORDS:
        return _KIND_WORDS[wanted]
    singular = wanted.removesuffix("s")
    return singular if singular in _KINDS else ItemKind.PRODUCT.value


def placeholder_email(*, customer_id: str = "", order_id: str = "") -> str:
    """The never-deliverable address of a customer Shopify sent without an email."""
    if customer_id:
        return f"customer-{customer_id}@{PLACEHOLDER_DOMAIN}"
    return f"order-{order_id}@{PLACEHOLDER_DOMAIN}"


def is_placeholder(email: str) -> bool:
    return email.lower().endswith("@" + PLACEHOLDER_DOMAIN)


def buyer_data(
    *,
    email: str,
    customer_id: str,
    order_id: str,
    consents: tuple[Consent, ...],
    first_name: str = "",
    last_name: str = "",
    locale: str = "",
    phone: str = "",
) -> CustomerData:
    """A Shopify buyer as the core's customer. Without an email (Shopify redacts it for apps
    without protected-data access) the buyer gets :func:`placeholder_email` and loses email
    consent: never emailed, but still recommended to on the shop's pages. Webhook bodies and the
    sync's GraphQL orders both go through here."""
    if not email:
        email = placeholder_email(customer_id=customer_id, order_id=order_id)
        consents = tuple(c for c in consents if c.channel != "email")
    return CustomerData(
        email=email,
        external_id=customer_id,
        first_name=first_name,
        last_name=last_name,
        locale=locale,
        phone=phone,
        consents=consents,
    )


def _buyer(order: _Fields, order_id: str, placed: datetime) -> CustomerData:
    customer = order.obj("customer")
    if customer is None:
        email = order.text("email") or order.text("contact_email")
        return CustomerData(
            email=email or placeholder_email(order_id=order_id),
            locale=order.text("customer_locale"),
            phone=order.text("phone"),
        )
    return buyer_data(
        email=customer.text("email") or order.text("email") or order.text("contact_email"),
        customer_id=customer.id("id", required=False),
        order_id=order_id,
        consents=_consents(customer, placed),
        first_name=customer.text("first_name"),
        last_name=customer.text("last_name"),
        locale=order.text("customer_locale"),
        phone=customer.text("phone") or order.text("phone"),
    )


def _order_raw(order: _Fields, items: list[_Fields], currency: str) -> dict[str, Any]:
    customer = order.obj("customer")
    presentment = order.data.get("presentment_currency")
    return {
        "id": order.id("id"),
        "name": order.text("name"),
        "order_number": order.integer("order_number") if order.has("order_number") else None,
        "financial_status": order.text("financial_status"),
        "test": order.flag("test"),
        "source_name": order.text("source_name"),
        "currency": currency,
        "presentment_currency": order.currency("presentment_currency") if presentment is not None else None,
        "total_price": str(order.shop_money("total_price", currency)),
        "subtotal_price": _optional_money(order, "subtotal_price", currency),
        "total_discounts": _optional_money(order, "total_discounts", currency),
        "total_tax": _optional_money(order, "total_tax", currency),
        "discount_codes": [
            {
                "code": code.text("code"),
                "amount": _optional_money(code, "amount", currency),
                "type": code.text("type"),
            }
            for code in order.objects("discount_codes")
        ],
        "customer_id": customer.id("id", required=False) if customer is not None else "",
        "lines": [_line_raw(line, currency) for line in items],
    }


def _line_raw(line: _Fields, currency: str) -> dict[str, Any]:
    discount = sum(
        (allocation.shop_money("amount", currency) for allocation in line.objects("discount_allocations")),
        Decimal(0),
    )
    return {
        "id": line.id("id", required=False),
        "product_id": line.id("product_id", required=False),
        "variant_id": line.id("variant_id", required=False),
        "sku": line.text("sku"),
        "quantity": line.integer("quantity"),
        "price": str(line.shop_money("price", currency)),
        "discount": str(_quantized(discount, currency)),
    }


def _optional_money(fields: _Fields, key: str, currency: str) -> str | None:
    """An amount kept in ``raw`` (as text), or None when the body has none."""
    if not (fields.has(key) or fields.has(f"{key}_set")):
        return None
    return str(fields.shop_money(key, currency, numbers=True))


def _quantized(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


# --- consent ------------------------------------------------------------------------------------

#: marketing consent ``state`` -> granted; the states missing here say nothing
_CONSENT_STATES = {"subscribed": True, "unsubscribed": False, "not_subscribed": False, "pending": False}
_SILENT_STATES = frozenset({"redacted", "invalid"})


def _consents(customer: _Fields, fallback: datetime) -> tuple[Consent, ...]:
    found = (
        _consent(customer.obj("email_marketing_consent"), "email", fallback),
        _consent(customer.obj("sms_marketing_consent"), "sms", fallback),
    )
    return tuple(consent for consent in found if consent is not None)


def _consent(statement: _Fields | None, channel: str, fallback: datetime) -> Consent | None:
    if statement is None:
        return None
    state = statement.text("state").lower()
    if not state or state in _SILENT_STATES:
        return None
    if state not in _CONSENT_STATES:
        choices = ", ".join([*_CONSENT_STATES, *sorted(_SILENT_STATES)])
        raise _bad(statement.at("state"), f"{state!r} is not one of: {choices}")
    recorded = statement.time("consent_updated_at")
    if recorded is None:
        if state == "not_subscribed":
            return None  # never asked: no statement to record
        recorded = fallback
    level = statement.text("opt_in_level")
    source = f"shopify {level}" if level else "shopify"
    if len(source) > 100:
        raise _bad(statement.at("opt_in_level"), "is longer than 92 characters")
    return Consent(channel=channel, granted=_CONSENT_STATES[state], source=source, recorded_at=recorded)


def consent_event(customer: Mapping[str, Any], store: StoreRef) -> ConsentEvent | None:
    """The consents a ``customers/create`` or ``customers/update`` body states (None if none).

    A customer without an email (redacted) is named by its placeholder address and only its SMS
    consent is kept, as for orders."""
    body = _Fields(customer)
    customer_id = body.id("id")
    updated = body.require_time("updated_at", "created_at")
    consents = _consents(body, updated)
    email = body.text("email")
    if not email:
        consents = tuple(c for c in consents if c.channel != "email")
    if not consents:
        return None
    data = CustomerData(
        email=email or placeholder_email(customer_id=customer_id),
        external_id=customer_id,
        first_name=body.text("first_name"),
        last_name=body.text("last_name"),
        phone=body.text("phone"),
        consents=consents,
    )
    try:
        return ConsentEvent(
            store=store,
            customer=data,
            occurred_at=updated,
            raw={"customer_id": customer_id, "consents": [_consent_raw(c) for c in consents]},
        )
    except InvalidEvent as err:
        raise _bad(err.field.removeprefix("customer."), err.message) from None


def _consent_raw(consent: Consent) -> dict[str, Any]:
    return {
        "channel": consent.channel,
        "granted": consent.granted,
        "source": consent.source,
        "recorded_at": consent.recorded_at.isoformat(),
    }


# --- refunds and cancellations ------------------------------------------------------------------

#: refund transactions whose money is (being) returned
_REFUND_TRANSACTIONS = frozenset({"success", "pending"})


def refund_event(refund: Mapping[str, Any], store: StoreRef, *, shop_currency: str) -> RefundEvent:
    """The :class:`RefundEvent` of a ``refunds/create`` body, in the shop's currency."""
    if not is_currency(shop_currency):
        raise _bad("shop_currency", f"{_shown(shop_currency)} is not an ISO 4217 currency code such as 'USD'")
    body = _Fields(refund)
    refund_id = body.id("id")
    order_id = body.id("order_id")
    lines = body.objects("refund_line_items")
    transactions = [t for t in body.objects("transactions") if _returns_money(t)]
    return RefundEvent(
        store=store,
        order_id=order_id,
        refund_id=refund_id,
        amount=_refunded(transactions, lines, shop_currency),
        currency=shop_currency,
        occurred_at=body.require_time("processed_at", "created_at"),
        reason=body.text("note", multiline=True)[:500],
        raw={
            "id": refund_id,
            "order_id": order_id,
            "restock": body.flag("restock"),
            "line_items": [_refund_line_raw(line, shop_currency) for line in lines],
            "transactions": [
                {
                    "id": t.id("id", required=False),
                    "status": t.text("status"),
                    "amount": t.text("amount") if isinstance(t.data.get("amount"), str) else None,
                    "currency": t.text("currency"),
                }
                for t in transactions
            ],
        },
    )


def _returns_money(transaction: _Fields) -> bool:
    return transaction.text("kind") == "refund" and transaction.text("status") in _REFUND_TRANSACTIONS


def _refunded(transactions: list[_Fields], lines: list[_Fields], currency: str) -> Decimal:
    in_shop = Decimal(0)
    foreign = Decimal(0)
    for transaction in transactions:
        paid_in = transaction.currency("currency") if transaction.has("currency") else currency
        amount = transaction.money("amount", paid_in)
        if paid_in == currency:
            in_shop += amount
        else:
            foreign += amount
    if foreign:
        in_shop += _quantized(foreign * _shop_rate(lines, currency, transactions), currency)
    return _quantized(in_shop, currency)


def _shop_rate(lines: list[_Fields], currency: str, transactions: list[_Fields]) -> Decimal:
    """Shop money per unit of presentment money, from the refund's own line items."""
    shop = presentment = Decimal(0)
    for line in lines:
        money_set = line.obj("subtotal_set")
        if money_set is None or not (money_set.has("shop_money") and money_set.has("presentment_money")):
            continue
        shop += money_set.require_obj("shop_money").money("amount", currency)
        paid = money_set.require_obj("presentment_money")
        presentment += paid.money("amount", paid.currency("currency_code"))
    if not presentment:
        where = transactions[0].at("currency") if transactions else "transactions"
        raise _bad(
            where,
            f"is not the shop's currency ({currency}) and the refund has no line item priced in both "
            "currencies to convert it with",
        )
    return shop / presentment


def _refund_line_raw(line: _Fields, currency: str) -> dict[str, Any]:
    item = line.obj("line_item")
    return {
        "line_item_id": line.id("line_item_id", required=False),
        "product_id": item.id("product_id", required=False) if item is not None else "",
        "variant_id": item.id("variant_id", required=False) if item is not None else "",
        "quantity": line.integer("quantity"),
        "subtotal": _optional_money(line, "subtotal", currency),
        "total_tax": _optional_money(line, "total_tax", currency),
    }


def cancel_event(order: Mapping[str, Any], store: StoreRef) -> CancelEvent | None:
    """The :class:`CancelEvent` of an ``orders/cancelled`` body; None for an order that was never
    paid (pending, authorized then voided...): the core never recorded it."""
    body = _Fields(order)
    order_id = body.id("id")
    status = body.text("financial_status")
    if status and status not in _PAID_STATUSES:
        return None
    return CancelEvent(
        store=store,
        order_id=order_id,
        occurred_at=body.require_time("cancelled_at", "updated_at"),
        reason=body.text("cancel_reason")[:500],
        raw={"id": order_id, "name": body.text("name"), "financial_status": status},
    )


# --- catalog --------------------------------------------------------------------------------------

#: product ``status`` -> available (an unlisted product is hidden from browsing: not recommended)
_STATUSES = {"active": True, "draft": False, "archived": False, "unlisted": False}


def collection_tag(handle: str) -> str:
    """The item tag recording membership of the collection ``handle``."""
    return f"collection:{handle}"


def catalog_item(
    product: Mapping[str, Any],
    *,
    currency: str,
    base_url: str,
    collections: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> CatalogItem:
    """The :class:`CatalogItem` of a Shopify product (a ``products/create|update`` body).

    ``currency`` is the shop's (variant prices are in it); the price is the lowest variant's.
    ``base_url`` is the storefront (``https://shop.example.com``): the item's URL is
    ``<base_url>/products/<handle>``. ``collections`` are the handles of the product's
    collections, recorded as ``collection:<handle>`` tags."""
    if not is_currency(currency):
        raise _bad("currency", f"{_shown(currency)} is not an ISO 4217 currency code such as 'USD'")
    base = _base_url(base_url)
    body = _Fields(product)
    variants = body.objects("variants")
    if not variants:
        raise _bad("variants", "a product needs at least one variant with a price")
    prices = [variant.money("price", currency) for variant in variants]
    tags = [*product_tags(body), *(collection_tag(handle) for handle in collections)]
    product_type = body.text("product_type")
    handle = body.text("handle")
    return _catalog_item(
        "",
        _PRODUCT_FIELDS,
        external_id=body.id("id"),
        title=body.text("title"),
        kind=kind_of(product_type, tags, kinds),
        price=min(prices),
        currency=currency,
        description=plain_text(body.data.get("body_html"), "body_html"),
        url=f"{base}/products/{quote(handle, safe='')}" if handle else "",
        image_url=_first_image(body),
        tags=tuple(tags),
        available=_available(body, variants),
        attributes=_vendor_and_type(body.text("vendor"), product_type),
        raw={
            "handle": handle,
            "status": body.text("status"),
            "updated_at": _iso(body.time("updated_at")),
            "variant_ids": [variant.id("id", required=False) for variant in variants],
        },
    )


def _base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not re.match(r"^https?://[^/\s]+", base_url.strip()):
        raise _bad("base_url", f"{_shown(base_url)} is not a storefront URL such as https://shop.example.com")
    return base_url.strip().rstrip("/")


def product_tags(product: _Fields | Mapping[str, Any]) -> list[str]:
    """A product's ``tags``: a comma-separated string (as webhooks send it) or a list."""
    body = product if isinstance(product, _Fields) else _Fields(product)
    value = body.data.get("tags")
    if isinstance(value, list):
        parts = [_tag(body.at(f"tags[{i}]"), tag) for i, tag in enumerate(value)]
    else:
        parts = body.text("tags").split(",")
    kept: dict[str, str] = {}  # Shopify's tags ignore case: the first spelling is kept
    for part in parts:
        if part.strip():
            kept.setdefault(part.strip().lower(), part.strip())
    return list(kept.values())


def _tag(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, f"must be text, got {_type(value)}")
    return _clean(path, value)


def _available(product: _Fields, variants: list[_Fields]) -> bool:
    status = product.text("status").lower() or "active"
    if status not in _STATUSES:
        raise _bad("status", f"{status!r} is not one of: {', '.join(_STATUSES)}")
    return _STATUSES[status] and any(_sellable(variant) for variant in variants)


def _sellable(variant: _Fields) -> bool:
    """False for a variant Shopify tracks, does not sell out of stock, and has none of."""
    if variant.text("inventory_management") != "shopify" or variant.text("inventory_policy") != "deny":
        return True
    quantity = variant.data.get("inventory_quantity")
    if quantity is None:
        return True
    return variant.integer("inventory_quantity") > 0


def _first_image(product: _Fields) -> str:
    for image in product.objects("images"):
        src = image.text("src")
        if src:
            return src
    featured = product.obj("image")
    return featured.text("src") if featured is not None else ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _PlainText(HTMLParser):
    _BLOCKS = frozenset(
        "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote section article header footer pre hr".split()
    )
    _HIDDEN = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def plain_text(html: Any, field: str = "body_html") -> str:
    """``body_html`` as plain text: tags dropped (blocks become line breaks), entities decoded,
    blank runs collapsed, control characters removed, cut to the core's limit."""
    if html is None:
        return ""
    if not isinstance(html, str):
        raise _bad(field, f"must be text, got {_type(html)}")
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cs") or c == "\n")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)[:_MAX_DESCRIPTION].strip()


def product_change(
    topic: str,
    product: Mapping[str, Any],
    store: StoreRef,
    *,
    currency: str,
    occurred_at: datetime,
    base_url: str = "",
    collections: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> CatalogChangeEvent:
    """The :class:`CatalogChangeEvent` of a ``products/*`` body. A deleted product (its body is
    only its ``id``) is taken off sale. ``occurred_at`` (the delivery's trigger time) is used
    when the body has no ``updated_at``; ``base_url`` defaults to ``https://<shop domain>``."""
    body = _Fields(product)
    when = body.time("updated_at") or _aware_arg(occurred_at)
    if topic == "products/delete":
        return CatalogChangeEvent(store=store, occurred_at=when, removed_external_id=body.id("id"))
    if topic not in ("products/create", "products/update"):
        raise UnsupportedTopic("topic", f"{topic!r} is not a products/ topic")
    item = catalog_item(
        product,
        currency=currency,
        base_url=base_url or f"https://{store.external_id}",
        collections=collections,
        kinds=kinds,
    )
    return CatalogChangeEvent(store=store, occurred_at=when, item=item)


def _aware_arg(value: Any, field: str = "occurred_at") -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise _bad(field, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class CollectionChange:
    """A collection created, changed or deleted. The body does not list the collection's products:
    re-read them (Admin API) and record each one's ``collection:<handle>`` tag (:attr:`tag`). A
    deleted collection's body has only its id, so ``handle`` is blank then."""

    store: StoreRef
    collection_id: str
    occurred_at: datetime
    handle: str = ""
    title: str = ""
    deleted: bool = False

    @property
    def tag(self) -> str:
        return collection_tag(self.handle) if self.handle else ""


def collection_change(
    topic: str, collection: Mapping[str, Any], store: StoreRef, *, occurred_at: datetime
) -> CollectionChange:
    """The :class:`CollectionChange` of a ``collections/create|update|delete`` body."""
    if topic not in ("collections/create", "collections/update", "collections/delete"):
        raise UnsupportedTopic("topic", f"{topic!r} is not a collections/ topic")
    body = _Fields(collection)
    deleted = topic == "collections/delete"
    handle = "" if deleted else body.text("handle")
    if not deleted and not handle:
        raise _bad("handle", "is required")
    if len(handle) > 200 - len(collection_tag("")):
        raise _bad("handle", "is too long for a tag")
    return CollectionChange(
        store=store,
        collection_id=body.id("id"),
        occurred_at=body.time("updated_at") or _aware_arg(occurred_at),
        handle=handle,
        title=body.text("title")[:500],
        deleted=deleted,
    )


# --- privacy and the app's lifecycle --------------------------------------------------------------


def _same_shop(body: _Fields, store: StoreRef, key: str = "shop_domain") -> str:
    """The body's ``shop_id``, after checking that its shop domain is ``store``'s."""
    domain = body.text(key).lower()
    if domain and domain != store.external_id:
        raise _bad(key, f"is {domain!r}, but the delivery is for {store.external_id!r}")
    return body.id("shop_id", required=False)


def redact_event(payload: Mapping[str, Any], store: StoreRef, *, occurred_at: datetime) -> CustomerRedactEvent:
    """The :class:`CustomerRedactEvent` of a ``customers/redact`` body. The core finds the customer
    by email or by external id (the Shopify customer id); without an email, the placeholder
    address of that id is given (the one its redacted orders were recorded with)."""
    body = _Fields(payload)
    _same_shop(body, store)
    customer = body.require_obj("customer")
    customer_id = customer.id("id", required=False)
    email = customer.text("email")
    if not (email or customer_id):
        raise _bad("customer", "names neither an email nor an id")
    return CustomerRedactEvent(
        store=store,
        email=email or placeholder_email(customer_id=customer_id),
        occurred_at=_aware_arg(occurred_at),
        external_id=customer_id,
        raw={
            "customer_id": customer_id,
            "orders_to_redact": _id_list(body, "orders_to_redact"),
        },
    )


def _id_list(body: _Fields, key: str) -> list[str]:
    value = body.data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(body.at(key), f"must be a list, got {_type(value)}")
    return [_shopify_id(body.at(f"{key}[{i}]"), entry) for i, entry in enumerate(value)]


@dataclass(frozen=True)
class CustomerDataRequest:
    """``customers/data_request``: compile what is held on this customer for the merchant."""

    store: StoreRef
    request_id: str
    received_at: datetime
    shop_id: str = ""
    customer_id: str = ""
    email: str = ""
    phone: str = ""
    order_ids: tuple[str, ...] = ()


def data_request(payload: Mapping[str, Any], store: StoreRef, *, received_at: datetime) -> CustomerDataRequest:
    """The :class:`CustomerDataRequest` of a ``customers/data_request`` body."""
    body = _Fields(payload)
    shop_id = _same_shop(body, store)
    customer = body.require_obj("customer")
    email = customer.text("email").lower()
    customer_id = customer.id("id", required=False)
    if not (email or customer_id):
        raise _bad("customer", "names neither an email nor an id")
    return CustomerDataRequest(
        store=store,
        request_id=body.require_obj("data_request").id("id"),
        received_at=_aware_arg(received_at, "received_at"),
        shop_id=shop_id,
        customer_id=customer_id,
        email=email,
        phone=customer.text("phone"),
        order_ids=tuple(_id_list(body, "orders_requested")),
    )


@dataclass(frozen=True)
class ShopRedactRequest:
    """``shop/redact`` (48 hours after the app was uninstalled): delete everything of the shop."""

    store: StoreRef
    received_at: datetime
    shop_id: str = ""


def shop_redact(payload: Mapping[str, Any], store: StoreRef, *, received_at: datetime) -> ShopRedactRequest:
    """The :class:`ShopRedactRequest` of a ``shop/redact`` body."""
    body = _Fields(payload)
    return ShopRedactRequest(
        store=store, received_at=_aware_arg(received_at, "received_at"), shop_id=_same_shop(body, store)
    )


@dataclass(frozen=True)
class AppUninstalled:
    """``app/uninstalled``: the token no longer works; stop the shop's work now (the data purge
    waits for ``shop/redact``)."""

    store: StoreRef
    received_at: datetime
    shop_id: str = ""
    shop_name: str = ""


def app_uninstalled(payload: Mapping[str, Any], store: StoreRef, *, received_at: datetime) -> AppUninstalled:
    """The :class:`AppUninstalled` of an ``app/uninstalled`` body (the shop resource)."""
    body = _Fields(payload)
    domain = body.text("myshopify_domain").lower()
    if domain and domain != store.external_id:
        raise _bad("myshopify_domain", f"is {domain!r}, but the delivery is for {store.external_id!r}")
    return AppUninstalled(
        store=store,
        received_at=_aware_arg(received_at, "received_at"),
        shop_id=body.id("id", required=False),
        shop_name=body.text("name")[:255],
    )


# --- every topic ----------------------------------------------------------------------------------

Parsed = (
    PurchaseEvent
    | RefundEvent
    | CancelEvent
    | CatalogChangeEvent
    | ConsentEvent
    | CustomerRedactEvent
    | CollectionChange
    | CustomerDataRequest
    | ShopRedactRequest
    | AppUninstalled
)

#: every topic :func:`parse` reads
TOPICS = frozenset(
    {
        "orders/paid",
        "orders/create",
        "orders/cancelled",
        "refunds/create",
        "products/create",
        "products/update",
        "products/delete",
        "collections/create",
        "collections/update",
        "collections/delete",
        "customers/create",
        "customers/update",
        "customers/redact",
        "customers/data_request",
        "shop/redact",
        "app/uninstalled",
    }
)


def parse(
    topic: str,
    payload: Mapping[str, Any],
    store: StoreRef,
    *,
    shop_currency: str,
    received_at: datetime,
    base_url: str = "",
    collections: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
) -> list[Parsed]:
    """What a delivery of ``topic`` says: no, one or (never more than) one event or request.

    ``received_at`` is when the event happened (``X-Shopify-Triggered-At``, else when it was
    received), for bodies without a time of their own."""
    if topic in ("orders/paid", "orders/create"):
        found: Parsed | None = order_purchase(topic, payload, store, kinds=kinds)
    elif topic == "orders/cancelled":
        found = cancel_event(payload, store)
    elif topic == "refunds/create":
        found = refund_event(payload, store, shop_currency=shop_currency)
    elif topic.startswith("products/"):
        found = product_change(
            topic,
            payload,
            store,
            currency=shop_currency,
            occurred_at=received_at,
            base_url=base_url,
            collections=collections,
            kinds=kinds,
        )
    elif topic.startswith("collections/"):
        found = collection_change(topic, payload, store, occurred_at=received_at)
    elif topic in ("customers/create", "customers/update"):
        found = consent_event(payload, store)
    elif topic == "customers/redact":
        found = redact_event(payload, store, occurred_at=received_at)
    elif topic == "customers/data_request":
        found = data_request(payload, store, received_at=received_at)
    elif topic == "shop/redact":
        found = shop_redact(payload, store, received_at=received_at)
    elif topic == "app/uninstalled":
        found = app_uninstalled(payload, store, received_at=received_at)
    else:
        raise UnsupportedTopic("X-Shopify-Topic", f"{topic!r} is not one of: {', '.join(sorted(TOPICS))}")
    return [] if found is None else [found]
