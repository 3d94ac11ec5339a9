"""``manage.py crosssell_shopify_demo``: the Shopify app's path from install to Thank-you block, as a
merchant and a buyer go through it, against a local fake of Shopify (:mod:`integrations.shopify.fakes`;
no network).

1. The merchant installs the app: Shopify's signed request to ``/shopify/install/``, the redirect
   to the shop's authorize page, Shopify's signed callback with a code, the code traded for an
   expiring offline token (answered by the fake).
2. The catalogue: six products, Shopify product bodies recorded as the catalogue sync records them.
3. Orders: three other buyers' and the demo buyer's, as Shopify delivers ``orders/paid``: the
   signed body posted to the app's webhook URL (``/crosssell/webhooks/shopify/app/``), stored and
   processed by the webhook pipeline (here, when no worker has done it yet).
4. The buyer's Thank-you block asks ``/shopify/extension/recommendations/`` with a session token
   of the shop naming the buyer (signed as Shopify signs them); the answer's items are printed,
   the first with an offer code created on the fake shop.

It runs with the demo app credentials below (never the project's) and writes to the project's
database: the shop ``--shop`` (``crosssell-demo.myshopify.com``), its Store, items, customers,
orders and impressions. Running it again updates the same rows. The project must have
``integrations.shopify`` in INSTALLED_APPS.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from crosssell_plugin.deliveries import process_delivery
from crosssell_plugin.ingest import record_catalog_item
from crosssell_plugin.models import WebhookDelivery

from ... import payloads
from ...auth import normalize_shop_domain, sign_query
from ...fakes import FakeShopify, routed_to
from ...models import ShopifyShop
from ...webhooks import APP_STORE_KEY, body_signature

API_KEY = "crosssell-demo-client-id-0000000000"
API_SECRET = "shpss_crosssell_demo_secret_not_for_production"  # noqa: S105 (the fake's, published)
APP_URL = "https://crosssell.example.com"


@contextmanager
def fake_app(root_urlconf: str) -> Iterator[FakeShopify]:
    """A local fake Shopify that every ``*.myshopify.com`` request goes to, with the demo app's
    credentials in ``CROSSSELL["PLATFORMS"]["shopify"]`` and ``root_urlconf`` serving the app's
    URLs to Django's test client (the demo command; ``bench.shopify_webhooks``)."""
    crosssell = dict(getattr(settings, "CROSSSELL", {}))
    platforms = dict(crosssell.get("PLATFORMS", {}))
    platforms["shopify"] = {"API_KEY": API_KEY, "API_SECRET": API_SECRET, "APP_URL": APP_URL}
    with (
        FakeShopify(API_KEY, API_SECRET) as fake,
        routed_to(fake),
        override_settings(
            CROSSSELL={**crosssell, "PLATFORMS": platforms},
            ROOT_URLCONF=root_urlconf,
            ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
        ),
    ):
        yield fake


CUSTOMER_ID = 7001

#: (product id, title, product type, price, handle)
PRODUCTS = [
    (9100000001, "Totoro T-shirt", "Merchandise", "25.00", "totoro-tshirt"),
    (9100000002, "Spirited Away Poster (A2)", "Merchandise", "12.00", "spirited-away-poster"),
    (9100000003, "Catbus Mug", "Merchandise", "16.90", "catbus-mug"),
    (9100000004, "Drawing Anime Characters", "Course", "49.90", "drawing-anime-course"),
    (9100000005, "My Neighbor Totoro (HD)", "Film", "3.99", "totoro-hd"),
    (9100000006, "Enamel Pin: Soot Sprites", "Merchandise", "8.50", "soot-sprites-pin"),
]
#: (order id, customer id, product ids): others first, the demo buyer's last
ORDERS = [
    (6100000001, 7101, (9100000001, 9100000002)),
    (6100000002, 7102, (9100000001, 9100000002, 9100000003)),
    (6100000003, 7103, (9100000001, 9100000004)),
    (6100000004, CUSTOMER_ID, (9100000001,)),
]


def product_body(product_id: int, title: str, product_type: str, price: str, handle: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "title": title,
        "handle": handle,
        "product_type": product_type,
        "vendor": "Crosssell demo",
        "status": "active",
        "body_html": f"<p>{title}</p>",
        "tags": "",
        "variants": [{"id": product_id * 10, "price": price, "inventory_management": None}],
        "images": [{"src": f"https://cdn.shopify.com/s/files/demo/{handle}.jpg"}],
    }


def order_body(order_id: int, customer_id: int, product_ids: tuple[int, ...], placed: Any) -> dict[str, Any]:
    known = {p[0]: p for p in PRODUCTS}
    lines = [
        {
            "id": order_id * 10 + n,
            "product_id": pid,
            "variant_id": pid * 10,
            "title": known[pid][1],
            "product_type": known[pid][2],
            "vendor": "Crosssell demo",
            "price": known[pid][3],
            "quantity": 1,
        }
        for n, pid in enumerate(product_ids)
    ]
    total = sum((Decimal(known[pid][3]) for pid in product_ids), Decimal(0))
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "currency": "USD",
        "financial_status": "paid",
        "processed_at": placed.isoformat(),
        "created_at": placed.isoformat(),
        "updated_at": placed.isoformat(),
        "total_price": f"{total:.2f}",
        "customer_locale": "en",
        "customer": {"id": customer_id, "email": f"buyer-{customer_id}@example.com", "first_name": "Demo"},
        "line_items": lines,
    }


