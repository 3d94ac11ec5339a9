"""How long recording a purchase takes, against a bare insert of the same rows.

    python -m bench.ingest [--orders 2000] [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Creates a throw-away test database (SQLite file by default), records ``--orders`` new
purchases of 1-3 lines through ``record_purchase`` (validation, customer/item upserts, the
idempotency check, the signal), then delivers each again (the duplicate path), and compares
with a baseline measured in the same run: the same Order/OrderLine rows written with
``objects.create`` / ``bulk_create`` and nothing else.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.django_db import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as vendor:
        run(args.orders, vendor)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def run(n: int, vendor: str) -> None:
    from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
    from crosssell_plugin.ingest import record_purchase
    from crosssell_plugin.models import Customer, Item, Order, OrderLine, Store

    rng = random.Random(1)
    store = Store.objects.create(platform="custom", external_id="bench", name="Bench", currency="EUR")
    baseline_store = Store.objects.create(platform="custom", external_id="baseline", name="Base", currency="EUR")
    items = [CatalogItem(f"i{i}", f"Item {i}", "film", Decimal("9.99"), "EUR", genres=("Drama",)) for i in range(500)]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        PurchaseEvent(
            store=StoreRef("custom", "bench"),
            order_id=f"o{k}",
            occurred_at=t0 + timedelta(minutes=k),
            currency="EUR",
            customer=CustomerData(email=f"c{rng.randrange(n // 3 + 1)}@example.com"),
            lines=tuple(PurchaseLine(item, 1, item.price) for item in rng.sample(items, rng.randint(1, 3))),
        )
        for k in range(n)
    ]

    # Baseline: the same rows, written directly (no validation, no upsert, no idempotency).
    base_items = {
        i.external_id: Item.objects.create(
            store=baseline_store, external_id=i.external_id, kind="film", title=i.title, price=i.price, currency="EUR"
        )
        for i in items
    }
    base_customers: dict[str, Customer] = {}
    baseline = []
    for event in events:
        start = time.perf_counter()
        customer = base_customers.get(event.customer.email)
        if customer is None:
            customer = base_customers[event.customer.email] = Customer.objects.create(
                store=baseline_store, email=event.customer.email
            )
        order = Order.objects.create(
            store=baseline_store,
            customer=customer,
            external_id=event.order_id,
            placed_at=event.occurred_at,
            currency="EUR",
            total=event.total,
            lines_fingerprint="",
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order, position=p, item=base_items[li.item.external_id], quantity=1, unit_price=li.unit_price
            )
            for p, li in enumerate(event.lines, 1)
        )
        baseline.append(time.perf_counter() - start)

    new, dup = [], []
    for event in events:
        start = time.perf_counter()
        record_purchase(event)
        new.append(time.perf_counter() - start)
    for event in events:
        start = time.perf_counter()
        record_purchase(event)
        dup.append(time.perf_counter() - start)
    assert Order.objects.for_store(store).count() == n

    print(f"database: {vendor}, {n} orders of 1-3 lines, {len(base_customers)} customers, 500 items")
    print(f"baseline bare insert     {_ms(baseline)}  {n / sum(baseline):7.0f} orders/s")
    print(f"record_purchase (new)    {_ms(new)}  {n / sum(new):7.0f} orders/s")
    print(f"record_purchase (repeat) {_ms(dup)}  {n / sum(dup):7.0f} orders/s")
    ratio = statistics.median(new) / statistics.median(baseline)
    print(f"median ratio new / baseline: {ratio:.2f}x")


if __name__ == "__main__":
    main()
