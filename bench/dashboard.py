"""How fast the store owner's dashboard answers on a big store, against the same figures computed
from the raw rows in the same run.

    python -m bench.dashboard [--orders 1000000] [--customers 300000] [--database-url URL]

On a throw-away test database (SQLite file by default):

1. **Data**: one store with its holdout experiment (10 % held out), ``--customers`` customers
   each assigned to holdout or treatment by the plugin's own salted hash at their first order,
   ``--orders`` orders over the last year in total (each customer's first order triggers the
   assignment, the rest are further orders, 3 % of them partly refunded), one line per order,
   impressions of three recommendations on a fifth of the treated customers' orders, clicks on
   a tenth of those and conversions on a tenth of the clicks. Written with ``bulk_create``.
2. **Rollup**: ``crosssell_plugin.experiments.rollup.run(store, full=True)`` (what
   ``manage.py crosssell_rollup --full`` does), timed once.
3. **Dashboard**: ``report.build(store)`` over the last 90 days (what the admin and Oscar pages
   and the API read), timed ``--repeat`` times: p50 and max.
4. **Baseline**: the headline figure (net revenue and orders per arm within the windows) computed
   live by one aggregate query over the raw orders and assignments, timed the same way. The ratio
   baseline / dashboard says what the rollups buy.

Progress is printed as it goes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.django_db import throwaway_database

BATCH = 20_000
ITEMS = 2_000


def _say(message: str) -> None:
    print(message, flush=True)


def populate(orders: int, customers: int, seed: int) -> Any:
    """The store, written in batches; returns it."""
    from crosssell_plugin.experiments.assignment import bucket, ensure_holdout, pick
    from crosssell_plugin.models import (
        Assignment,
        Click,
        Conversion,
        Customer,
        Impression,
        Item,
        Order,
        OrderLine,
        Store,
    )

    rng = random.Random(seed)
    store = Store.objects.create(platform="bench", external_id="dashboard", name="Bench store", currency="EUR")
    experiment = ensure_holdout(store)
    for arm in experiment.arms.all():  # the plugin's default 10 % (the test settings hold none out)
        arm.weight = Decimal("0.1") if arm.holdout else Decimal("0.9")
        arm.save(update_fields=["weight"])
    arms = list(experiment.arms.order_by("pk"))
    shares = [(arm, float(arm.weight)) for arm in arms]
    Item.objects.bulk_create(
        [
            Item(store=store, external_id=f"i{n}", kind="product", title=f"Product {n}", price=Decimal(5 + n % 95))
            for n in range(ITEMS)
        ]
    )
    items = list(Item.objects.for_store(store).values_list("pk", "price"))
    Customer.objects.bulk_create(
        [Customer(store=store, email=f"c{n}@example.com") for n in range(customers)], batch_size=BATCH
    )
    customer_ids = list(Customer.objects.for_store(store).order_by("pk").values_list("pk", flat=True))
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    # each customer's orders: the first at a random moment of the year, the rest after it
    per_customer = [1] * customers
    for _ in range(orders - customers):
        per_customer[rng.randrange(customers)] += 1
    arm_of = {cid: pick(shares, bucket(experiment.salt, str(cid))) for cid in customer_ids}

    pending_orders: list[Order] = []
    pending_lines: list[tuple[int, int, Decimal]] = []
    written = 0
    order_no = 0

    def flush() -> None:
        nonlocal written
        Order.objects.bulk_create(pending_orders, batch_size=BATCH)
        by_external = dict(
            Order.objects.for_store(store)
            .filter(external_id__in=[o.external_id for o in pending_orders])
            .values_list("external_id", "pk")
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(order_id=by_external[o.external_id], position=1, item_id=item, quantity=1, unit_price=price)
                for o, (_, item, price) in zip(pending_orders, pending_lines, strict=True)
            ],
            batch_size=BATCH,
        )
        written += len(pending_orders)
        pending_orders.clear()
        pending_lines.clear()
        _say(f"  orders {written:,}/{orders:,}")

    first_orders: dict[int, tuple[str, datetime]] = {}
    for cid, count in zip(customer_ids, per_customer, strict=True):
        placed = start + timedelta(seconds=rng.randrange(365 * 86_400))
        for k in range(count):
            if k:
                placed = min(now, placed + timedelta(days=rng.expovariate(1 / 12)))
            item, price = items[rng.randrange(ITEMS)]
            total = price * (1 + rng.randrange(3))
            refunded = (total / 2).quantize(Decimal("0.01")) if rng.random() < 0.03 else Decimal(0)
            order_no += 1
            external = f"o{order_no}"
            if k == 0:
                first_orders[cid] = (external, placed)
            pending_orders.append(
                Order(
                    store=store,
                    customer_id=cid,
                    external_id=external,
                    placed_at=placed,
                    currency="EUR",
                    total=total,
                    refunded_total=refunded,
                    status="partially_refunded" if refunded else "placed",
                    lines_fingerprint=external,
                )
            )
            pending_lines.append((cid, item, price))
            if len(pending_orders) >= BATCH:
                flush()
    if pending_orders:
        flush()

    _say("  assignments")
    order_pk = dict(Order.objects.for_store(store).values_list("external_id", "pk"))
    Assignment.objects.bulk_create(
        [
            Assignment(
                store=store,
                experiment=experiment,
                arm=arm_of[cid],
                customer_id=cid,
                trigger_order_id=order_pk[external],
                assigned_at=placed,
            )
            for cid, (external, placed) in first_orders.items()
        ],
        batch_size=BATCH,
    )

    _say("  impressions, clicks, conversions")
    treated = [cid for cid in customer_ids if not arm_of[cid].holdout]
    impressions: list[Impression] = []
    for cid in rng.sample(treated, len(treated) // 5):
        external, placed = first_orders[cid]
        for rank in range(1, 4):
            item, _ = items[rng.randrange(ITEMS)]
            impressions.append(
                Impression(
                    store=store,
                    order_id=order_pk[external],
                    customer_id=cid,
                    item_id=item,
                    placement="thank_you",
                    rank=rank,
                    score=1.0 / rank,
                    created_at=placed,
                )
            )
    Impression.objects.bulk_create(impressions, batch_size=BATCH)
    shown = list(Impression.objects.for_store(store).values_list("pk", "created_at", "order_id", "item_id"))
    clicked = rng.sample(shown, len(shown) // 10)
    Click.objects.bulk_create([Click(impression_id=pk, created_at=at) for pk, at, _, _ in clicked], batch_size=BATCH)
    conversions = [
        Conversion(impression_id=pk, order_id=order, item_id=item, amount=Decimal(20), currency="EUR", created_at=at)
        for pk, at, order, item in rng.sample(clicked, len(clicked) // 10)
    ]
    Conversion.objects.bulk_create(conversions, batch_size=BATCH)
    return store


def baseline(store: Any) -> dict[str, tuple[int, Decimal]]:
    """Net revenue and further orders per arm within 30 days of each assignment, live from the raw rows."""
    from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum

    from crosssell_plugin.models import Order

    window = timedelta(days=30)
    rows = (
        Order.objects.for_store(store)
        .filter(
            customer__assignments__experiment__layer="holdout",
            placed_at__gt=F("customer__assignments__trigger_order__placed_at"),
            placed_at__lte=F("customer__assignments__trigger_order__placed_at") + window,
        )
        .values("customer__assignments__arm__name")
        .annotate(
            net=Sum(
                ExpressionWrapper(
                    F("total") - F("refunded_total"), output_field=DecimalField(max_digits=14, decimal_places=4)
                )
            ),
            orders=Count("pk"),
        )
    )
    return {row["customer__assignments__arm__name"]: (row["orders"], row["net"]) for row in rows}


def timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return times, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="", help="postgres://... (default: a SQLite file)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.orders < args.customers:
        parser.error("--orders must be at least --customers, and --customers at least 1")

    with throwaway_database(args.database_url) as vendor:
        from django.db import connection, reset_queries

        from crosssell_plugin.experiments import report, rollup

        _say(f"Writing {args.orders:,} orders of {args.customers:,} customers ({vendor})")
        began = time.perf_counter()
        store = populate(args.orders, args.customers, args.seed)
        populate_s = time.perf_counter() - began

        _say("Rollup (full)")
        began = time.perf_counter()
        run = rollup.run(store, full=True, progress=lambda done, total, message: _say(f"  {done}/{total} {message}"))
        rollup_s = time.perf_counter() - began

        _say(f"Dashboard: report.build x{args.repeat}")
        dashboard_times, built = timed(lambda: report.build(store), args.repeat)
        reset_queries()
        connection.force_debug_cursor = True
        report.build(store)
        queries = len(connection.queries)
        connection.force_debug_cursor = False
        _say(f"Baseline: live aggregate over the raw rows x{args.repeat}")
        baseline_times, live = timed(lambda: baseline(store), args.repeat)

    figures = {
        "vendor": vendor,
        "orders": args.orders,
        "customers": args.customers,
        "populate_s": round(populate_s, 1),
        "rollup_s": round(rollup_s, 1),
        "rollup_rows": run.rows,
        "dashboard_p50_ms": round(statistics.median(dashboard_times) * 1000, 1),
        "dashboard_max_ms": round(max(dashboard_times) * 1000, 1),
        "dashboard_queries": queries,
        "baseline_p50_ms": round(statistics.median(baseline_times) * 1000, 1),
        "baseline_max_ms": round(max(baseline_times) * 1000, 1),
        "baseline_over_dashboard": round(statistics.median(baseline_times) / statistics.median(dashboard_times), 1),
        "uplift_currencies": [u.currency for u in built.uplift],
        "live_orders_per_arm": {arm: orders for arm, (orders, _) in live.items()},
    }
    _say(json.dumps(figures, indent=2, default=str))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
