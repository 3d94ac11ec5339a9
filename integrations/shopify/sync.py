"""Reading a shop's catalogue and past orders with the GraphQL Admin API, as the core's events.

:func:`iter_catalog` yields one :class:`CatalogItem` per product and :func:`iter_orders` one
:class:`PurchaseEvent` per paid order (or :class:`Unreadable` for an order that cannot be one);
the adapter's ``iter_catalog`` / ``iter_orders`` hand them to ``manage.py crosssell_sync`` and the
Celery tasks of :mod:`integrations.shopify.tasks`, which record them.

* **Products** are read page by page (``products(first:, after:)``). A first full import of a
  shop with more than :data:`BULK_THRESHOLD` products (``productsCount``) runs one bulk
  operation instead and reads its JSONL result; both give the same items.
* **The shop's details** (``shop { currencyCode ianaTimezone name primaryDomain }``) are read
  once per run: prices are in the shop's currency, item URLs use its primary domain, and a
  Store still holding the defaults of its install (``DEFAULT_CURRENCY``, UTC, the shop's handle)
  takes the shop's currency, time zone and name.
* **Orders**: the paid ones (``financial_status`` paid, partially refunded or refunded), oldest
  change first (``sortKey: UPDATED_AT``), filtered with ``updated_at:>=`` from ``since``.
  Without the ``read_all_orders`` scope Shopify shows only the last 60 days of orders, so
  ``since`` is moved to 60 days ago and the log says so.
* The mapping follows :mod:`.payloads` (the webhook bodies): items are products, money is in the
  shop's currency, a customer without an email gets the never-deliverable placeholder address and
  no email consent, consent comes from the customer's marketing consent fields.
* **State**: a catalogue or order read that ran to its end records its start time
  (:mod:`.sync_state`); :func:`orders_since` gives the start of the next incremental read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.utils import timezone

from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import Unreadable

from . import conf
from .auth import access_token
from .client import ShopifyClient
from .models import ShopifyShop
from .payloads import (
    _amount,
    _consent,
    _Fields,
    buyer_data,
    collection_tag,
    kind_of,
    placeholder_email,
    plain_text,
    product_tags,
    shop_store,
)
from .sync_state import last_synced, mark_synced

logger = logging.getLogger(__name__)

#: a first full import of more products than this runs as one bulk operation
BULK_THRESHOLD = 2000
#: Shopify shows orders of the last this many days without the ``read_all_orders`` scope
READ_ORDERS_DAYS = 60
#: an incremental order read starts this long before the last one started (clock skew, slow writes)
OVERLAP = timedelta(minutes=5)
#: a progress line is logged every this many records
LOG_EVERY = 1000
PRODUCTS_PER_PAGE = 25
ORDERS_PER_PAGE = 25
#: financial statuses of orders that were paid (a refund does not undo the purchase's record)
PAID = frozenset({"PAID", "PARTIALLY_REFUNDED", "REFUNDED"})

SHOP_QUERY = """
query CrosssellSyncShop {
  shop { name currencyCode ianaTimezone primaryDomain { url } }
}
"""

PRODUCTS_COUNT_QUERY = """
query CrosssellSyncProductsCount {
  productsCount(limit: null) { count }
}
"""

_PRODUCT_FIELDS = """
id title handle productType vendor tags status descriptionHtml updatedAt
priceRangeV2 { minVariantPrice { amount currencyCode } }
featuredMedia { preview { image { url } } }
"""

PRODUCTS_QUERY = f"""
query CrosssellSyncProducts($first: Int!, $after: String) {{
  products(first: $first, after: $after, sortKey: ID) {{
    nodes {{
      {_PRODUCT_FIELDS}
      collections(first: 20) {{ nodes {{ handle }} }}
      variants(first: 20) {{ nodes {{ id availableForSale }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""

BULK_PRODUCTS_QUERY = f"""
{{
  products {{
    edges {{
      node {{
        {_PRODUCT_FIELDS}
        collections {{ edges {{ node {{ id handle }} }} }}
        variants {{ edges {{ node {{ id availableForSale }} }} }}
      }}
    }}
  }}
}}
"""

_MONEY = "shopMoney { amount currencyCode }"
_CONSENT = "marketingState marketingOptInLevel consentUpdatedAt"

ORDERS_QUERY = f"""
query CrosssellSyncOrders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{
      id name email phone test createdAt processedAt updatedAt currencyCode
      displayFinancialStatus customerLocale
      totalPriceSet {{ {_MONEY} }}
      customer {{
        id email firstName lastName phone
        emailMarketingConsent {{ {_CONSENT} }}
        smsMarketingConsent {{ {_CONSENT} }}
      }}
      lineItems(first: 100) {{
        nodes {{
          id title name quantity sku variantTitle vendor
          product {{ id productType }}
          variant {{ id }}
          originalUnitPriceSet {{ {_MONEY} }}
        }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""


class ShopDetails:
    """What a run reads of the shop once: its currency and storefront URL."""

    def __init__(self, currency: str, base_url: str) -> None:
        self.currency = currency
        self.base_url = base_url


def client_for(shop: ShopifyShop) -> ShopifyClient:
    """A GraphQL client of ``shop`` whose token is read (and refreshed) per request."""
    return ShopifyClient(shop.domain, lambda: access_token(shop), shop.api_version or conf.options()["API_VERSION"])


def gid_number(gid: Any, field: str) -> str:
    """The number of a global id (``gid://shopify/Product/8011001`` -> ``8011001``)."""
    if not isinstance(gid, str) or not gid.startswith("gid://shopify/"):
        raise InvalidEvent(field, f"{gid!r} is not a Shopify global id such as gid://shopify/Order/1")
    number = gid.rsplit("/", 1)[-1].split("?", 1)[0]
    if not (number.isascii() and number.isdigit() and 0 < len(number) <= 19):
        raise InvalidEvent(field, f"{gid!r} does not end in a Shopify id")
    return number


# --- the shop ------------------------------------------------------------------------------------


def shop_details(shop: ShopifyShop, client: ShopifyClient) -> ShopDetails:
    """Read the shop's details; a Store still holding its install defaults takes them."""
    data = _Fields(client.execute(SHOP_QUERY).get("shop"), "shop")
    currency = data.currency("currencyCode")
    zone = data.text("ianaTimezone")
    name = data.text("name")[:200]
    domain = data.obj("primaryDomain")
    url = domain.text("url") if domain is not None else ""
    _adopt_details(shop.store, currency=currency, zone=zone, name=name)
    base = url.rstrip("/") if url.startswith(("https://", "http://")) else f"https://{shop.domain}"
    return ShopDetails(currency=currency, base_url=base)


def _adopt_details(store: Store, *, currency: str, zone: str, name: str) -> None:
    handle = store.external_id.removesuffix(".myshopify.com")
    changes: dict[str, str] = {}
    if store.currency != currency and store.currency == conf.options()["DEFAULT_CURRENCY"]:
        if not store.orders.exists():  # amounts already recorded stay in the currency they were
            changes["currency"] = currency
    if zone and store.timezone == "UTC" and zone != "UTC":
        changes["timezone"] = zone
    if name and store.name in ("", handle, store.external_id) and name != store.name:
        changes["name"] = name
    if changes:
        Store.objects.filter(pk=store.pk).update(**changes)
        for key, value in changes.items():
            setattr(store, key, value)
        logger.info("Store %s takes the Shopify shop's %s", store.pk, ", ".join(sorted(changes)))
    elif store.currency != currency:
        logger.warning(
            "Store %s is in %s but Shopify says the shop is in %s: prices are read in %s",
            store.pk,
            store.currency,
            currency,
            currency,
        )


# --- catalogue -----------------------------------------------------------------------------------


def iter_catalog(
    shop: ShopifyShop, *, client: ShopifyClient | None = None, bulk: bool | None = None
) -> Iterator[CatalogItem]:
    """Every product of ``shop`` as a CatalogItem. ``bulk``: True/False forces the way products
    are read; None (the default) uses a bulk operation for a first import above the threshold.
    A read that runs to its end is recorded as the shop's last catalogue sync."""
    client = client or client_for(shop)
    started_at, started = timezone.now(), time.monotonic()
    details = shop_details(shop, client)
    if bulk is None:
        bulk = last_synced(shop, "catalog") is None and _product_count(client) > BULK_THRESHOLD
    nodes = _bulk_products(client) if bulk else client.paginate(PRODUCTS_QUERY, {"first": PRODUCTS_PER_PAGE})
    count = 0
    for count, node in enumerate(nodes, start=1):
        yield product_item(node, details)
        if count % LOG_EVERY == 0:
            logger.info("Shopify catalogue of %s: %d products read", shop.domain, count)
    mark_synced(shop, "catalog", started_at)
    logger.info(
        "Shopify catalogue of %s: %d products read in %.1f s (%s, by %s)",
        shop.domain,
        count,
        time.monotonic() - started,
        _rate(count, started, "products"),
        "bulk operation" if bulk else "pages",
    )


def _product_count(client: ShopifyClient) -> int:
    found = (client.execute(PRODUCTS_COUNT_QUERY).get("productsCount") or {}).get("count")
    return found if isinstance(found, int) and not isinstance(found, bool) else 0


def _bulk_products(client: ShopifyClient) -> Iterator[dict[str, Any]]:
    """Bulk result products shaped as the paginated query's nodes (children into connections)."""
    for line in client.bulk_query(BULK_PRODUCTS_QUERY, join_children=True):
        children = line.pop("__children", [])
        line["collections"] = {"nodes": [c for c in children if _gid_type(c) == "Collection"]}
        line["variants"] = {"nodes": [c for c in children if _gid_type(c) == "ProductVariant"]}
        yield line


def _gid_type(node: Mapping[str, Any]) -> str:
    gid = node.get("id")
    return gid.split("/")[3] if isinstance(gid, str) and gid.count("/") >= 4 else ""


def _nodes(fields: _Fields, key: str) -> list[_Fields]:
    connection = fields.obj(key)
    return connection.objects("nodes") if connection is not None else []


def product_item(node: Mapping[str, Any], details: ShopDetails) -> CatalogItem:
    """The CatalogItem of a ``Product`` node (errors name the GraphQL field)."""
    product = _Fields(node, "product")
    product_id = gid_number(node.get("id"), "product.id")
    currency = details.currency
    collections = [c.text("handle") for c in _nodes(product, "collections") if c.text("handle")]
    tags = [*product_tags({"tags": node.get("tags")}), *(collection_tag(handle) for handle in collections)]
    product_type = product.text("productType")
    handle = product.text("handle")
    variants = _nodes(product, "variants")
    status = product.text("status").upper() or "ACTIVE"
    media = product.obj("featuredMedia")
    preview = media.obj("preview") if media is not None else None
    image = preview.obj("image") if preview is not None else None
    vendor = product.text("vendor")
    return CatalogItem(
        external_id=product_id,
        title=product.text("title"),
        kind=kind_of(product_type, tags),
        price=_min_price(product, currency),
        currency=currency,
        description=plain_text(node.get("descriptionHtml"), "product.descriptionHtml"),
        url=f"{details.base_url}/products/{quote(handle, safe='')}" if handle else "",
        image_url=image.text("url") if image is not None else "",
        tags=tuple(tags),
        available=status == "ACTIVE" and (not variants or any(v.flag("availableForSale") for v in variants)),
        attributes={k: v for k, v in (("vendor", vendor), ("product_type", product_type)) if v},
        raw={
            "handle": handle,
            "status": status.lower(),
            "updated_at": _iso(product.time("updatedAt")),
            "variant_ids": [gid_number(v.data.get("id"), v.at("id")) for v in variants],
        },
    )


def _min_price(product: _Fields, currency: str) -> Decimal:
    price_range = product.require_obj("priceRangeV2").require_obj("minVariantPrice")
    return _shop_money(price_range, currency)


def _shop_money(money: _Fields, currency: str) -> Decimal:
    if money.has("currencyCode") and money.data["currencyCode"] != currency:
        raise InvalidEvent(money.at("currencyCode"), f"is {money.data['currencyCode']!r}, not the shop's {currency}")
    return _amount(money.at("amount"), money.data.get("amount"), currency)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _rate(count: int, started: float, noun: str) -> str:
    elapsed = time.monotonic() - started
    return f"{count / elapsed:,.0f} {noun}/s" if elapsed > 0 and count else f"0 {noun}/s"


# --- orders --------------------------------------------------------------------------------------


def orders_since(shop: ShopifyShop) -> datetime | None:
    """Where the next incremental order read starts: a little before the last one started (None:
    never read, so everything Shopify shows)."""
    last = last_synced(shop, "orders")
    return last - OVERLAP if last is not None else None


def readable_since(shop: ShopifyShop, since: datetime | None, now: datetime | None = None) -> datetime | None:
    """``since``, moved to 60 days ago when the shop did not grant ``read_all_orders`` (Shopify
    shows older orders only with that scope); the log says when it moves."""
    if "read_all_orders" in shop.granted_scopes():
        return since
    floor = (now or timezone.now()) - timedelta(days=READ_ORDERS_DAYS)
    if since is None or since < floor:
        logger.warning(
            "Shopify shop %s did not grant read_all_orders: only orders of the last %d days can be read, "
            "from %s (asked: %s)",
            shop.domain,
            READ_ORDERS_DAYS,
            floor.isoformat(timespec="seconds"),
            since.isoformat(timespec="seconds") if since else "all",
        )
        return floor
    return since


def order_query(since: datetime | None) -> str:
    """The ``orders(query:)`` search: paid orders, updated at or after ``since``."""
    paid = " OR ".join(f"financial_status:{status.lower()}" for status in sorted(PAID))
    if since is None:
        return f"({paid})"
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"({paid}) AND updated_at:>='{stamp}'"


def iter_orders(
    shop: ShopifyShop, since: datetime | None = None, *, client: ShopifyClient | None = None
) -> Iterator[PurchaseEvent | Unreadable]:
    """The paid orders of ``shop`` changed at or after ``since`` (None: all Shopify shows), oldest
    change first. A read that runs to its end and covers the last one is recorded as the shop's
    last order sync."""
    client = client or client_for(shop)
    started_at, started = timezone.now(), time.monotonic()
    asked = readable_since(shop, since, started_at)
    store = shop_store(shop.domain)
    counts = {"read": 0, "unreadable": 0, "unpaid": 0}
    variables = {"first": ORDERS_PER_PAGE, "query": order_query(asked)}
    for n, node in enumerate(client.paginate(ORDERS_QUERY, variables, ("orders",)), start=1):
        found = order_event(node, store)
        if found is None:
            counts["unpaid"] += 1
            continue
        counts["unreadable" if isinstance(found, Unreadable) else "read"] += 1
        yield found
        if n % LOG_EVERY == 0:
            logger.info("Shopify orders of %s: %d read", shop.domain, n)
    last = last_synced(shop, "orders")
    if since is None or (last is not None and since <= last):  # nothing left unread between the reads
        mark_synced(shop, "orders", started_at)
    total = counts["read"] + counts["unreadable"]
    logger.info(
        "Shopify orders of %s since %s: %s in %.1f s (%s)",
        shop.domain,
        asked.isoformat(timespec="seconds") if asked else "the first",
        ", ".join(f"{v} {k}" for k, v in counts.items()),
        time.monotonic() - started,
        _rate(total, started, "orders"),
    )


def order_event(node: Mapping[str, Any], store: StoreRef) -> PurchaseEvent | Unreadable | None:
    """The PurchaseEvent of an ``Order`` node; None for an order that is not paid; Unreadable
    (with the field at fault) for one that cannot be an event."""
    raw_id = node.get("id") if isinstance(node, Mapping) else None
    external_id = raw_id if isinstance(raw_id, str) else repr(raw_id)
    try:
        external_id = gid_number(raw_id, "order.id")
        if str(node.get("displayFinancialStatus") or "").upper() not in PAID:
            return None
        return purchase_event(node, store)
    except InvalidEvent as err:
        return Unreadable(external_id=external_id, error=str(err))


def purchase_event(node: Mapping[str, Any], store: StoreRef) -> PurchaseEvent:
    order = _Fields(node, "order")
    order_id = gid_number(node.get("id"), "order.id")
    currency = order.currency("currencyCode")
    placed = order.require_time("processedAt", "createdAt")
    items = _nodes(order, "lineItems")
    if not items:
        raise InvalidEvent("order.lineItems", "an order needs at least one line item")
    lines = [_line(line, currency) for line in items]
    total = _shop_money(order.require_obj("totalPriceSet").require_obj("shopMoney"), currency)
    customer = _buyer(order, order_id, placed)
    return PurchaseEvent(
        store=store,
        order_id=order_id,
        occurred_at=placed,
        currency=currency,
        customer=customer,
        lines=tuple(line for line, _ in lines),
        total=total,
        updated_at=order.time("updatedAt"),
        raw={
            "id": order_id,
            "name": order.text("name"),
            "financial_status": order.text("displayFinancialStatus").lower(),
            "test": order.flag("test"),
            "currency": currency,
            "total_price": str(total),
            "customer_id": customer.external_id,
            "lines": [raw for _, raw in lines],
        },
    )


def _line(line: _Fields, currency: str) -> tuple[PurchaseLine, dict[str, Any]]:
    price = _shop_money(line.require_obj("originalUnitPriceSet").require_obj("shopMoney"), currency)
    quantity = line.integer("quantity", minimum=1)
    line_id = gid_number(line.data.get("id"), line.at("id"))
    product = line.obj("product")
    product_id = gid_number(product.data.get("id"), product.at("id")) if product is not None else ""
    variant = line.obj("variant")
    variant_id = gid_number(variant.data.get("id"), variant.at("id")) if variant is not None else ""
    product_type = product.text("productType") if product is not None else ""
    vendor = line.text("vendor")
    item = CatalogItem(
        external_id=product_id or f"custom:{line_id}",
        title=line.text("title") or line.text("name"),
        kind=kind_of(product_type),
        price=price,
        currency=currency,
        available=bool(product_id),
        attributes={k: v for k, v in (("vendor", vendor), ("product_type", product_type)) if v},
        raw={
            "product_id": product_id,
            "variant_id": variant_id,
            "sku": line.text("sku"),
            "variant_title": line.text("variantTitle"),
        },
    )
    raw = {"id": line_id, "product_id": product_id, "variant_id": variant_id, "quantity": quantity}
    return PurchaseLine(item=item, quantity=quantity, unit_price=price), raw | {"price": str(price)}


def _buyer(order: _Fields, order_id: str, placed: datetime) -> CustomerData:
    customer = order.obj("customer")
    if customer is None:
        return CustomerData(
            email=order.text("email") or placeholder_email(order_id=order_id),
            locale=order.text("customerLocale"),
            phone=order.text("phone"),
        )
    consents = tuple(
        found
        for found in (
            _consent(_consent_fields(customer, "emailMarketingConsent"), "email", placed),
            _consent(_consent_fields(customer, "smsMarketingConsent"), "sms", placed),
        )
        if found is not None
    )
    return buyer_data(
        email=customer.text("email") or order.text("email"),
        customer_id=gid_number(customer.data.get("id"), customer.at("id")),
        order_id=order_id,
        consents=consents,
        first_name=customer.text("firstName"),
        last_name=customer.text("lastName"),
        locale=order.text("customerLocale"),
        phone=customer.text("phone") or order.text("phone"),
    )


def _consent_fields(customer: _Fields, key: str) -> _Fields | None:
    """A GraphQL marketing consent (``SUBSCRIBED``, ``SINGLE_OPT_IN``) in the webhook shape the
    consent reading of :mod:`.payloads` takes (``subscribed``, ``single_opt_in``)."""
    statement = customer.obj(key)
    if statement is None:
        return None
    data = {
        "state": statement.text("marketingState").lower(),
        "opt_in_level": statement.text("marketingOptInLevel").lower(),
        "consent_updated_at": statement.data.get("consentUpdatedAt"),
    }
    return _Fields(data, statement.path)
