"""Server time of Oscar's thank-you page with and without the recommendation block.

    python -m bench.thank_you [--items 20000] [--orders 60000] [--requests 200] [--database-url URL]

Builds a throw-away test database holding the Oscar store of ``bench.surfaces`` (``--items``
films, ``--orders`` orders, trained as ``crosssell_train`` does), one Oscar product that is
one of those films, and a real Oscar order placed through Oscar's checkout by a customer with
a purchase history. Then, in one process, with the same data and the same session, it GETs
the thank-you page alternately in rounds of 20:

* **without the block**: Oscar's own ``checkout/thank_you.html`` (the example project's
  template directory, which holds the override, switched off);
* **first view**: the override, as a buyer first sees it: the recommendations were computed
  ahead by the ``crosssell.compute_ahead`` task when the purchase was recorded (re-done before
  each request, outside the timing), the block is rendered and its four impressions logged;
* **reload**: the same page again, the rendered block served from the cache;
* **computed in the request**: ``BLOCK_CACHE_SECONDS = 0``, nothing computed ahead or cached,
  every request computes the recommendations (as when no worker has run yet).

The first two requests after each switch are not counted (template loading). Server time is
the time Django's test client takes for the whole request/response cycle in this process.

Celery is configured as in production: a Redis broker (``--broker``), not eager, so a page
that shows the block publishes one ``crosssell.log_impressions`` message. After the timing a
real worker process is started on the same database and queue, and the benchmark waits until
every impression of the run has been written by it (and reports how long that took).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from bench.django_db import ROOT, throwaway_database

MODES = ("without the block", "first view", "reload", "computed in the request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200, help="requests measured per mode")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as vendor:
        run(args, vendor)


def _place_order(film_pk: int, email: str):  # type: ignore[no-untyped-def]
    """A real Oscar checkout of one film by a guest; returns the logged-in client and the URL."""
    from django.test import Client
    from django.test.utils import override_settings

    from tests.integrations.oscar.conftest import Checkout, Product

    client = Client()
    checkout = Checkout(client)
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        checkout.add_to_basket(Product.objects.get(pk=film_pk))
        checkout.start_as_guest(email)
        checkout.choose_method_and_pay()
        response = checkout.place_order()
    assert response.status_code == 302, response.content[:500]
    return client, response["Location"]


def run(args: argparse.Namespace, vendor: str) -> None:
    from django.conf import settings
    from django.core.cache import cache
    from django.test.utils import override_settings
    from django.utils import translation

    from bench.surfaces import _build
    from crosssell_plugin.models import Customer, Impression, Item, Order
    from crosssell_plugin.recommend import compute_ahead, get_model
    from crosssell_plugin.templatetags.crosssell import _cache_key as block_key
    from crosssell_plugin.templatetags.crosssell import render_ahead
    from crosssell_plugin.training import train_store
    from integrations.base import get_adapter
    from tests.conftest import celery_configured
    from tests.integrations.oscar.conftest import Catalogue

    started = time.perf_counter()
    store, n_lines = _build(args, platform="oscar", external_id=get_adapter("oscar").store_ref().external_id)
    # one of the most bought films becomes a real Oscar product
    film = Catalogue().product("film", "Film 0", upc="FILM-0", price="9.99", director="Agnès Varda")
    Item.objects.for_store(store).filter(external_id=str(film.pk)).delete()  # as synced on save
    Item.objects.for_store(store).filter(external_id="i0").update(external_id=str(film.pk))
    print(f"built {args.orders:,} orders ({n_lines:,} lines) in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    version = train_store(store)
    assert get_model(store) is not None, version.error
    buyer = (
        Customer.objects.for_store(store).filter(orders__lines__item__external_id=str(film.pk)).order_by("pk").first()
    )
    client, url = _place_order(film.pk, buyer.email)
    order = Order.objects.for_store(store).select_related("store", "customer").order_by("-pk").first()
    assert order.customer_id == buyer.pk, "the Oscar order was not recorded for the buyer"

    no_override = [{**settings.TEMPLATES[0], "DIRS": []}]
    modes = {
        "without the block": override_settings(TEMPLATES=no_override, ALLOWED_HOSTS=["testserver"]),
        "first view": override_settings(ALLOWED_HOSTS=["testserver"]),
        "reload": override_settings(ALLOWED_HOSTS=["testserver"]),
        "computed in the request": override_settings(
            CROSSSELL={**settings.CROSSSELL, "BLOCK_CACHE_SECONDS": 0}, ALLOWED_HOSTS=["testserver"]
        ),
    }
    translation.activate(settings.LANGUAGE_CODE)  # the block's cache key names the language
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    sizes: dict[str, int] = {}
    rounds = max(1, args.requests // 20)
    before = Impression.objects.for_store(store).count()
    queue = f"crosssell-bench-{os.getpid()}"
    with celery_configured(broker_url=args.broker, task_always_eager=False, task_default_queue=queue):
        ahead = (block_key, compute_ahead, render_ahead)
        _measure(rounds, modes, client, url, cache, ahead, store, order, timings, sizes)
        expected = before + 4 * 22 * rounds * 2  # first views and computed-in-request views log 4 each
        written, seconds = _drain(queue, args.broker, store, expected)
    impressions = written - before
    base = np.median(timings["without the block"])
    print(
        f"database: {vendor}; {args.items:,} items, {args.orders:,} orders; {rounds * 20} requests per mode, "
        f"interleaved in rounds of 20; {impressions:,} impressions published and written by a real "
        f"worker within {seconds:.1f}s after the run"
    )
    for mode in MODES:
        ms = np.array(timings[mode]) * 1000
        ratio = np.median(timings[mode]) / base
        print(
            f"{mode:>26}: p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"{ratio:5.2f}x of the page without the block (p50)  {sizes[mode]:,} bytes"
        )


def _measure(rounds, modes, client, url, cache, ahead, store, order, timings, sizes) -> None:  # type: ignore[no-untyped-def]
    block_key, compute_ahead, render_ahead = ahead
    for _ in range(rounds):
        for mode in MODES:
            with modes[mode]:
                for n in range(22):
                    if mode == "first view":  # as if never shown: only the block's own cache entry goes
                        cache.delete(block_key(store, f"order:{order.pk}", "thank_you", 4, None))
                        render_ahead(order, compute_ahead(order))  # what crosssell.compute_ahead does
                    t = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - t
                    assert response.status_code == 200, response.status_code
                    has_block = b'class="crosssell-block"' in response.content
                    assert has_block == (mode != "without the block"), mode
                    sizes[mode] = len(response.content)
                    if n >= 2:
                        timings[mode].append(elapsed)


def _drain(queue: str, broker: str, store, expected: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Start a real Celery worker on the run's queue and database; wait for ``expected`` impressions."""
    from django.db import connection

    from crosssell_plugin.models import Impression
    from tests.conftest import celery_worker

    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": broker,
    }
    started = time.perf_counter()
    with celery_worker(f"{queue}@bench", queue, env, quiet=True):
        written = 0
        while time.perf_counter() - started < 120:
            written = Impression.objects.for_store(store).count()
            if written >= expected:
                break
            time.sleep(0.2)
    if written < expected:
        raise RuntimeError(f"the worker wrote {written} of {expected} impressions in 120 s")
    return written, time.perf_counter() - started


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
