"""How fast a Shopify shop is synced: products and paid orders read from the GraphQL Admin API
(faked in-process with ``responses``: pages of generated nodes shaped as Shopify answers them),
turned into events and recorded, against a baseline measured in the same run.

    python -m bench.shopify_sync [--products 2000] [--orders 1000] [--database-url URL]

Three figures per part, in one run on a throw-away test database (SQLite file by default):

* **read**: ``sync.iter_catalog`` / ``sync.iter_orders`` alone (HTTP through the real client,
  JSON decoding, mapping to CatalogItem / PurchaseEvent), nothing recorded;
* **sync**: reading and recording (``sync_catalog`` / ``tasks.record_orders``), as
  ``crosssell.shopify.sync_shop`` does;
* **baseline**: recording the same events from a list already in memory (the core's own cost).

The fake answers instantly, so this measures our side only: a real shop adds Shopify's latency
and its rate limits (about 25 products or orders per request, 100-2,000 cost points a second).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import responses

from bench.django_db import throwaway_database

SHOP = "bench-films.myshopify.com"
VERSION = "2026-07"
ENDPOINT = f"https://{SHOP}/admin/api/{VERSION}/graphql.json"
#: the fake shop's access token (nothing real: the API is faked in-process)
FAKE_TOKEN = "shpat_" + "0" * 32
COST = {
    "requestedQueryCost": 500,
    "actualQueryCost": 30,
    "throttleStatus": {"maximumAvailable": 20000.0, "currentlyAvailable": 20000.0, "restoreRate": 1000.0},
}


def product_node(i: int) -> dict[str, Any]:
    kind = ("Film", "Courses", "T-Shirts")[i % 3]
    return {
        "id": f"gid://shopify/Product/{100000 + i}",
        "title": f"{kind} number {i}",
        "handle": f"item-{i}",
        "productType": kind,
        "vendor": "Bench Films",
        "tags": ["bench", f"group-{i % 20}"],
        "status": "ACTIVE",
        "descriptionHtml": f"<p>Item {i}.</p><p>Some <em>description</em> text.</p>",
        "updatedAt": "2026-11-30T09:00:00Z",
        "priceRangeV2": {"minVariantPrice": {"amount": f"{5 + i % 50}.99", "currencyCode": "EUR"}},
        "featuredMedia": {"preview": {"image": {"url": f"https://cdn.shopify.com/s/files/1/bench/{i}.jpg"}}},
        "collections": {"nodes": [{"handle": f"collection-{i % 10}"}]},
        "variants": {"nodes": [{"id": f"gid://shopify/ProductVariant/{500000 + i}", "availableForSale": True}]},
    }


def order_node(i: int, products: int) -> dict[str, Any]:
    lines = []
    for n in range(1 + i % 3):
        product = (i * 7 + n * 13) % products
        lines.append(
            {
                "id": f"gid://shopify/LineItem/{9000000 + i * 3 + n}",
                "title": f"Item {product}",
                "name": f"Item {product}",
                "quantity": 1,
                "sku": "",
                "variantTitle": None,
                "vendor": "Bench Films",
                "product": {"id": f"gid://shopify/Product/{100000 + product}", "productType": "Film"},
                "variant": {"id": f"gid://shopify/ProductVariant/{500000 + product}"},
                "originalUnitPriceSet": {"shopMoney": {"amount": "9.99", "currencyCode": "EUR"}},
            }
        )
    total = f"{9.99 * len(lines):.2f}"
    customer = i % (max(1, products // 2))
    return {
        "id": f"gid://shopify/Order/{7000000 + i}",
        "name": f"#{1000 + i}",
        "email": f"buyer{customer}@example.com",
        "phone": None,
        "test": False,
        "createdAt": "2026-11-20T10:00:00Z",
        "processedAt": "2026-11-20T10:00:00Z",
        "updatedAt": "2026-11-20T10:00:05Z",
        "currencyCode": "EUR",
        "displayFinancialStatus": "PAID",
        "customerLocale": "en",
        "totalPriceSet": {"shopMoney": {"amount": total, "currencyCode": "EUR"}},
        "customer": {
            "id": f"gid://shopify/Customer/{800000 + customer}",
            "email": f"buyer{customer}@example.com",
            "firstName": "Bench",
            "lastName": f"Buyer {customer}",
            "phone": None,
            "emailMarketingConsent": {
                "marketingState": "SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
                "consentUpdatedAt": "2026-10-01T00:00:00Z",
            },
            "smsMarketingConsent": None,
        },
        "lineItems": {"nodes": lines},
    }


def fake_api(products: int, orders: int) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A GraphQL endpoint answering the sync's queries with pages of generated nodes."""

    def page(connection: str, nodes: list[dict[str, Any]], variables: dict[str, Any]) -> dict[str, Any]:
        start = int(variables.get("after") or 0)
        end = start + int(variables["first"])
        return {
            connection: {
                "nodes": nodes[start:end],
                "pageInfo": {"hasNextPage": end < len(nodes), "endCursor": str(end)},
            }
        }

    product_nodes = [product_node(i) for i in range(products)]
    order_nodes = [order_node(i, products) for i in range(orders)]

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        if "CrosssellSyncShop" in query:
            data: dict[str, Any] = {
                "shop": {
                    "name": "Bench Films",
                    "currencyCode": "EUR",
                    "ianaTimezone": "Europe/Amsterdam",
                    "primaryDomain": {"url": "https://bench-films.example"},
                }
            }
        elif "CrosssellSyncProductsCount" in query:
            data = {"productsCount": {"count": products}}
        elif "CrosssellSyncProducts" in query:
            data = page("products", product_nodes, variables)
        elif "CrosssellSyncOrders" in query:
            data = page("orders", order_nodes, variables)
        else:
            return 400, {}, json.dumps({"errors": [{"message": "unexpected query"}]})
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "extensions": {"cost": COST}})

    return answer


