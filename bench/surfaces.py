"""How long the recommendation call behind the block and the API takes, with the model loaded.

    python -m bench.surfaces [--items 20000] [--orders 60000] [--requests 1000] [--database-url URL]

Builds a throw-away test database with a synthetic store (``--items`` items, ``--orders``
orders of 1-3 lines, power-law popularity, collections of 20 items), trains it with
``training.train_store`` exactly as ``crosssell_train`` does, then times ``for_order`` (the
thank-you block), ``for_item`` and ``for_customer`` single calls in this process, the model
already loaded. A baseline measured in the same run: fetching the order's own lines (the
least a thank-you page does).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from bench.django_db import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as vendor:
        run(args, vendor)


def _ms(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms"


def _build(args: argparse.Namespace, platform: str = "custom", external_id: str = "bench"):  # type: ignore[no-untyped-def]
    """A store of ``args.items`` films and ``args.orders`` orders; returns (store, number of lines)."""
    from crosssell_plugin.models import Customer, Item, Order, OrderLine, Store

    rng = np.random.default_rng(3)
    store = Store.objects.create(platform=platform, external_id=external_id, name="Bench", currency="EUR")
    Item.objects.bulk_create(
        Item(
            store=store,
            external_id=f"i{i}",
            kind="film",
            title=f"Film {i}",
            price=Decimal("9.99"),
            currency="EUR",
            tags=[f"collection-{i // 20}"],
            url=f"/films/{i}/",
        )
        for i in range(args.items)
    )
    items = list(Item.objects.for_store(store).order_by("pk").values_list("pk", flat=True))
    Customer.objects.bulk_create(Customer(store=store, email=f"c{c}@example.com") for c in range(args.customers))
    customers = list(Customer.objects.for_store(store).order_by("pk").values_list("pk", flat=True))
    n_coll = args.items // 20
    pop = 1.0 / np.arange(1, n_coll + 1) ** 0.9
    pop /= pop.sum()
    favourite = rng.choice(n_coll, size=len(customers), p=pop)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    order_customer = rng.integers(0, len(customers), args.orders)
    Order.objects.bulk_create(
        Order(
            store=store,
            customer_id=customers[c],
            external_id=f"o{k}",
            placed_at=t0 + timedelta(minutes=k),
            currency="EUR",
            total=Decimal("9.99"),
            lines_fingerprint="",
        )
        for k, c in enumerate(order_customer)
    )
    order_pks = list(Order.objects.for_store(store).order_by("pk").values_list("pk", flat=True))
    lines = []
    for k, c in enumerate(order_customer):
        coll = favourite[c] if rng.random() < 0.8 else rng.choice(n_coll, p=pop)
        chosen = {int(coll * 20 + min(rng.zipf(1.6) - 1, 19)) for _ in range(rng.integers(1, 4))}
        lines += [
            OrderLine(order_id=order_pks[k], position=p, item_id=items[i], quantity=1, unit_price=Decimal("9.99"))
            for p, i in enumerate(sorted(chosen), 1)
        ]
    OrderLine.objects.bulk_create(lines, batch_size=5000)
    return store, len(lines)


def run(args: argparse.Namespace, vendor: str) -> None:
    from crosssell_plugin.models import Customer, Item, Order, OrderLine
    from crosssell_plugin.recommend import for_customer, for_item, for_order, get_model
    from crosssell_plugin.training import train_store

    started = time.perf_counter()
    store, n_lines = _build(args)
    print(
        f"built {args.orders:,} orders ({n_lines:,} lines) over {args.items:,} items in "
        f"{time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    started = time.perf_counter()
    version = train_store(store)
    print(
        f"trained version {version.version} ({version.status}) in {time.perf_counter() - started:.1f}s", file=sys.stderr
    )
    assert get_model(store) is not None
    orders = list(Order.objects.for_store(store).order_by("?")[: args.requests])
    items = list(Item.objects.for_store(store).order_by("?")[: args.requests])
    customers = list(Customer.objects.for_store(store).order_by("?")[: args.requests])
    timings: dict[str, list[float]] = {
        "baseline: the order's lines": [],
        "for_order": [],
        "for_item": [],
        "for_customer": [],
    }
    for order, item, customer in zip(orders, items, customers, strict=False):
        t = time.perf_counter()
        list(OrderLine.objects.for_store(store).filter(order=order).select_related("item"))
        timings["baseline: the order's lines"].append(time.perf_counter() - t)
        for name, call in (
            ("for_order", lambda order=order: for_order(order)),
            ("for_item", lambda item=item: for_item(item)),
            ("for_customer", lambda customer=customer: for_customer(customer)),
        ):
            t = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - t)
    print(f"database: {vendor}; {args.items:,} items, {args.orders:,} orders, {len(orders)} requests each, limit 4")
    for name, samples in timings.items():
        print(f"{name:>28}: {_ms(samples)}")


if __name__ == "__main__":
    main()
