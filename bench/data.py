"""Loading purchase data for the quality benchmark: the plugin's CSV pair, or MovieLens 100K.

Both loaders return a :class:`Dataset`: a catalog (item metadata, index = item index) and one
event per purchased (order, item) pair, sorted by time. Nothing is downloaded; MovieLens is read
from a directory you give (its licence forbids copying it into this repository).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np

MOVIELENS_POSITIVE = 4  # ratings >= 4 are purchases


@dataclass(frozen=True)
class Catalog:
    """Item metadata; position i describes item index i."""

    item_ids: list[str]
    titles: list[str]
    kinds: list[str]
    prices: np.ndarray  # float64, NaN where unknown
    descriptions: list[str]
    tags: list[tuple[str, ...]]

    @property
    def size(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class Events:
    """One row per purchased (order, item) pair, sorted by (time, order, line)."""

    user: np.ndarray  # int64 user index
    item: np.ndarray  # int64 item index
    time: np.ndarray  # float64 unix seconds
    order: np.ndarray  # int64 order index
    quantity: np.ndarray  # float64

    def subset(self, mask: np.ndarray) -> Events:
        return Events(self.user[mask], self.item[mask], self.time[mask], self.order[mask], self.quantity[mask])

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: Literal["retail", "movielens", "baskets"]
    catalog: Catalog
    user_ids: list[str]
    order_ids: list[str]
    events: Events


# --- the plugin's CSV import format ---------------------------------------------------------


def parse_time(text: str) -> float:
    """ISO 8601 to unix seconds; a time without an offset is read as UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _price(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def load_items_csv(path: Path) -> Catalog:
    """items.csv: item_id,title,kind,price,description,tags (tags separated by ``|``)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return Catalog(
        item_ids=[row["item_id"].strip() for row in rows],
        titles=[row.get("title") or "" for row in rows],
        kinds=[row.get("kind") or "" for row in rows],
        prices=np.array([_price(row.get("price") or "") for row in rows], dtype=np.float64),
        descriptions=[row.get("description") or "" for row in rows],
        tags=[tuple(t.strip() for t in (row.get("tags") or "").split("|") if t.strip()) for row in rows],
    )


def _extend_catalog(catalog: Catalog, extra_ids: list[str]) -> Catalog:
    """Items ordered but missing from items.csv join the catalog with empty metadata."""
    if not extra_ids:
        return catalog
    print(f"warning: {len(extra_ids)} ordered item ids are not in items.csv; added without metadata", file=sys.stderr)
    n = len(extra_ids)
    return Catalog(
        item_ids=catalog.item_ids + extra_ids,
        titles=catalog.titles + [""] * n,
        kinds=catalog.kinds + [""] * n,
        prices=np.concatenate([catalog.prices, np.full(n, math.nan)]),
        descriptions=catalog.descriptions + [""] * n,
        tags=catalog.tags + [()] * n,
    )


def _index(ids: Iterable[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for value in ids:
        index.setdefault(value, len(index))
    return index


def load_csv(orders_path: Path, items_path: Path) -> Dataset:
    """orders.csv (order_id,customer_id,item_id,ordered_at,quantity,unit_price) + items.csv."""
    with orders_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    catalog = load_items_csv(items_path)
    items = _index(catalog.item_ids)
    catalog = _extend_catalog(catalog, [i for i in _index(r["item_id"].strip() for r in rows) if i not in items])
    items = _index(catalog.item_ids)
    users = _index(r["customer_id"].strip() for r in rows)
    orders = _index(r["order_id"].strip() for r in rows)
    lines: dict[tuple[int, int], list[float]] = {}  # (order, item) -> [user, time, quantity, first row]
    for position, row in enumerate(rows):
        key = (orders[row["order_id"].strip()], items[row["item_id"].strip()])
        quantity = float(row.get("quantity") or 1)
        if key in lines:
            lines[key][2] += quantity
            continue
        lines[key] = [users[row["customer_id"].strip()], parse_time(row["ordered_at"]), quantity, position]
    return Dataset(
        name=f"csv:{orders_path.name}+{items_path.name}",
        kind="retail",
        catalog=catalog,
        user_ids=list(users),
        order_ids=list(orders),
        events=_events_from_lines(lines),
    )


def _events_from_lines(lines: dict[tuple[int, int], list[float]]) -> Events:
    order = np.array([key[0] for key in lines], dtype=np.int64)
    item = np.array([key[1] for key in lines], dtype=np.int64)
    user, time, quantity, position = (np.array(col) for col in zip(*lines.values(), strict=True))
    # one time per order (the earliest line's), so an order's lines never straddle a cut
    order_time = np.full(order.max() + 1, np.inf)
    np.minimum.at(order_time, order, time)
    time = order_time[order]
    sort = np.lexsort((position, order, time))
    return Events(user.astype(np.int64)[sort], item[sort], time[sort], order[sort], quantity[sort])


# --- MovieLens 100K -------------------------------------------------------------------------


def load_movielens_items(directory: Path) -> Catalog:
    """u.item (Latin-1, ``|``-separated) with genres (named in u.genre) as tags."""
    genre_lines = (directory / "u.genre").read_text(encoding="latin-1").splitlines()
    genres = {int(i): name for name, i in (line.split("|") for line in genre_lines if line.strip())}
    names = [genres[i] for i in range(len(genres))]
    rows = [line.split("|") for line in (directory / "u.item").read_text(encoding="latin-1").splitlines() if line]
    return Catalog(
        item_ids=[row[0] for row in rows],
        titles=[row[1] for row in rows],
        kinds=["film"] * len(rows),
        prices=np.full(len(rows), math.nan),
        descriptions=[""] * len(rows),
        tags=[tuple(name for name, flag in zip(names, row[5:], strict=True) if flag == "1") for row in rows],
    )


def load_movielens(directory: Path) -> Dataset:
    """Ratings >= 4 are purchases; one user's ratings in the same second form one order."""
    catalog = load_movielens_items(directory)
    raw = np.loadtxt(directory / "u.data", dtype=np.int64, delimiter="\t")
    raw = raw[raw[:, 2] >= MOVIELENS_POSITIVE]
    user_ids = sorted({int(u) for u in raw[:, 0]})
    users = {u: i for i, u in enumerate(user_ids)}
    items = {int(item_id): i for i, item_id in enumerate(catalog.item_ids)}
    user = np.array([users[int(u)] for u in raw[:, 0]], dtype=np.int64)
    item = np.array([items[int(i)] for i in raw[:, 1]], dtype=np.int64)
    time = raw[:, 3].astype(np.float64)
    sort = np.lexsort((item, user, time))
    user, item, time = user[sort], item[sort], time[sort]
    keys = np.stack([user, time.astype(np.int64)], axis=1)
    unique, order = np.unique(keys, axis=0, return_inverse=True)
    return Dataset(
        name=directory.name or "movielens",
        kind="movielens",
        catalog=catalog,
        user_ids=[str(u) for u in user_ids],
        order_ids=[f"{user_ids[u]}@{t}" for u, t in unique],
        events=Events(user, item, time, order.astype(np.int64).ravel(), np.ones(len(user))),
    )


# --- baskets without dates (Ta Feng, NBR preprocessing) -------------------------------------

#: Ta Feng's first shopping day; baskets carry no dates, so basket n of a customer gets day n after it
BASKET_EPOCH = datetime(2000, 11, 1, tzinfo=UTC)


def load_baskets_json(path: Path, *, kind: str = "product") -> Dataset:
    """``{"<customer>": [[item, ...], ...]}`` with baskets oldest first (the NBR "Reality Check"
    format of Ta Feng). Basket n of a customer is placed at a synthetic time, ``BASKET_EPOCH`` +
    n days: only the per-customer order of baskets is real. Items have no metadata; their
    kind is ``kind``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise SystemExit(f"{path}: expected a JSON object of customer -> baskets")
    item_index: dict[int, int] = {}
    user, item, time, order, order_ids = [], [], [], [], []
    user_ids = sorted(raw, key=lambda c: (len(c), c))
    for u, customer in enumerate(user_ids):
        for n, basket in enumerate(raw[customer]):
            moment = (BASKET_EPOCH + timedelta(days=n)).timestamp()
            o = len(order_ids)
            order_ids.append(f"{customer}#{n}")
            for product in dict.fromkeys(int(i) for i in basket):
                user.append(u)
                item.append(item_index.setdefault(product, len(item_index)))
                time.append(moment)
                order.append(o)
    n_items = len(item_index)
    ids = [""] * n_items
    for product, i in item_index.items():
        ids[i] = str(product)
    catalog = Catalog(
        item_ids=ids,
        titles=[""] * n_items,
        kinds=[kind] * n_items,
        prices=np.full(n_items, math.nan),
        descriptions=[""] * n_items,
        tags=[()] * n_items,
    )
    user_a, time_a, order_a = np.array(user, np.int64), np.array(time, np.float64), np.array(order, np.int64)
    sort = np.lexsort((np.arange(len(user_a)), order_a, time_a))
    events = Events(user_a[sort], np.array(item, np.int64)[sort], time_a[sort], order_a[sort], np.ones(len(user_a)))
    return Dataset(
        name=path.parent.name or path.stem,
        kind="baskets",
        catalog=catalog,
        user_ids=user_ids,
        order_ids=order_ids,
        events=events,
    )
