"""Writes a synthetic shop as the plugin's CSV pair (items.csv, orders.csv).

    python -m bench.make_fixture [--out bench/fixtures] [--seed 7]
    python -m bench.make_fixture --baskets --out DIR [--seed 7] [--items 4000] [--customers 2000] [--orders N]

Invented data, no real shop or dataset behind it. By default, the small fixture for checking
the CSV path of bench.quality: 200 items in 10 themes, 320 customers who each favour one or two
themes and buy 1-4 items per order over 240 days, with some items that tend to be bought
together ("kits"), so that a recommender has something to find. With ``--baskets``, the basket
shop of ``bench/baskets.py`` (one kind, multi-line orders, repeat customers, seasons; about
190,000 lines at the default size). Seeded: the same command writes the same files.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

THEMES = ("baking", "coffee", "garden", "yoga", "camping", "painting", "cycling", "knitting", "chess", "aquarium")
KINDS = ("product", "course", "video")
N_ITEMS = 200
N_CUSTOMERS = 320
DAYS = 240
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    kind: str
    price: float
    theme: str
    tags: tuple[str, ...]


def make_items(rng: random.Random) -> list[Item]:
    items = []
    for n in range(N_ITEMS):
        theme = THEMES[n % len(THEMES)]
        kind = rng.choice(KINDS)
        level = rng.choice(("starter", "intermediate", "advanced"))
        price = round(rng.uniform(4, 120), 2)
        items.append(Item(f"sku-{n:04d}", f"{theme.title()} {kind} {n}", kind, price, theme, (theme, level, kind)))
    return items


def kit_partner(item: int) -> int:
    """Items come in kits of two within a theme: 0 with 10, 20 with 30, ..."""
    return item + len(THEMES) if (item // len(THEMES)) % 2 == 0 else item - len(THEMES)


def pick_order(
    rng: random.Random, themes: list[str], by_theme: dict[str, list[int]], weights: list[float]
) -> list[int]:
    size = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    chosen: list[int] = []
    while len(chosen) < size:
        pool = by_theme[rng.choice(themes)] if rng.random() < 0.85 else list(range(N_ITEMS))
        item = rng.choices(pool, weights=[weights[i] for i in pool])[0]
        if item not in chosen:
            chosen.append(item)
        if len(chosen) < size and rng.random() < 0.5 and kit_partner(item) not in chosen:
            chosen.append(kit_partner(item))
    return chosen[:size]


def make_orders(rng: random.Random, items: list[Item]) -> list[list[object]]:
    by_theme = {theme: [i for i, item in enumerate(items) if item.theme == theme] for theme in THEMES}
    weights = [1.0 / (1 + (i // len(THEMES)) * 0.3) for i in range(N_ITEMS)]  # earlier items sell more
    rows: list[list[object]] = []
    for customer in range(N_CUSTOMERS):
        themes = rng.sample(THEMES, rng.choice((1, 2)))
        moment = START + timedelta(days=rng.uniform(0, DAYS * 0.6))
        while moment < START + timedelta(days=DAYS):
            order_id = f"o{customer:04d}-{moment:%m%d%H%M}"
            for item in pick_order(rng, themes, by_theme, weights):
                quantity = rng.choices((1, 2), weights=(9, 1))[0]
                line = [order_id, f"c{customer:04d}", items[item].item_id, moment.replace(microsecond=0).isoformat()]
                rows.append([*line, quantity, items[item].price])
            moment += timedelta(days=rng.expovariate(1 / 45), minutes=rng.randrange(600))
    rows.sort(key=lambda row: (str(row[3]), str(row[0])))
    return rows


def write(out: Path, items: list[Item], orders: list[list[object]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "title", "kind", "price", "description", "tags"])
        for item in items:
            description = f"A {item.kind} for {item.theme} fans."
            tags = "|".join(item.tags)
            writer.writerow([item.item_id, item.title, item.kind, f"{item.price:.2f}", description, tags])
    with (out / "orders.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "ordered_at", "quantity", "unit_price"])
        writer.writerows(orders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="directory to write to (default: bench/fixtures; required with --baskets)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baskets", action="store_true", help="the basket shop of bench/baskets.py")
    parser.add_argument("--items", type=int, default=4000, help="with --baskets: catalogue size")
    parser.add_argument("--customers", type=int, default=2000, help="with --baskets: customers")
    parser.add_argument("--orders", type=int, default=None, help="with --baskets: about this many orders in all")
    args = parser.parse_args()
    if args.baskets:
        if not args.out:
            parser.error("--baskets needs --out (bench/fixtures keeps the small fixture)")
        from bench.baskets import generate_dataset, write_csv

        dataset = generate_dataset(args.seed, items=args.items, customers=args.customers, orders=args.orders)
        write_csv(dataset, Path(args.out))
        print(f"wrote {dataset.catalog.size} items and {len(dataset.events)} order lines to {args.out}")
        return
    args.out = args.out or str(Path(__file__).resolve().parent / "fixtures")
    rng = random.Random(args.seed)
    items = make_items(rng)
    orders = make_orders(rng, items)
    write(Path(args.out), items, orders)
    print(f"wrote {len(items)} items and {len(orders)} order lines to {args.out}")


if __name__ == "__main__":
    main()
