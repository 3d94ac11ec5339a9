"""A shop's catalogue and orders as the webhooks and the sync record them, for the tests of the
extension endpoint, the App Proxy and the demo command."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_catalog_item, record_purchase
from crosssell_plugin.models import Order, Store

from .conftest import DOMAIN, T0

CUSTOMER_ID = "6201"
CUSTOMER_GID = f"gid://shopify/Customer/{CUSTOMER_ID}"
ORDER_ID = "5829175681234"
ORDER_GID = f"gid://shopify/Order/{ORDER_ID}"

#: a merch shop: (product id, title, price, image)
MERCH = [
    ("8123456789011", "Totoro T-shirt", "25.00", "https://cdn.shopify.com/s/files/totoro-tee.jpg"),
    ("8123456789012", "Spirited Away Poster (A2)", "12.00", "https://cdn.shopify.com/s/files/poster.jpg"),
    ("8123456789013", "Enamel Pin: Soot Sprites", "8.50", ""),
    ("8123456789014", "Studio Sketchbook (A5)", "14.00", "http://insecure.example.com/sketchbook.jpg"),
    ("8123456789015", "Catbus Mug", "16.90", "https://cdn.shopify.com/s/files/mug.jpg"),
    ("8123456789016", "Kiki Tote Bag", "19.00", "https://cdn.shopify.com/s/files/tote.jpg"),
    ("8123456789017", "No-Face Plush", "29.99", "https://cdn.shopify.com/s/files/plush.jpg"),
]


def ref(domain: str = DOMAIN) -> StoreRef:
    return StoreRef("shopify", domain)


def merch_catalog(store: Store, products: list[tuple[str, str, str, str]] = MERCH) -> None:
    for product_id, title, price, image in products:
        record_catalog_item(
            store,
            CatalogItem(
                external_id=product_id,
                title=title,
                kind="merch",
                price=Decimal(price),
                currency=store.currency,
                url=f"https://{store.external_id}/products/p-{product_id}",
                image_url=image,
            ),
        )


def order(
    store: Store,
    order_id: str = ORDER_ID,
    *,
    customer_id: str | None = CUSTOMER_ID,
    products: tuple[str, ...] = ("8123456789011",),
    placed_at: datetime | None = None,
    email: str = "ada@example.com",
) -> Order:
    """A paid order recorded as the ``orders/paid`` webhook records it (customer id = Shopify's)."""
    lines = []
    for product_id in products:
        _, title, price, _ = next(p for p in MERCH if p[0] == product_id)
        item = CatalogItem(
            external_id=product_id, title=title, kind="merch", price=Decimal(price), currency=store.currency
        )
        lines.append(PurchaseLine(item, 1, Decimal(price)))
    event = PurchaseEvent(
        store=ref(store.external_id),
        order_id=order_id,
        occurred_at=placed_at or T0 - timedelta(minutes=3),
        currency=store.currency,
        customer=CustomerData(email=email, external_id=customer_id or "", first_name="Ada", last_name="Lovelace"),
        lines=tuple(lines),
        raw={"id": order_id},
    )
    return record_purchase(event).order


def other_orders(store: Store, count: int = 3) -> None:
    """Past orders of other customers, so that the shop has popular items."""
    for n in range(count):
        order(
            store,
            f"4000000000{n}",
            customer_id=f"70{n}",
            products=("8123456789012", "8123456789015"),
            placed_at=T0 - timedelta(days=5 + n),
            email=f"buyer{n}@example.com",
        )


def as_dict(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body
