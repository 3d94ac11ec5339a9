"""Follow-up paths: what planning adds to recording a purchase, and how fast one dispatcher sends.

    python -m bench.followups [--orders 1000] [--messages 2000] [--database-url postgres://...] [--trained]

Creates a throw-away test database (SQLite file by default) and, in the same run:

1. records ``--orders`` new purchases through ``record_purchase`` in a store whose only path is
   disabled, and as many in a store with the default three-step path enabled, and reports the
   wall time of each (p50/p99) and of the planning receiver alone;
2. empties the outbox, plans ``--messages`` due SMS follow-ups and sends them with one
   ``dispatch_due`` worker through the console SMS backend (output discarded), re-ranking each at
   send time, and reports messages per second (wall clock, and per second of the worker's CPU
   time, which a busy machine disturbs less). By default the store has no trained model (the
   popular fallback, with the customer's owned items removed); with ``--trained`` each customer
   has an earlier order of three films and the store a trained model, so re-ranking scores with it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.django_db import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    parser.add_argument(
        "--trained", action="store_true", help="dispatch in a store with a trained model (else the popular fallback)"
    )
    args = parser.parse_args()
    with throwaway_database(args.database_url) as vendor:
        print(f"$ python -m bench.followups {' '.join(sys.argv[1:])}")
        machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
        print(f"machine: {machine}, Python {platform.python_version()}")
        print(f"database: {vendor}")
        planning(args.orders)
        dispatching(args.messages, trained=args.trained)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def _events(store_id: str, n: int, t0: datetime) -> list:
    from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef

    items = [CatalogItem(f"i{i}", f"Item {i}", "film", Decimal("9.99"), "EUR", genres=("Drama",)) for i in range(200)]
    return [
        PurchaseEvent(
            store=StoreRef("custom", store_id),
            order_id=f"o{k}",
            occurred_at=t0 + timedelta(minutes=k),
            currency="EUR",
            customer=CustomerData(email=f"c{k % (n // 3 + 1)}@example.com"),
            lines=tuple(PurchaseLine(items[(k * 7 + j) % 200], 1, Decimal("9.99")) for j in range(1 + k % 3)),
        )
        for k in range(n)
    ]


def planning(n: int) -> None:
    from crosssell_plugin.followups import planning as planning_module
    from crosssell_plugin.ingest import record_purchase
    from crosssell_plugin.models import Path, ScheduledMessage, Store

    t0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
    stores = {
        name: Store.objects.create(platform="custom", external_id=name, name=name, currency="EUR")
        for name in ("without", "with")
    }
    Path.objects.for_store(stores["with"]).update(enabled=True)
    receiver_samples: list[float] = []
    original = planning_module.plan_order

    def timed(order):  # the receiver's own cost, measured around the real function
        started = time.perf_counter()
        try:
            return original(order)
        finally:
            receiver_samples.append(time.perf_counter() - started)

    planning_module.plan_order = timed
    samples: dict[str, list[float]] = {"without": [], "with": []}
    try:
        batches = {name: _events(name, n, t0) for name in stores}
        for k in range(n):  # interleaved, so both see the same warm caches and database size
            for name in ("without", "with"):
                started = time.perf_counter()
                record_purchase(batches[name][k])
                samples[name].append(time.perf_counter() - started)
    finally:
        planning_module.plan_order = original
    planned = ScheduledMessage.objects.for_store(stores["with"]).count()
    with_path = receiver_samples[1::2]  # the calls made for the store with the enabled path
    print(f"\nrecord_purchase, {n} new orders per store ({planned} follow-ups planned):")
    print(f"  no enabled path        {_ms(samples['without'])}")
    print(f"  3-step path enabled    {_ms(samples['with'])}")
    diff50 = (statistics.median(samples["with"]) - statistics.median(samples["without"])) * 1000
    print(f"  difference of medians  {diff50:+.2f} ms")
    print(f"  planning receiver alone (enabled path): {_ms(with_path)}")
    print(f"  planning receiver alone (no path):      {_ms(receiver_samples[0::2])}")


def dispatch_fixture(m: int, trained: bool = False):  # type: ignore[no-untyped-def]
    """A store with ``m`` due SMS follow-ups (two steps of ``m // 2`` orders), quiet hours off and a
    frequency cap that never bites; with ``trained``, each customer also has an earlier order of
    three films and the store a trained model, so re-ranking scores with the model (``for_order``)
    instead of the popular fallback. Returns the store."""
    from django.conf import settings
    from django.utils import timezone

    from crosssell_plugin.models import (
        Customer,
        CustomerConsent,
        Item,
        Order,
        OrderLine,
        Path,
        ScheduledMessage,
        Step,
        Store,
    )

    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None, "FREQUENCY_CAP": 1000}
    store = Store.objects.create(platform="custom", external_id="dispatch", name="Dispatch", currency="EUR")
    items = Item.objects.bulk_create(
        Item(store=store, external_id=f"d{n}", kind="film", title=f"Film {n}", price=Decimal("5"), currency="EUR")
        for n in range(50)
    )
    path = Path.objects.create(store=store, name="bench", enabled=True)
    steps = Step.objects.bulk_create(
        Step(path=path, position=p, name=f"s{p}", delay=timedelta(hours=p), channel="sms", template="soft_upsell")
        for p in (1, 2)
    )
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(store=store, email=f"d{n}@example.com", phone=f"+1415555{n:04d}") for n in range(m // 2)
    )
    CustomerConsent.objects.bulk_create(
        CustomerConsent(customer=c, channel="sms", granted=True, source="bench", recorded_at=now) for c in customers
    )
    if trained:
        from crosssell_plugin.recommend import get_model
        from crosssell_plugin.training import train_store

        earlier = Order.objects.bulk_create(
            Order(
                store=store,
                customer=c,
                external_id=f"e{n}",
                placed_at=now - timedelta(days=30),
                currency="EUR",
                total=15,
            )
            for n, c in enumerate(customers)
        )
        OrderLine.objects.bulk_create(
            OrderLine(order=o, position=j + 1, item=items[(n + 7 * j) % 50], quantity=1, unit_price=Decimal("5"))
            for n, o in enumerate(earlier)
            for j in range(3)
        )
        version = train_store(store)
        assert get_model(store) is not None, version.error
    orders = Order.objects.bulk_create(
        Order(store=store, customer=c, external_id=f"d{n}", placed_at=now - timedelta(days=1), currency="EUR", total=5)
        for n, c in enumerate(customers)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=o, position=1, item=items[n % 50], quantity=1, unit_price=Decimal("5"))
        for n, o in enumerate(orders)
    )
    ScheduledMessage.objects.bulk_create(
        (
            ScheduledMessage(
                store=store,
                customer_id=o.customer_id,
                order=o,
                path=path,
                step=s,
                idempotency_key=f"{o.customer_id}:{o.pk}:{s.pk}",
                channel="sms",
                due_at=now - timedelta(minutes=1),
            )
            for o in orders
            for s in steps
        ),
        batch_size=500,
    )
    return store


def dispatching(m: int, trained: bool = False) -> None:
    from crosssell_plugin.followups.dispatch import dispatch_until_empty
    from crosssell_plugin.models import ScheduledMessage

    # the follow-ups planned by the first part are due too (their purchases are in the past):
    # out of the outbox, so the run handles exactly the messages it reports
    ScheduledMessage.objects.all().delete()
    store = dispatch_fixture(m, trained=trained)
    total = ScheduledMessage.objects.for_store(store).count()
    started, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        reports = dispatch_until_empty(worker_id="bench")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    sent = sum(r.sent for r in reports)
    ranking = "a trained model" if trained else "the popular fallback (no trained model)"
    print(f"\ndispatch, one worker, console SMS backend, re-ranked at send time with {ranking}: {total} due")
    print(f"  sent {sent} in {seconds:.2f} s = {sent / seconds:.0f} messages/s")
    print(f"  CPU time of the worker process: {cpu:.2f} s = {sent / cpu:.0f} messages per CPU second")


if __name__ == "__main__":
    main()
