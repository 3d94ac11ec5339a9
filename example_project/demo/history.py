"""A seeded generator of a believable purchase history for the demo store.

No real customer data is used. Buyers follow a few personas so that the history has the
co-purchase structure a recommender should find:

* director fans buy several films by the same director, and often merchandise of them;
* genre fans stay within one or two genres;
* learners buy a course's modules in order (or the whole course), then a related course;
* casual buyers pick popular items.

The same seed and end date always give the same history.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("data") / "catalog.json"

COUNTRIES = [
    ("GB", "en-GB", "Europe/London"),
    ("FR", "fr-FR", "Europe/Paris"),
    ("DE", "de-DE", "Europe/Berlin"),
]
COUNTRIES += [
    ("US", "en-US", "America/New_York"),
    ("ES", "es-ES", "Europe/Madrid"),
    ("JP", "ja-JP", "Asia/Tokyo"),
]


@dataclass
class SimCustomer:
    email: str
    first_name: str
    country: str
    locale: str
    timezone: str
    email_consent: bool
    persona: str


@dataclass
class SimOrder:
    order_id: str
    customer: SimCustomer
    placed_at: datetime
    upcs: list[str] = field(default_factory=list)


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class _Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.films = data["films"]
        self.courses = data["courses"]
        self.by_director: dict[str, list[str]] = defaultdict(list)
        self.by_genre: dict[str, list[str]] = defaultdict(list)
        for film in self.films:
            self.by_director[film["director"]].append(film["upc"])
            for genre in film["genres"]:
                self.by_genre[genre].append(film["upc"])
        self.merch_of: dict[str, list[str]] = defaultdict(list)
        for merch in data["merch"]:
            self.merch_of[merch["film"]].append(merch["upc"])
        self.directors = sorted(self.by_director)
        self.genres = sorted(self.by_genre)
        # A long-tailed popularity: earlier-listed films of each director are more popular.
        self.popular = [f["upc"] for f in self.films]


def generate_history(
    data: dict[str, Any] | None = None,
    *,
    orders: int = 2400,
    seed: int = 7,
    end: datetime | None = None,
    days: int = 365,
) -> list[SimOrder]:
    """At least ``orders`` orders, oldest first, placed within ``days`` before ``end``."""
    catalog = _Catalog(data or load_catalog())
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    history: list[SimOrder] = []
    n = 0
    while len(history) < orders:
        n += 1
        country, locale, tz = rng.choice(COUNTRIES)
        persona = rng.choices(["director", "genre", "learner", "casual"], weights=[40, 25, 25, 10])[0]
        customer = SimCustomer(
            email=f"viewer{n:04d}@example.com",
            first_name=f"Viewer {n}",
            country=country,
            locale=locale,
            timezone=tz,
            email_consent=rng.random() < 0.6,
            persona=persona,
        )
        baskets = _baskets(persona, catalog, rng)
        first = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds() * 0.8)))
        when = first
        for basket in baskets:
            if when >= end:
                break
            history.append(SimOrder(order_id="", customer=customer, placed_at=when, upcs=basket))
            when += timedelta(days=rng.expovariate(1 / 20), seconds=rng.randrange(86_400))
    history.sort(key=lambda order: (order.placed_at, order.customer.email))
    for i, order in enumerate(history, start=1):
        order.order_id = f"H{i:06d}"
    return history


def _baskets(persona: str, catalog: _Catalog, rng: random.Random) -> list[list[str]]:
    if persona == "director":
        return _film_fan(
            catalog,
            rng,
            pools=[catalog.by_director[d] for d in rng.sample(catalog.directors, 2)],
        )
    if persona == "genre":
        return _film_fan(
            catalog,
            rng,
            pools=[catalog.by_genre[g] for g in rng.sample(catalog.genres, 2)],
        )
    if persona == "learner":
        return _learner(catalog, rng)
    return [[rng.choice(catalog.popular[:40])] for _ in range(rng.randint(1, 3))]


def _film_fan(catalog: _Catalog, rng: random.Random, pools: list[list[str]]) -> list[list[str]]:
    main, side = pools
    wanted = list(main)
    rng.shuffle(wanted)
    wanted = wanted[: rng.randint(2, len(wanted))]
    if rng.random() < 0.4:
        wanted += rng.sample(side, min(len(side), rng.randint(1, 2)))
    baskets: list[list[str]] = []
    owned: list[str] = []
    while wanted:
        size = min(len(wanted), rng.choice([1, 1, 1, 2, 2, 3]))
        basket, wanted = wanted[:size], wanted[size:]
        # Merchandise follows the films it belongs to.
        for film in owned:
            for merch in catalog.merch_of.get(film, []):
                if rng.random() < 0.35 and merch not in basket:
                    basket.append(merch)
        owned += [u for u in basket if u.startswith("film-")]
        baskets.append(list(dict.fromkeys(basket)))
    if owned and rng.random() < 0.3:
        extras = [m for f in owned for m in catalog.merch_of.get(f, [])]
        if extras:
            baskets.append([rng.choice(extras)])
    return baskets


def _learner(catalog: _Catalog, rng: random.Random) -> list[list[str]]:
    course = rng.choice(catalog.courses)
    baskets: list[list[str]] = []
    if rng.random() < 0.3:
        baskets.append([course["upc"]])
    else:
        for module in course["modules"]:
            baskets.append([module["upc"]])
            if rng.random() > 0.75:  # a quarter stop after each module
                break
    if rng.random() < 0.45:
        related = [c for c in catalog.courses if c is not course and set(c["tags"]) & set(course["tags"])]
        other = rng.choice(related or [c for c in catalog.courses if c is not course])
        baskets.append([other["upc"] if rng.random() < 0.5 else other["modules"][0]["upc"]])
    return baskets