class Command(BaseCommand):
    help = (
        "Install the Shopify app on a fake local shop, record its catalogue and a paid order, and print "
        "the recommendations its Thank-you block gets (no network)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shop", default="crosssell-demo.myshopify.com", help="The demo shop's domain.")
        parser.add_argument("--json", action="store_true", help="Print the endpoint's answer as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if "integrations.shopify" not in settings.INSTALLED_APPS:
            raise CommandError('Add "integrations.shopify" to INSTALLED_APPS (and migrate) to run the Shopify demo.')
        try:
            shop = normalize_shop_domain(options["shop"])
        except ValueError as err:
            raise CommandError(str(err)) from None
        with fake_app("integrations.shopify.demo_urls") as fake:
            self.stdout.write(f"Fake Shopify at {fake.base_url} (every *.myshopify.com request goes there)")
            client = Client()
            installed = self.install(client, fake, shop)
            self.catalogue(installed)
            self.orders(client, installed)
            answer = self.thank_you(client, installed)
        if options["json"]:
            self.stdout.write(json.dumps(answer, indent=2))
        else:
            self.show(answer)

    def install(self, client: Client, fake: FakeShopify, shop: str) -> ShopifyShop:
        query = {"shop": shop, "timestamp": str(int(time.time()))}
        response = client.get("/shopify/install/", {**query, "hmac": sign_query(query, API_SECRET)})
        if response.status_code != 302:
            raise CommandError(f"The install request was answered {response.status_code}: {response.content[:200]!r}")
        state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
        callback = {"code": fake.authorize(shop), "shop": shop, "state": state, "timestamp": str(int(time.time()))}
        response = client.get("/shopify/callback/", {**callback, "hmac": sign_query(callback, API_SECRET)})
        if response.status_code != 302:
            raise CommandError(f"The install callback was answered {response.status_code}: {response.content[:200]!r}")
        installed = ShopifyShop.objects.select_related("store").get(domain=shop)
        self.stdout.write(
            f"Installed the app on {shop} (store {installed.store_id}); its offline token expires at "
            f"{installed.access_token_expires_at:%H:%M:%S} UTC"
        )
        return installed

    def catalogue(self, shop: ShopifyShop) -> None:
        for product in PRODUCTS:
            item = payloads.catalog_item(
                product_body(*product), currency=shop.store.currency, base_url=f"https://{shop.domain}"
            )
            record_catalog_item(shop.store, item)
        self.stdout.write(f"Catalogue: {len(PRODUCTS)} products")

    def orders(self, client: Client, shop: ShopifyShop) -> None:
        """Each order as Shopify delivers ``orders/paid``: the signed body posted to the app's
        webhook URL. Deliveries a worker has not processed yet are processed here (as the task would)."""
        now = timezone.now()
        url = reverse("crosssell:webhook", args=["shopify", APP_STORE_KEY])
        for n, (order_id, customer_id, products) in enumerate(ORDERS):
            placed = now - timedelta(days=len(ORDERS) - 1 - n, minutes=2)
            body = json.dumps(order_body(order_id, customer_id, products, placed)).encode()
            response = client.post(
                url,
                data=body,
                content_type="application/json",
                HTTP_X_SHOPIFY_TOPIC="orders/paid",
                HTTP_X_SHOPIFY_SHOP_DOMAIN=shop.domain,
                HTTP_X_SHOPIFY_API_VERSION=shop.api_version,
                HTTP_X_SHOPIFY_WEBHOOK_ID=f"demo-{order_id}-{uuid.uuid4().hex[:8]}",
                HTTP_X_SHOPIFY_EVENT_ID=f"demo-order-{order_id}",
                HTTP_X_SHOPIFY_TRIGGERED_AT=now.isoformat(),
                HTTP_X_SHOPIFY_HMAC_SHA256=body_signature(body, API_SECRET),
            )
            if response.status_code != 200:
                raise CommandError(f"The orders/paid webhook was answered {response.status_code}: {response.content!r}")
        pending = WebhookDelivery.objects.filter(
            store=shop.store, platform="shopify", status=WebhookDelivery.Status.PENDING
        ).values_list("pk", flat=True)
        for pk in list(pending):
            process_delivery(pk)
        self.stdout.write(f"Orders: {len(ORDERS)} signed orders/paid webhooks delivered to {url}")

    def thank_you(self, client: Client, shop: ShopifyShop) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "dest": f"https://{shop.domain}",
            "aud": API_KEY,
            "sub": f"gid://shopify/Customer/{CUSTOMER_ID}",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(claims, API_SECRET, algorithm="HS256")
        order_gid = f"gid://shopify/Order/{ORDERS[-1][0]}"
        response = client.get(
            "/shopify/extension/recommendations/",
            {"order_id": order_gid, "surface": "thank_you", "locale": "en"},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        answer: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise CommandError(f"The extension endpoint answered {response.status_code}: {answer.get('detail')}")
        return answer

    def show(self, answer: dict[str, Any]) -> None:
        self.stdout.write(f"Thank-you block of {answer['order_id']}: {len(answer['items'])} items")
        for rank, item in enumerate(answer["items"], 1):
            price = f"{item['price']['amount']} {item['price']['currency']}"
            self.stdout.write(f"  {rank}. {item['title']} - {price} - {item['reason']}")
            if item["offer"]:
                offer = item["offer"]
                self.stdout.write(f"     offer {offer['code']}: {offer['description']}, until {offer['expires_at']}")
            self.stdout.write(f"     {item['click_url']}")
