"""How fast the Shopify webhook view answers an ``orders/paid`` delivery, and how fast a Celery
worker turns the stored deliveries into orders, against a baseline measured in the same run.

    python -m bench.shopify_webhooks [--deliveries 1000] [--database-url URL]

On a throw-away test database (SQLite file by default):

1. **Install**: the app is installed on a fake shop through the real install flow
   (``/shopify/install/``, Shopify's signed callback, the code traded for a token), Shopify
   answered by :class:`integrations.shopify.fakes.FakeShopify` on 127.0.0.1, as
   ``manage.py crosssell_shopify_demo`` does. A catalogue of products is recorded.
2. **The view**: ``--deliveries`` signed ``orders/paid`` deliveries (each its own webhook id,
   event id, order, buyer and lines; bodies shaped as ``tests/integrations/shopify/fixtures/
   webhook_orders_paid.json``) are posted through Django's test client to the app-level URL
   ``/crosssell/webhooks/shopify/app/``: verify, store the raw delivery, enqueue
   ``crosssell.process_delivery`` (published to Celery's in-memory broker, Celery not eager).
   Interleaved with them, the **baseline**: the same signed bodies posted to a view that only
   checks the HMAC (``webhooks.verify_body``) and answers 200, through the same client and
   middleware. The time of each ``client.post`` is recorded; p50/p95/p99 of both and their ratios
   are printed.
3. **Processing**: a real Celery worker (``celery.contrib.testing.worker``, solo pool, one
   thread of this process) consumes the queued messages from the in-memory broker; the
   throughput is deliveries processed per second, from the first task's start to the last
   delivery's end (the tasks a recorded purchase queues in turn run in the same worker).

Progress is printed as it goes. Nothing leaves the machine: the fake Shopify listens on
127.0.0.1 and every ``*.myshopify.com`` request goes there.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.django_db import throwaway_database

SHOP = "bench-webhooks.myshopify.com"
FIXTURE = Path(__file__).resolve().parent.parent / "tests/integrations/shopify/fixtures/webhook_orders_paid.json"
WEBHOOK_PATH = "/crosssell/webhooks/shopify/app/"
BASELINE_PATH = "bench/noop-webhook/"
#: products in the fake shop's catalogue, and distinct buyers among the orders
PRODUCTS = 60
BUYERS = 300
WARMUP = 10
PROGRESS_EVERY = 100


# --- the URLconf of the run (ROOT_URLCONF = this module), built once Django is set up ----------


def baseline_view(request: Any) -> Any:
    """The baseline: a bare HMAC check of the body, then an empty 200 (nothing stored or queued)."""
    from django.http import HttpResponse

    from integrations.shopify.management.commands.crosssell_shopify_demo import API_SECRET
    from integrations.shopify.webhooks import HMAC_HEADER, verify_body

    verify_body(request.body, request.headers.get(HMAC_HEADER), (API_SECRET,))
    return HttpResponse()


def __getattr__(name: str) -> Any:
    if name == "urlpatterns":
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt

        from integrations.shopify.demo_urls import urlpatterns

        return [path(BASELINE_PATH, csrf_exempt(baseline_view)), *urlpatterns]
    raise AttributeError(name)


# --- deliveries ---------------------------------------------------------------------------------


def product_body(i: int) -> dict[str, Any]:
    product_id = 7001 + i
    kind = ("Merchandise", "Film", "Course")[i % 3]
    return {
        "id": product_id,
        "title": f"{kind} {i}",
        "handle": f"bench-item-{i}",
        "product_type": kind,
        "vendor": "Bench Merch",
        "status": "active",
        "body_html": f"<p>{kind} {i}</p>",
        "tags": f"bench, group-{i % 6}",
        "variants": [{"id": product_id * 10, "price": f"{5 + i % 40}.00", "inventory_management": None}],
        "images": [{"src": f"https://cdn.shopify.com/s/files/bench/{i}.jpg"}],
    }


def order_body(template: dict[str, Any], i: int, placed: str) -> dict[str, Any]:
    """The fixture's ``orders/paid`` body as order ``i``: its own id, number, buyer and 1-3 lines."""
    body = copy.deepcopy(template)
    order_id = 5002000000 + i
    buyer = i % BUYERS
    email = f"buyer{buyer}@example.com"
    body.update(
        id=order_id,
        admin_graphql_api_id=f"gid://shopify/Order/{order_id}",
        name=f"#{2000 + i}",
        number=1000 + i,
        order_number=2000 + i,
        email=email,
        contact_email=email,
        created_at=placed,
        processed_at=placed,
        updated_at=placed,
        token=f"bench{order_id:x}",
        checkout_token=f"bench-co-{order_id:x}",
    )
    body["customer"].update(
        id=800000 + buyer,
        admin_graphql_api_id=f"gid://shopify/Customer/{800000 + buyer}",
        email=email,
        first_name="Bench",
        last_name=f"Buyer {buyer}",
    )
    lines = []
    for n in range(1 + i % 3):
        product = (i * 7 + n * 13) % PRODUCTS
        line = copy.deepcopy(template["line_items"][n])
        price = f"{5 + product % 40}.00"
        line.update(
            id=13000000 + i * 3 + n,
            admin_graphql_api_id=f"gid://shopify/LineItem/{13000000 + i * 3 + n}",
            product_id=7001 + product,
            variant_id=(7001 + product) * 10,
            title=f"Item {product}",
            name=f"Item {product}",
            price=price,
            quantity=1,
            discount_allocations=[],
        )
        line["price_set"] = {
            "shop_money": {"amount": price, "currency_code": "USD"},
            "presentment_money": {"amount": price, "currency_code": "USD"},
        }
        lines.append(line)
    subtotal = sum(float(line["price"]) for line in lines)
    total = f"{subtotal + 7:.2f}"
    body.update(
        line_items=lines,
        discount_applications=[],
        discount_codes=[],
        subtotal_price=f"{subtotal:.2f}",
        current_subtotal_price=f"{subtotal:.2f}",
        total_discounts="0.00",
        current_total_discounts="0.00",
        total_tax="0.00",
        current_total_tax="0.00",
        total_price=total,
        current_total_price=total,
    )
    for key, amount in (("subtotal_price_set", f"{subtotal:.2f}"), ("total_price_set", total)):
        body[key] = {
            "shop_money": {"amount": amount, "currency_code": "USD"},
            "presentment_money": {"amount": amount, "currency_code": "USD"},
        }
    body["total_discounts_set"] = body["total_tax_set"] = {
        "shop_money": {"amount": "0.00", "currency_code": "USD"},
        "presentment_money": {"amount": "0.00", "currency_code": "USD"},
    }
    return body


