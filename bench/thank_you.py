"""Server time of Oscar's thank-you page with and without the recommendation block.

    python -m bench.thank_you [--items 20000] [--orders 60000] [--requests 200] [--via wsgi|test-client]
                              [--database-url URL]

Builds a throw-away test database holding the Oscar store of ``bench.surfaces`` (``--items``
films, ``--orders`` orders, trained as ``crosssell_train`` does), one Oscar product that is
one of those films, and a real Oscar order placed through Oscar's checkout by a customer with
a purchase history. Then, in one process, with the same data and the same session, it GETs
the thank-you page alternately in rounds of 20:

* **without the block**: Oscar's own ``checkout/thank_you.html`` (the example project's
  template directory, which holds the override, switched off);
* **first view**: the override, as a buyer first sees it: the recommendations were computed
  ahead by the ``crosssell.compute_ahead`` task when the purchase was recorded (re-done before
  each request, outside the timing), the block is read and its four impressions handed on;
* **reload**: the same page again, the rendered block served from the cache;
* **computed in the request**: ``BLOCK_CACHE_SECONDS = 0``, nothing computed ahead or cached,
  every request computes the recommendations (as when no worker has run yet).

The first two requests after each switch are not counted (template loading). Server time is
the time of Django's whole request/response cycle in this process: with ``--via wsgi`` (the
default) Django's ``WSGIHandler`` is called with the request's WSGI environ, as a WSGI server
calls it, and the response is read and closed; database connections are kept between requests
(as with ``CONN_MAX_AGE``) and templates are not instrumented. ``--via test-client`` uses
Django's test client instead, which also copies the context of every template rendered (one
more template, the override, costs one more copy).

Celery is configured as in production: a Redis broker (``--broker``), not eager, so a page
that shows the block hands its impressions to the process's impression buffer, whose thread
publishes ``crosssell.log_impressions`` messages (``IMPRESSION_FLUSH_SECONDS``, default 1).
After the timing the buffer is flushed, a real worker process is started on the same database
and queue, and the benchmark waits until every impression of the run has been written by it
(and reports how long that took).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager

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
    parser.add_argument(
        "--via",
        choices=("wsgi", "test-client"),
        default="wsgi",
        help="serve through Django's WSGI handler or test client",
    )
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
    from crosssell_plugin.surfaces.blocks import _cache_key as block_key
    from crosssell_plugin.surfaces.blocks import _order_subject as order_subject
    from crosssell_plugin.templatetags.crosssell import render_ahead
    from crosssell_plugin.tracking import flush_impressions
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
    key = block_key(store, order_subject(order.external_id), "thank_you", 4, None)

    def ahead() -> None:  # as if never shown: only the block's own cache entry goes
        cache.delete(key)
        render_ahead(order, compute_ahead(order))  # what the crosssell.compute_ahead task does

    serve = _wsgi_server(client, url) if args.via == "wsgi" else _test_client_server(client, url)
    with celery_configured(broker_url=args.broker, task_always_eager=False, task_default_queue=queue):
        with serve as get:
            _measure(rounds, modes, get, ahead, timings, sizes)
        flushed = flush_impressions()
        expected = before + 4 * 22 * rounds * 2  # first views and computed-in-request views log 4 each
        written, seconds = _drain(queue, args.broker, store, expected)
    impressions = written - before
    base = np.median(timings["without the block"])
    print(
        f"database: {vendor}; served through {'the WSGI handler' if args.via == 'wsgi' else 'the test client'}; "
        f"{args.items:,} items, {args.orders:,} orders; {rounds * 20} requests per mode, interleaved in rounds "
        f"of 20; {impressions:,} impressions published ({flushed:,} of them by the final flush) and written by "
        f"a real worker within {seconds:.1f}s after the run"
    )
    for mode in MODES:
        ms = np.array(timings[mode]) * 1000
        ratio = np.median(timings[mode]) / base
        print(
            f"{mode:>26}: p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"{ratio:5.2f}x of the page without the block (p50)  {sizes[mode]:,} bytes"
        )


@contextmanager
def _test_client_server(client, url):  # type: ignore[no-untyped-def]
    def get() -> tuple[int, bytes]:
        response = client.get(url)
        return response.status_code, response.content

    yield get


@contextmanager
def _wsgi_server(client, url):  # type: ignore[no-untyped-def]
    """GET ``url`` with ``client``'s cookies through Django's WSGIHandler, as a WSGI server would;
    connections kept between requests, templates not instrumented (restored afterwards)."""
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections
    from django.test.client import RequestFactory
    from django.test.utils import setup_test_environment, teardown_test_environment

    handler = WSGIHandler()
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    factory = RequestFactory()

    def get() -> tuple[int, bytes]:
        environ = factory._base_environ(PATH_INFO=url, REQUEST_METHOD="GET", HTTP_COOKIE=cookie)
        statuses: list[str] = []
        body = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            content = b"".join(body)
        finally:
            body.close()
        return int(statuses[0].split()[0]), content

    teardown_test_environment()
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        setup_test_environment()


def _measure(rounds, modes, get, ahead, timings, sizes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        for mode in MODES:
            with modes[mode]:
                for n in range(22):
                    if mode == "first view":
                        ahead()
                    t = time.perf_counter()
                    status, content = get()
                    elapsed = time.perf_counter() - t
                    assert status == 200, status
                    has_block = b'class="crosssell-block"' in content
                    assert has_block == (mode != "without the block"), mode
                    sizes[mode] = len(content)
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
