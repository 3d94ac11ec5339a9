"""Oscar's checkout and thank-you page with the Celery broker up, down, and not answering.

    python -m bench.broker_down [--rounds 5] [--per-round 4] [--states up,down,not-answering]
                                [--database-url URL] [--broker URL]

Builds a throw-away test database holding an Oscar shop (``--films`` films, ``--history``
earlier orders, a trained model, the classic follow-up path on), then, in one process, places
real guest checkouts through Oscar's views (Django's test client) and times two requests of each:

* **checkout POST**: the preview page's "place order" (Oscar creates the order; crosssell's
  ``order_placed`` receiver hands ``crosssell.oscar.record_order`` to Celery after commit);
* **thank-you GET**: Oscar's thank-you page with crosssell's block.

Three broker states, interleaved: each round runs ``--per-round`` checkouts in each state.

* **up**: the broker and the result backend are the real Redis of ``--broker``, not eager, and a
  real Celery worker process (solo pool) serves the run's queue; after the POST the benchmark
  waits, outside the timing, until the worker has recorded the order (as a shopper reading the
  confirmation would);
* **down**: the broker and the result backend are a local port where nothing listens (Redis
  stopped: the connection is refused at once);
* **not answering**: a local port that listens but never accepts, its queue full (a host that
  drops packets: every connection attempt waits for its timeout).

Celery's settings are the demo store's (``example_project/shop/settings.py``: connect timeout
0.25 s, one publish retry); the plugin's circuit breaker is on (``crosssell_plugin.queueing``:
after a failure a process skips the broker for 5 s), so a request that pays a failed attempt is
followed by requests that do not; the maximum shows the former. The block is computed in the
request in every state (the cache is per process, so a block rendered ahead by the worker is
not seen here). Afterwards every checkout is checked: its order recorded, its follow-ups planned.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bench.django_db import ROOT, throwaway_database

STATES = ("up", "down", "not answering")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=4, help="checkouts per broker state and round")
    parser.add_argument("--films", type=int, default=12)
    parser.add_argument("--history", type=int, default=60, help="earlier orders the model is trained on")
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15", help="the real Redis of the 'up' state")
    parser.add_argument("--states", default="up,down,not-answering", help="broker states to measure, 'up' first")
    args = parser.parse_args()
    args.states = [state.replace("-", " ") for state in args.states.split(",")]
    if args.states[0] != "up" or not set(args.states) <= set(STATES):
        parser.error(f"--states: 'up' first, then any of {', '.join(s.replace(' ', '-') for s in STATES[1:])}")
    with throwaway_database(args.database_url) as vendor:
        run(args, vendor)


class _Counter(logging.Handler):
    """Counts the warnings of crosssell_plugin.queueing (the fallbacks it took)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _build_shop(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """Oscar films, earlier orders of pairs of them, a trained model, the classic path on."""
    from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
    from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
    from crosssell_plugin.ingest import record_purchase
    from crosssell_plugin.models import ModelVersion, Path
    from crosssell_plugin.training import train_store
    from integrations.base import get_adapter
    from tests.integrations.oscar.conftest import Catalogue

    catalogue = Catalogue()
    films = [catalogue.product("film", f"Film {n}", upc=f"FILM-{n}", price="7.50") for n in range(args.films)]
    adapter = get_adapter("oscar")
    store = adapter.store()
    ref = StoreRef("oscar", store.external_id)
    items = [adapter.product_to_item(film) for film in films]
    t0 = datetime.now(UTC) - timedelta(days=60)
    for k in range(args.history):
        pair = (items[k % len(items)], items[(k + 1 + k // len(items)) % len(items)])
        lines = tuple(PurchaseLine(item, 1, item.price) for item in pair)
        customer = CustomerData(f"past{k}@example.com")
        record_purchase(PurchaseEvent(ref, f"past-{k}", t0 + timedelta(hours=k), "EUR", customer, lines))
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    Path.objects.for_store(store).filter(name=DEFAULT_PATH_NAME).update(enabled=True)
    return films, store


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _not_answering() -> Iterator[str]:
    """A Redis URL whose port listens but whose accept queue is full: connecting waits (SYNs dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        raise RuntimeError("the full listening socket accepted a connection; cannot simulate a silent broker")
    except TimeoutError:
        pass
    finally:
        probe.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def _checkout(film: Any, email: str, wait_recorded: bool) -> tuple[float, float, str]:
    """One guest checkout of ``film``: (POST seconds, GET seconds, Oscar order number)."""
    from django.test import Client
    from django.urls import reverse
    from oscar.core.loading import get_model

    from crosssell_plugin.models import Order
    from tests.integrations.oscar.conftest import Checkout

    client = Client()
    checkout = Checkout(client)
    checkout.add_to_basket(film)
    checkout.start_as_guest(email)
    checkout.choose_method_and_pay()
    started = time.perf_counter()
    response = checkout.place_order()
    post = time.perf_counter() - started
    assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you"), response
    number = get_model("order", "Order").objects.order_by("-pk").values_list("number", flat=True).first()
    if wait_recorded:  # the worker records it (outside the timing)
        deadline = time.monotonic() + 60
        while not Order.objects.filter(external_id=number).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not record order {number} within 60 s")
            time.sleep(0.01)
    started = time.perf_counter()
    page = client.get(response["Location"])
    get = time.perf_counter() - started
    assert page.status_code == 200 and b'class="crosssell-block"' in page.content, page.status_code
    return post, get, number


def run(args: argparse.Namespace, vendor: str) -> None:
    from django.db import connection
    from django.test.utils import override_settings

    from crosssell_plugin.models import Order, ScheduledMessage
    from crosssell_plugin.tracking import flush_impressions
    from tests.conftest import celery_configured, celery_worker

    started = time.perf_counter()
    films, store = _build_shop(args)
    print(f"built the shop in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    counter = _Counter()
    queueing_log = logging.getLogger("crosssell_plugin.queueing")
    queueing_log.addHandler(counter)
    queueing_log.propagate = False  # counted, not printed
    queue = f"crosssell-bench-down-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    down = f"redis://127.0.0.1:{_free_port()}/0"
    timings: dict[str, dict[str, list[float]]] = {s: {"post": [], "get": []} for s in args.states}
    numbers: dict[str, list[str]] = {s: [] for s in args.states}
    warnings: dict[str, int] = dict.fromkeys(args.states, 0)
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": args.broker,
    }
    n = 0
    with (
        override_settings(ALLOWED_HOSTS=["testserver"]),
        _not_answering() as silent,
        celery_configured(broker_url=args.broker, task_always_eager=False, task_default_queue=queue),
        celery_worker(f"{queue}@bench", queue, env, quiet=True),
    ):
        urls = {"up": args.broker, "down": down, "not answering": silent}
        for _ in range(args.rounds):
            for state in args.states:
                before = counter.count
                with celery_configured(broker_url=urls[state], result_backend=urls[state]):
                    for _ in range(args.per_round):
                        n += 1
                        post, get, number = _checkout(films[n % len(films)], f"shopper{n}@example.com", state == "up")
                        timings[state]["post"].append(post)
                        timings[state]["get"].append(get)
                        numbers[state].append(number)
                    flush_impressions()  # this state's broker takes (or misses) what the pages showed
                warnings[state] += counter.count - before
    _report(args, vendor, timings)
    for state in args.states:
        recorded = Order.objects.for_store(store).filter(external_id__in=numbers[state])
        planned = ScheduledMessage.objects.for_store(store).filter(order__in=recorded).count()
        print(
            f"{state:>13}: {len(numbers[state])} checkouts, {recorded.count()} orders recorded, "
            f"{planned} follow-ups planned; {warnings[state]} fallbacks logged"
        )


def _report(args: argparse.Namespace, vendor: str, timings: dict[str, dict[str, list[float]]]) -> None:
    print(
        f"database: {vendor}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
        f"{args.rounds} rounds x {args.per_round} checkouts per broker state, interleaved; Django test client"
    )
    print("| request | broker | median | max | median vs broker up |")
    print("|---|---|---|---|---|")
    for request, label in (("post", "checkout POST"), ("get", "thank-you GET")):
        base = float(np.median(timings["up"][request]))
        for state in args.states:
            ms = np.array(timings[state][request]) * 1000
            ratio = float(np.median(timings[state][request])) / base
            print(f"| {label} | {state} | {np.median(ms):.1f} ms | {ms.max():.1f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