def timed(work: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = work()
    return count, time.perf_counter() - started


def run(products: int, orders: int, vendor: str) -> None:
    from django.utils import timezone

    from crosssell_plugin.ingest import record_purchase, sync_catalog
    from crosssell_plugin.models import Store
    from integrations.shopify import sync, tasks
    from integrations.shopify.client import ShopifyClient
    from integrations.shopify.models import ShopifyShop

    def shop_named(domain: str) -> ShopifyShop:
        store = Store.objects.create(platform="shopify", external_id=domain, name=domain, currency="EUR")
        return ShopifyShop.objects.create(
            store=store,
            domain=domain,
            access_token=FAKE_TOKEN,
            scopes="read_products,read_orders,read_all_orders",
            api_version=VERSION,
            installed_at=timezone.now(),
        )

    waits: list[float] = []
    shop = shop_named(SHOP)

    def client() -> ShopifyClient:
        return ShopifyClient(SHOP, FAKE_TOKEN, VERSION, sleep=waits.append)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, ENDPOINT, callback=fake_api(products, orders))
        _, read_items = timed(lambda: sum(1 for _ in sync.iter_catalog(shop, client=client(), bulk=False)))
        events = list(sync.iter_orders(shop, client=client()))
        _, read_orders = timed(lambda: sum(1 for _ in sync.iter_orders(shop, client=client())))
        items = list(sync.iter_catalog(shop, client=client(), bulk=False))

        def sync_items() -> int:
            result = sync_catalog(shop.store, sync.iter_catalog(shop, client=client(), bulk=False))
            return result.created + result.updated

        def sync_orders() -> int:
            counts = tasks.record_orders(shop, sync.iter_orders(shop, client=client()))
            return counts.recorded + counts.updated + counts.unchanged

        baseline = shop_named("bench-baseline.myshopify.com")
        baseline_events = [replace(event, store=sync.shop_store(baseline.domain)) for event in events]

        def record_items() -> int:
            result = sync_catalog(baseline.store, items)
            return result.created + result.updated

        def record_events() -> int:
            return sum(1 for event in baseline_events if record_purchase(event).created)

        # interleaved, baseline first: a later part runs on a fuller database
        _, base_items = timed(record_items)
        n_items, synced_items = timed(sync_items)
        _, base_orders = timed(record_events)
        n_orders, synced_orders = timed(sync_orders)
        requests = len(rsps.calls)

    print(f"Shopify sync, {vendor}: {products:,} products, {orders:,} paid orders, {requests:,} fake API requests")
    print(f"{'part':<10}{'read':>16}{'sync':>16}{'baseline':>16}{'time vs baseline':>18}")
    for part, count, read, synced, base in (
        ("catalogue", n_items, read_items, synced_items, base_items),
        ("orders", n_orders, read_orders, synced_orders, base_orders),
    ):
        print(
            f"{part:<10}{count / read:>12,.0f} /s {count / synced:>12,.0f} /s {count / base:>12,.0f} /s"
            f"{synced / base:>17.2f}x"
        )
    print(f"client waits (throttling): {len(waits)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    args = parser.parse_args()
    if args.products < 1 or args.orders < 1:
        parser.error("--products and --orders must be at least 1")
    with throwaway_database(args.database_url) as vendor:
        run(args.products, args.orders, vendor)


if __name__ == "__main__":
    main()
