"""Cross-sell offers as Shopify discount codes: single-use, for one customer, expiring; and the codes
an order used, read back from its payload.

The code is derived from (shop, offer key) with an HMAC keyed by the site's ``SECRET_KEY`` (or the
``secret`` passed), so it is the same on every retry and cannot be guessed from the offer key.
:func:`create_offer_code` first looks the code up (``codeDiscountNodeByCode``) and creates the
discount only if it is absent, so a retried task never creates a second one. Its title always
contains the code: a discount found under our code whose title does not is someone else's, and
:class:`OfferCodeTaken` is raised instead of handing it out.

The discount applies once per customer, at most once in all (``usageLimit: 1``), from ``starts_at``
to ``ends_at`` (aware datetimes, sent in UTC), to the one customer when their id is known
(``context`` from API version 2025-10, ``customerSelection`` before), to the whole order unless
products or variants are named. Money is a ``Decimal`` in the shop's currency: Shopify's fixed
amounts carry no currency of their own, so a :class:`FixedAmount` in another one is refused.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils.crypto import salted_hmac

from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.money import is_currency, parse_amount

from .client import ShopifyAPIError, ShopifyClient, ShopifyUserError

#: the start of every code crosssell creates (letters and digits, up to 10)
CODE_PREFIX = "XS"
#: base32 characters after the prefix (60 bits of the HMAC)
CODE_LENGTH = 12
DEFAULT_TITLE = "Crosssell offer"
#: the first API version whose DiscountCodeBasicInput takes ``context``
CONTEXT_SINCE = "2025-10"
_CUSTOMER_GID = re.compile(r"^gid://shopify/Customer/\d+$")
_PRODUCT_GID = re.compile(r"^gid://shopify/Product/\d+$")
_VARIANT_GID = re.compile(r"^gid://shopify/ProductVariant/\d+$")
_PREFIX = re.compile(r"^[A-Z0-9]{1,10}$")

FIND_CODE = """
query CrosssellOfferCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      __typename
      ... on DiscountCodeBasic { title status startsAt endsAt usageLimit appliesOncePerCustomer }
    }
  }
}"""
CREATE_CODE = """
mutation CrosssellOfferCodeCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode {
      id
      codeDiscount { __typename ... on DiscountCodeBasic { title status startsAt endsAt } }
    }
    userErrors { field code message }
  }
}"""
SHOP_CURRENCY = "query CrosssellShopCurrency { shop { currencyCode } }"


class OfferCodeTaken(ShopifyAPIError):
    """The shop already has a discount under this code, and it is not one crosssell created."""

    def __init__(self, code: str, discount_id: str, *, shop: str) -> None:
        self.code = code
        self.discount_id = discount_id
        super().__init__(
            f"{shop} already has a discount {discount_id} with the code {code} that crosssell did not create "
            "(its title lacks the code); use another offer key or prefix",
            shop=shop,
        )


@dataclass(frozen=True)
class Percentage:
    """A percentage off: ``Percentage(Decimal("15"))`` is 15 % (more than 0, at most 100)."""

    percent: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.percent, bool | float) or not isinstance(self.percent, Decimal | int):
            raise ValueError(f"percent must be a Decimal such as Decimal('15'), not {self.percent!r}")
        if not Decimal(self.percent).is_finite() or not Decimal(0) < Decimal(self.percent) <= Decimal(100):
            raise ValueError(f"percent must be more than 0 and at most 100, not {self.percent}")

    def as_input(self) -> dict[str, Any]:
        # Shopify's percentage is a Float from 0 to 1
        return {"percentage": float(Decimal(self.percent) / 100)}


@dataclass(frozen=True)
class FixedAmount:
    """An amount off the order, in ``currency`` (which must be the shop's)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not is_currency(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code such as 'EUR', not {self.currency!r}")
        if parse_amount(self.amount, self.currency) <= 0:
            raise ValueError(f"amount must be more than 0, not {self.amount}")

    def as_input(self) -> dict[str, Any]:
        amount = parse_amount(self.amount, self.currency)
        return {"discountAmount": {"amount": str(amount), "appliesOnEachItem": False}}


@dataclass(frozen=True)
class OfferCode:
    """A discount code on the shop. ``created`` is False when an earlier call had created it;
    ``status`` is Shopify's (``ACTIVE``, ``SCHEDULED``, ``EXPIRED``), when it said."""

    code: str
    discount_id: str
    title: str
    created: bool
    status: str | None = None


def offer_code_for(shop_domain: str, offer_key: str, *, prefix: str = CODE_PREFIX, secret: str | None = None) -> str:
    """The code of ``offer_key`` on ``shop_domain``, e.g. ``XS-7KQ2M9ZD4HPA`` (same inputs, same code)."""
    if not isinstance(offer_key, str) or not offer_key.strip():
        raise ValueError("offer_key must be a non-empty string, e.g. 'order-1001-step-2'")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ValueError(f"prefix must be 1 to 10 capital letters or digits, not {prefix!r}")
    mac = salted_hmac("crosssell.shopify.offer_code", f"{shop_domain.lower()}\n{offer_key}", secret=secret)
    return f"{prefix}-{base64.b32encode(mac.digest()).decode()[:CODE_LENGTH]}"


def create_offer_code(
    client: ShopifyClient,
    offer_key: str,
    value: Percentage | FixedAmount,
    *,
    starts_at: datetime,
    ends_at: datetime,
    customer_id: int | str | None = None,
    shop_currency: str | None = None,
    title: str = DEFAULT_TITLE,
    product_ids: Sequence[str] = (),
    variant_ids: Sequence[str] = (),
    prefix: str = CODE_PREFIX,
    secret: str | None = None,
) -> OfferCode:
    """The offer's discount code on the client's shop: found if an earlier call created it, else created.

    ``customer_id`` is a Customer GID or numeric id (omit it for a guest: anyone holding the code
    may then use it, once). Bad input raises ``ValueError`` before anything is sent; ``userErrors``
    raise :class:`~integrations.shopify.client.ShopifyUserError` naming each field and message.
    """
    if not isinstance(value, Percentage | FixedAmount):
        raise TypeError("value must be a Percentage or a FixedAmount")
    code = offer_code_for(client.shop_domain, offer_key, prefix=prefix, secret=secret)
    full_title = _title(title, code)
    discount = _discount_input(
        client, code, full_title, value, starts_at, ends_at, customer_id, product_ids, variant_ids
    )
    if isinstance(value, FixedAmount):
        _check_currency(client, value, shop_currency)
    existing = _existing(client, code)
    if existing is not None:
        return existing
    if _utc(ends_at, "ends_at") <= datetime.now(UTC):
        raise ValueError(f"ends_at {ends_at.isoformat()} has passed: the code would be expired on creation")
    return _create(client, code, discount)


def find_offer_code(client: ShopifyClient, code: str) -> dict[str, Any] | None:
    """The shop's discount node for ``code`` (``codeDiscountNodeByCode``), or None."""
    node = client.execute(FIND_CODE, {"code": code}).get("codeDiscountNodeByCode")
    return node if isinstance(node, dict) else None


def redeemed_offer_codes(order: Mapping[str, Any], *, prefix: str = CODE_PREFIX) -> list[str]:
    """The crosssell codes an order used, upper-cased, each once, in the order's order.

    Reads a webhook order's ``discount_codes: [{code, amount, type}]`` and a GraphQL order's
    ``discountCodes`` (list of strings) and ``discountCode``; other codes are left out.
    """
    if not isinstance(order, Mapping):
        raise InvalidEvent("order", f"must be a JSON object, not {type(order).__name__}")
    ours = re.compile(rf"^{re.escape(prefix)}-[A-Z2-7]{{{CODE_LENGTH}}}$")
    found: list[str] = []
    for code in _order_codes(order):
        normalized = code.strip().upper()
        if ours.match(normalized) and normalized not in found:
            found.append(normalized)
    return found


def _order_codes(order: Mapping[str, Any]) -> Iterator[str]:
    for field, key in (("discount_codes", "code"), ("discountCodes", None)):
        entries = order.get(field)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise InvalidEvent(field, f"must be a list, not {type(entries).__name__}")
        for index, entry in enumerate(entries):
            code = entry.get(key) if key and isinstance(entry, Mapping) else entry
            if not isinstance(code, str):
                raise InvalidEvent(f"{field}[{index}]" + (f".{key}" if key else ""), "must be a discount code string")
            yield code
    single = order.get("discountCode")
    if single is not None:
        if not isinstance(single, str):
            raise InvalidEvent("discountCode", "must be a discount code string")
        yield single


def _title(title: str, code: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValueError("title must be a non-empty string")
    return title if code in title else f"{title.strip()} {code}"


def _discount_input(
    client: ShopifyClient,
    code: str,
    title: str,
    value: Percentage | FixedAmount,
    starts_at: datetime,
    ends_at: datetime,
    customer_id: int | str | None,
    product_ids: Sequence[str],
    variant_ids: Sequence[str],
) -> dict[str, Any]:
    start, end = _utc(starts_at, "starts_at"), _utc(ends_at, "ends_at")
    if end <= start:
        raise ValueError(f"ends_at ({end.isoformat()}) must be after starts_at ({start.isoformat()})")
    customer = _customer_gid(customer_id)
    if customer is None:
        buyers: dict[str, Any] = {"all": "ALL"} if _has_context(client) else {"all": True}
    else:
        buyers = {"customers": {"add": [customer]}}
    return {
        "title": title,
        "code": code,
        "startsAt": _iso(start),
        "endsAt": _iso(end),
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "customerGets": {"value": value.as_input(), "items": _items(product_ids, variant_ids)},
        ("context" if _has_context(client) else "customerSelection"): buyers,
    }


def _items(product_ids: Sequence[str], variant_ids: Sequence[str]) -> dict[str, Any]:
    for name, ids, kind, pattern in (
        ("product_ids", product_ids, "Product", _PRODUCT_GID),
        ("variant_ids", variant_ids, "ProductVariant", _VARIANT_GID),
    ):
        if isinstance(ids, str) or any(not isinstance(i, str) or not pattern.match(i) for i in ids):
            raise ValueError(f"{name} must be a list of gid://shopify/{kind}/<id> GIDs, not {ids!r}")
    if not product_ids and not variant_ids:
        return {"all": True}
    return {"products": {"productsToAdd": list(product_ids), "productVariantsToAdd": list(variant_ids)}}


def _customer_gid(customer_id: int | str | None) -> str | None:
    if customer_id is None:
        return None
    if isinstance(customer_id, int) and not isinstance(customer_id, bool) and customer_id > 0:
        return f"gid://shopify/Customer/{customer_id}"
    if isinstance(customer_id, str) and customer_id.isdigit():
        return f"gid://shopify/Customer/{customer_id}"
    if isinstance(customer_id, str) and _CUSTOMER_GID.match(customer_id):
        return customer_id
    raise ValueError(f"customer_id must be a gid://shopify/Customer/<id> or a numeric id, not {customer_id!r}")


def _has_context(client: ShopifyClient) -> bool:
    return client.api_version == "unstable" or client.api_version >= CONTEXT_SINCE


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=UTC)), not {moment.isoformat()}")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_currency(client: ShopifyClient, value: FixedAmount, shop_currency: str | None) -> None:
    if shop_currency is None:
        shop = client.execute(SHOP_CURRENCY).get("shop") or {}
        shop_currency = shop.get("currencyCode")
    if value.currency != shop_currency:
        raise ValueError(
            f"{client.shop_domain} sells in {shop_currency}: a fixed amount in {value.currency} cannot be "
            "offered (Shopify takes discount amounts in the shop's currency)"
        )