def delivery_headers(body: bytes, i: int, secret: str, triggered_at: str) -> dict[str, str]:
    from integrations.shopify.webhooks import body_signature

    return {
        "HTTP_X_SHOPIFY_TOPIC": "orders/paid",
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": SHOP,
        "HTTP_X_SHOPIFY_API_VERSION": "2026-07",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": f"b7e1c0de-{i:08d}-4a5e-9c7f-webhook",
        "HTTP_X_SHOPIFY_EVENT_ID": f"e1a2b3c4-{i:08d}-event",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": triggered_at,
        "HTTP_X_SHOPIFY_HMAC_SHA256": body_signature(body, secret),
    }


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
    }


def timed_post(client: Any, path: str, body: bytes, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.post(path, data=body, content_type="application/json", **headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


class TaskClock:
    """When each ``crosssell.process_delivery`` run started and ended, from Celery's signals."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.lock = threading.Lock()

    def prerun(self, sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "name", "") == "crosssell.process_delivery":
            with self.lock:
                self.starts.append(time.perf_counter())

    def postrun(self, sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "name", "") == "crosssell.process_delivery":
            with self.lock:
                self.ends.append(time.perf_counter())


def process_with_worker(expected: int, progress: Callable[[str], None]) -> tuple[int, float]:
    """Run a Celery worker over the queued messages until ``expected`` deliveries are processed:
    (deliveries processed, seconds from the first task's start to the last one's end)."""
    from celery import current_app
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun, task_prerun

    clock = TaskClock()
    task_prerun.connect(clock.prerun, weak=False)
    task_postrun.connect(clock.postrun, weak=False)
    current_app.conf.task_always_eager = False
    deadline = time.monotonic() + 600
    with start_worker(current_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        shown = 0
        while len(clock.ends) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            if len(clock.ends) >= shown + PROGRESS_EVERY:
                shown = len(clock.ends) // PROGRESS_EVERY * PROGRESS_EVERY
                progress(f"  worker: {len(clock.ends):,} / {expected:,} deliveries processed")
    task_prerun.disconnect(clock.prerun)
    task_postrun.disconnect(clock.postrun)
    if len(clock.ends) < expected:
        raise SystemExit(f"The worker processed {len(clock.ends)} of {expected} deliveries in 600 s.")
    return len(clock.ends), max(clock.ends) - min(clock.starts)


def run(deliveries: int, vendor: str) -> None:
    from celery import current_app
    from django.test import Client
    from django.utils import timezone

    from crosssell_plugin.ingest import record_catalog_item
    from crosssell_plugin.models import Order, WebhookDelivery
    from integrations.shopify import payloads
    from integrations.shopify.management.commands.crosssell_shopify_demo import API_SECRET, Command, fake_app

    def say(line: str) -> None:
        print(line, flush=True)

    for name in ("crosssell_plugin", "integrations", "celery"):  # a log line per delivery would be timed too
        logging.getLogger(name).setLevel(logging.WARNING)

    template = json.loads(FIXTURE.read_text())
    now = timezone.now()
    placed = now.isoformat()
    total = WARMUP + deliveries
    bodies = [json.dumps(order_body(template, i, placed)).encode() for i in range(total)]
    with fake_app("bench.shopify_webhooks") as fake:
        client = Client()
        current_app.conf.task_always_eager = False  # the view publishes; the worker processes later
        shop = Command(stdout=sys.stdout).install(client, fake, SHOP)
        for i in range(PRODUCTS):
            item = payloads.catalog_item(product_body(i), currency=shop.store.currency, base_url=f"https://{SHOP}")
            record_catalog_item(shop.store, item)
        sizes = sorted(len(body) for body in bodies)
        say(f"Catalogue: {PRODUCTS} products; {total:,} orders/paid bodies of {sizes[0]:,}-{sizes[-1]:,} bytes")
        view: list[float] = []
        baseline: list[float] = []
        for i, body in enumerate(bodies):
            headers = delivery_headers(body, i, API_SECRET, placed)
            if i % 2:  # interleaved, alternating which goes first
                spent_view = timed_post(client, WEBHOOK_PATH, body, headers)
                spent_base = timed_post(client, "/" + BASELINE_PATH, body, headers)
            else:
                spent_base = timed_post(client, "/" + BASELINE_PATH, body, headers)
                spent_view = timed_post(client, WEBHOOK_PATH, body, headers)
            if i >= WARMUP:
                view.append(spent_view)
                baseline.append(spent_base)
            if (i + 1 - WARMUP) % PROGRESS_EVERY == 0 and i >= WARMUP:
                say(
                    f"  posted {i + 1 - WARMUP:,} / {deliveries:,} deliveries "
                    f"(view p50 so far {statistics.median(view) * 1000:.2f} ms)"
                )
        stored = WebhookDelivery.objects.filter(store=shop.store, topic="orders/paid").count()
        pending = WebhookDelivery.objects.filter(store=shop.store, status=WebhookDelivery.Status.PENDING).count()
        say(f"Stored {stored:,} deliveries ({pending:,} pending, queued on the in-memory broker); starting a worker")
        processed, seconds = process_with_worker(total, say)
        orders = Order.objects.for_store(shop.store).count()
        done = WebhookDelivery.objects.filter(store=shop.store, status=WebhookDelivery.Status.PROCESSED).count()

    v, b = summary(view), summary(baseline)
    say("")
    say(f"Shopify orders/paid webhooks, {vendor}: {deliveries:,} measured deliveries (+{WARMUP} warm-up), test client")
    say(f"{'request':<44}{'p50':>10}{'p95':>10}{'p99':>10}{'mean':>10}")
    for name, s in (("baseline: HMAC verify + empty 200", b), ("webhook view: verify + store + enqueue", v)):
        say(name.ljust(44) + "".join(f"{s[k] * 1000:>7.2f} ms" for k in ("p50", "p95", "p99", "mean")))
    say("view / baseline".ljust(44) + "".join(f"{v[k] / b[k]:>9.2f}x" for k in ("p50", "p95", "p99", "mean")))
    say(
        f"worker: {processed:,} deliveries processed in {seconds:.2f} s = {processed / seconds:,.0f} deliveries/s "
        f"({done:,} processed, {orders:,} orders recorded)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    args = parser.parse_args()
    if args.deliveries < 1:
        parser.error("--deliveries must be at least 1")
    with throwaway_database(args.database_url) as vendor:
        run(args.deliveries, vendor)


if __name__ == "__main__":
    main()