def _existing(client: ShopifyClient, code: str) -> OfferCode | None:
    node = find_offer_code(client, code)
    if node is None:
        return None
    discount = node.get("codeDiscount") or {}
    title = discount.get("title")
    if not isinstance(title, str) or code not in title:
        raise OfferCodeTaken(code, str(node.get("id")), shop=client.shop_domain)
    return OfferCode(code=code, discount_id=str(node["id"]), title=title, created=False, status=discount.get("status"))


def _create(client: ShopifyClient, code: str, discount: dict[str, Any]) -> OfferCode:
    payload = client.execute(CREATE_CODE, {"basicCodeDiscount": discount}).get("discountCodeBasicCreate") or {}
    errors = payload.get("userErrors") or []
    if errors:
        if any(error.get("code") == "TAKEN" for error in errors):
            # created meanwhile, by a concurrent call or by a try whose answer was lost: ours if titled so
            existing = _existing(client, code)
            if existing is not None:
                return existing
        raise ShopifyUserError("discountCodeBasicCreate", errors, shop=client.shop_domain)
    node = payload.get("codeDiscountNode")
    if not isinstance(node, Mapping) or "id" not in node:
        raise ShopifyAPIError(f"discountCodeBasicCreate returned no discount for {code}", shop=client.shop_domain)
    status = (node.get("codeDiscount") or {}).get("status")
    return OfferCode(code=code, discount_id=str(node["id"]), title=discount["title"], created=True, status=status)
