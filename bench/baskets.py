"""A seeded basket shop: invented merch orders shaped like a real gift shop's order history.

    python -m bench.baskets [--seed 7] [--items 4000] [--customers 2000] [--orders N]   # what it makes
    python -m bench.quality --baskets [--seed 7]                                        # models on it
    python -m bench.make_fixture --baskets --out DIR [--seed 7]                         # the CSV pair

No real shop or dataset is behind it: names, prices and orders are drawn from the rules below,
with one ``numpy`` generator seeded by ``seed`` (same seed and knobs, same data). The result is a
``bench.data.Dataset`` of kind ``retail`` (real times: ``bench.protocol.split_retail`` applies)
spanning ``days`` days up to ``end``, with orders in every 28-day window. Each rule has its knob
in :class:`ShopParams`:

- **One kind.** Every item is ``merch``; titles read like "Red floral mug", tags are the theme and
  the family (plus the season for seasonal items), prices are shop prices (1.25, 2.95, ...).
- **Families** (``variants_p``, ``family_together``): a design of a product type in one theme
  ("floral mug") comes in 1-8 colours, sizes or set sizes; after picking one variant, an order
  adds other variants of the same family with probability ``family_together``.
- **Themes** (``theme_exponent``): about 45 themes (collections); theme popularity ~ rank^-0.8.
- **Power-law popularity** (``family_sigma``): family appeal is lognormal around its theme's
  popularity, the first variants sell best: the top 10 % of items take nearly half the lines.
- **Multi-line orders** (``lines_median``, ``lines_customer_sigma``, ``lines_order_sigma``,
  ``max_lines``): lines per order are lognormal (median about 10, mean about 20), with a
  per-customer factor (some customers always buy big); some retail orders exceed 100 lines.
- **Repeat customers** (``occasional_share``, ``occasional_p``, ``loyal_orders``, ``loyal_sigma``):
  most customers are occasional (1 order, sometimes 2-3: geometric), the loyal ones place a
  lognormal number of orders (median 8, some place dozens).
- **Wholesale accounts** (``wholesale_share``, ``wholesale_orders``, ``wholesale_lines``,
  ``wholesale_affinity``): a few accounts (0.6 % of customers, at least one) order all through
  the period, about 60 lines an order (one in five over 100), in bulk quantities, across many
  themes; their histories reach 1,500+ distinct items.
- **Taste that drifts** (``theme_affinity``, ``drift``): each customer favours 1-4 themes (10-16
  for wholesale); a share ``theme_affinity`` of their new picks comes from them, the rest from
  the whole shop; after each order one favourite is replaced with probability ``drift``.
- **Repeat purchases** (``repeat_share``, ``wholesale_repeat``, ``repeat_half_life_days``): a
  customer's order re-buys items of their earlier orders (a Beta-distributed share per customer,
  mean ``repeat_share``), the often and recently bought ones first.
- **New and seasonal items** (``new_share``, ``launch_boost``, ``launch_days``, ``retire_share``):
  a share of families launches during the period and sells ``1 + launch_boost`` times more in
  its first weeks (the boost decays over ``launch_days``); some families are discontinued.
  Christmas families sell from September, peak in late November and stop at Christmas (new
  Christmas ranges launch in late August); Valentine, Easter and summer themes peak in their
  season. The order volume grows over the period (``growth``), peaks in November and dips over
  the holidays and at weekends.
- **Bought next** (``follow_prob``, ``follow_days``, ``companion_demand``): starter items (a tea
  light holder, a cake stand, a bird feeder, ...) have a companion of the same design (tea
  lights, cake cases, bird seed) that their buyers add to a later order (probability
  ``follow_prob`` per order, fading over ``follow_days``), rarely to the same one; companions
  sell little on their own (``companion_demand``).

Unit prices are the items' list prices. Quantities are shop-like (1, 2, 3, 4, 6, 12, 24;
wholesale 6-96). Lines of one order share one time; items in an order are distinct.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.data import Catalog, Dataset, Events

DAY = 86_400
KIND = "merch"

#: (theme, season); a seasonal theme's items all follow its season
THEMES: tuple[tuple[str, str], ...] = (
    ("spotty", ""), ("floral", ""), ("gingham", ""), ("paisley", ""), ("heart", ""), ("star", ""),
    ("owl", ""), ("songbird", ""), ("woodland", ""), ("botanical", ""), ("vintage map", ""),
    ("strawberry", ""), ("lemon", ""), ("cactus", ""), ("fox", ""), ("honeybee", ""),
    ("butterfly", ""), ("rose", ""), ("ditsy", ""), ("stripe", ""), ("retro kitchen", ""),
    ("french script", ""), ("scandi", ""), ("mosaic", ""), ("folk art", ""), ("rainbow", ""),
    ("robot", ""), ("dinosaur", ""), ("unicorn", ""), ("alphabet", ""), ("cherry", ""),
    ("toadstool", ""), ("sailor", ""), ("hedgehog", ""), ("polar bear", ""), ("teatime", ""),
    ("christmas robin", "christmas"), ("snowflake", "christmas"), ("reindeer", "christmas"),
    ("gingerbread", "christmas"), ("sweetheart", "valentine"), ("easter chick", "easter"),
    ("garden party", "summer"), ("seaside", "summer"),
)  # fmt: skip

#: (product type, list price, variant kind, companion type, season)
TYPES: tuple[tuple[str, float, str, str, str], ...] = (
    ("mug", 1.65, "colour", "", ""), ("teacup and saucer", 2.95, "colour", "", ""),
    ("tea towel", 1.25, "colour", "", ""), ("lunch bag", 1.65, "colour", "", ""),
    ("shopping bag", 2.10, "size", "", ""), ("cake tin", 4.95, "size", "", ""),
    ("biscuit tin", 3.75, "size", "", ""), ("storage jar", 2.55, "size", "", ""),
    ("cushion cover", 3.75, "colour", "", ""), ("hot water bottle", 4.95, "colour", "", ""),
    ("doormat", 7.95, "colour", "", ""), ("lantern", 3.75, "size", "", ""),
    ("bunting", 2.95, "colour", "", ""), ("paper napkins", 0.85, "colour", "", ""),
    ("paper plates", 0.85, "colour", "", ""), ("party cups", 0.65, "colour", "", ""),
    ("gift wrap", 0.42, "colour", "", ""), ("gift bag", 0.85, "size", "", ""),
    ("greeting card", 0.42, "", "", ""), ("notebook", 1.65, "colour", "", ""),
    ("pencil set", 0.85, "set", "", ""), ("purse", 2.55, "colour", "", ""),
    ("keyring", 1.25, "colour", "", ""), ("fridge magnet", 0.85, "", "", ""),
    ("coaster set", 1.25, "set", "", ""), ("placemat", 1.65, "set", "", ""),
    ("apron", 4.95, "colour", "", ""), ("oven glove", 2.95, "colour", "", ""),
    ("chopping board", 4.25, "size", "", ""), ("egg cup", 1.25, "set", "", ""),
    ("money box", 2.55, "colour", "", ""), ("wall clock", 8.50, "colour", "", ""),
    ("photo frame", 2.95, "size", "", ""), ("wall sign", 2.10, "", "", ""),
    ("door hanger", 1.25, "", "", ""), ("doorstop", 4.25, "colour", "", ""),
    ("scented candle", 2.95, "size", "", ""), ("jigsaw", 3.75, "size", "", ""),
    ("playing cards", 1.25, "", "", ""), ("umbrella", 5.95, "colour", "", ""),
    ("water bottle", 3.25, "colour", "", ""), ("pencil case", 1.65, "colour", "", ""),
    ("wash bag", 2.55, "colour", "", ""), ("trinket box", 1.65, "colour", "", ""),
    ("plant pot", 2.10, "size", "", ""), ("hair clips", 0.85, "set", "", ""),
    ("tea light holder", 1.25, "colour", "tea lights", ""), ("tea lights", 0.42, "set", "", ""),
    ("cake stand", 9.95, "size", "cake cases", ""), ("cake cases", 0.55, "set", "", ""),
    ("photo album", 4.95, "colour", "album refill pages", ""), ("album refill pages", 1.65, "set", "", ""),
    ("bird feeder", 3.95, "colour", "bird seed tin", ""), ("bird seed tin", 2.10, "size", "", ""),
    ("recipe box", 4.25, "colour", "recipe cards", ""), ("recipe cards", 1.25, "set", "", ""),
    ("sewing kit", 3.95, "colour", "thread set", ""), ("thread set", 1.45, "set", "", ""),
    ("diary", 2.95, "colour", "diary refill", ""), ("diary refill", 1.25, "", "", ""),
    ("watering can", 4.95, "colour", "seed packets", ""), ("seed packets", 0.85, "set", "", ""),
    ("lunch box", 2.95, "colour", "snack pots", ""), ("snack pots", 1.65, "set", "", ""),
    ("party kit", 5.95, "colour", "party bags", ""), ("party bags", 0.85, "set", "", ""),
    ("bauble", 0.85, "colour", "", "christmas"), ("advent calendar", 4.95, "", "", "christmas"),
    ("christmas stocking", 2.95, "size", "", "christmas"), ("tree decoration", 0.65, "colour", "", "christmas"),
    ("christmas crackers", 3.95, "set", "", "christmas"), ("gift tags", 0.42, "set", "", "christmas"),
)  # fmt: skip

VARIANTS = {
    "colour": ("red", "blue", "pink", "green", "ivory", "black", "yellow", "purple", "grey", "white"),
    "size": ("small", "large", "jumbo", "mini", "medium", "giant"),
    "set": ("set of 3", "set of 6", "set of 12", "set of 24", "set of 2"),
    "": (),
}
DESIGNS = ("", "vintage", "painted", "enamel", "embroidered", "wooden", "glass", "classic", "deluxe", "tiny")

#: season -> (peak day of year, days of rise, days of fall, floor, peak multiplier); before the
#: peak the curve rises over ``rise`` days, after it falls over ``fall`` (Christmas: to Dec 24)
SEASONS: dict[str, tuple[int, float, float, float, float]] = {
    "": (0, 1.0, 1.0, 1.0, 0.0),
    "christmas": (329, 60.0, 14.0, 0.02, 4.0),
    "valentine": (36, 12.0, 4.0, 0.05, 3.0),
    "easter": (90, 18.0, 8.0, 0.1, 2.5),
    "summer": (190, 45.0, 45.0, 0.45, 1.2),
}
SEASON_CODES = tuple(SEASONS)
QUANTITIES = ((1, 2, 3, 4, 6, 12, 24), (0.38, 0.16, 0.06, 0.1, 0.11, 0.15, 0.04))
WHOLESALE_QUANTITIES = ((6, 12, 24, 36, 48, 96), (0.1, 0.3, 0.28, 0.1, 0.15, 0.07))
WEEKDAY = (1.0, 1.0, 1.0, 1.0, 0.8, 0.25, 0.6)  # Monday first


@dataclass(frozen=True)
class ShopParams:
    """The generator's knobs (see the module docstring for what each models)."""

    end: date = date(2025, 12, 9)  # last day of orders
    days: int = 540  # span, ending on ``end``
    theme_exponent: float = 0.8
    family_sigma: float = 1.1
    variants_p: float = 0.42  # variants per family: geometric(p), at most 8 (mean ~2.3)
    new_share: float = 0.35
    launch_boost: float = 3.0
    launch_days: float = 45.0
    retire_share: float = 0.12
    companion_demand: float = 0.3
    growth: float = 0.4
    occasional_share: float = 0.72
    occasional_p: float = 0.55
    loyal_orders: float = 8.0
    loyal_sigma: float = 0.8
    wholesale_share: float = 0.006
    wholesale_orders: float = 50.0
    wholesale_sigma: float = 0.4
    lines_median: float = 8.5
    lines_customer_sigma: float = 0.7
    lines_order_sigma: float = 0.95
    wholesale_lines: float = 60.0
    max_lines: int = 600
    theme_affinity: float = 0.65
    wholesale_affinity: float = 0.4
    drift: float = 0.12
    repeat_share: float = 0.3
    wholesale_repeat: float = 0.4
    repeat_half_life_days: float = 120.0
    family_together: float = 0.35
    follow_prob: float = 0.5
    follow_days: float = 120.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the catalogue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shop:
    """Items in theme, family, variant order (themes and families contiguous)."""

    theme: np.ndarray
    family: np.ndarray  # family index, contiguous
    family_start: np.ndarray  # per family: first item
    family_size: np.ndarray
    companion: np.ndarray  # item index of the companion of the same variant, or -1
    pop: np.ndarray
    launch: np.ndarray  # day index (negative: on sale before the period)
    retire: np.ndarray  # day index from which it is no longer sold (>= days: never)
    titles: list[str]
    tags: list[tuple[str, ...]]
    prices: np.ndarray
    theme_start: np.ndarray
    theme_end: np.ndarray
    theme_pop: np.ndarray
    demand: np.ndarray  # weeks x items: relative sales rate
    cum: np.ndarray  # weeks x items: cumulative demand along the item order


def _season_curve(season: str, doy: np.ndarray) -> np.ndarray:
    peak, rise, fall, floor, height = SEASONS[season]
    if not height:
        return np.ones(len(doy))
    delta = (doy - peak + 182) % 365 - 182  # signed circular distance to the peak
    curve = np.where(delta < 0, np.exp(-0.5 * (delta / (rise / 2)) ** 2), np.exp(-0.5 * (delta / (fall / 2)) ** 2))
    if season == "christmas":
        curve = np.where((doy >= 358) | (doy < 5), 0.0, curve)  # nothing Christmassy after the 24th
    return floor + height * curve


def _price(base: float, rng: np.random.Generator) -> float:
    value = base * math.exp(rng.normal(0, 0.15))
    cents = max(25, 5 * round(value * 20))  # multiples of 5p
    if cents % 100 == 0:
        cents -= 5  # 2.95 rather than 3.00
    return cents / 100


def _catalogue(rng: np.random.Generator, n_items: int, p: ShopParams, start: date) -> _Shop:
    n_themes = len(THEMES)
    theme_pop = (1.0 + rng.permutation(n_themes)) ** -p.theme_exponent
    theme_size = rng.lognormal(0, 0.5, n_themes)
    type_index = {name: j for j, (name, *_rest) in enumerate(TYPES)}
    companions = {companion for *_rest, companion, _season in TYPES if companion}  # come with starters
    used = np.zeros((n_themes, len(TYPES)), np.int64)  # designs per (theme, type) so far
    families: list[tuple[int, int, int, int]] = []  # (theme, type, design, variants)
    companion_of: dict[int, int] = {}  # starter family -> companion family
    total = 0
    while total < n_items:
        t = int(rng.choice(n_themes, p=theme_size / theme_size.sum()))
        theme_season = THEMES[t][1]
        weights = np.array(
            [
                0.0 if name in companions else 3.0 if season and season == theme_season else 0.2 if season else 1.0
                for name, _price, _kind, _companion, season in TYPES
            ]
        )
        weights = weights / (1.0 + used[t]) ** 2
        j = int(rng.choice(len(TYPES), p=weights / weights.sum()))
        name, _base, kind, companion, _season = TYPES[j]
        n_variants = int(min(8, rng.geometric(p.variants_p), max(1, len(VARIANTS[kind])), n_items - total))
        families.append((t, j, int(used[t, j]), n_variants))
        used[t, j] += 1
        total += n_variants
        if companion and total < n_items:
            c = type_index[companion]
            n_comp = int(min(n_variants, max(1, len(VARIANTS[TYPES[c][2]])), n_items - total))
            companion_of[len(families) - 1] = len(families)
            families.append((t, c, int(used[t, c]), n_comp))
            used[t, c] += 1
            total += n_comp
    order = sorted(range(len(families)), key=lambda f: (families[f][0], f))  # themes contiguous
    new_position = {f: n for n, f in enumerate(order)}
    families = [families[f] for f in order]
    companion_of = {new_position[s]: new_position[c] for s, c in companion_of.items()}

    n_fam = len(families)
    sizes = np.array([f[3] for f in families], np.int64)
    family_start = np.r_[0, np.cumsum(sizes)[:-1]]
    family = np.repeat(np.arange(n_fam), sizes)
    theme = np.array([families[f][0] for f in family], np.int64)
    variant = np.arange(n_items) - family_start[family]
    appeal = theme_pop[[f[0] for f in families]] ** 0.7 * rng.lognormal(0, p.family_sigma, n_fam)
    is_companion = np.zeros(n_fam, bool)
    is_companion[list(companion_of.values())] = True
    appeal = np.where(is_companion, appeal * p.companion_demand, appeal)
    pop = appeal[family] * (1.0 + variant) ** -0.7

    companion = np.full(n_items, -1, np.int64)
    for s, c in companion_of.items():
        for v in range(sizes[s]):
            companion[family_start[s] + v] = family_start[c] + min(v, sizes[c] - 1)

    days = p.days
    season_of = [THEMES[t][1] or TYPES[j][4] for t, j, _d, _n in families]
    launch = np.full(n_fam, -10_000, np.int64)
    retire = np.full(n_fam, 10 * days, np.int64)
    for f in range(n_fam):
        if rng.random() < p.new_share:
            if season_of[f] == "christmas":  # Christmas ranges launch in late August
                augusts = [(date(y, 8, 20) - start).days for y in range(start.year, start.year + days // 365 + 2)]
                augusts = [d for d in augusts if 0 <= d < days - 14]
                if augusts:
                    launch[f] = augusts[-1] if rng.random() < 0.6 else int(rng.choice(augusts))
                    launch[f] += int(rng.integers(0, 21))
            else:
                launch[f] = int(rng.integers(0, max(1, days - 14)))
        if rng.random() < p.retire_share and max(launch[f], 0) + 90 < days:
            retire[f] = int(rng.integers(max(launch[f], 0) + 90, days))

    weeks = -(-days // 7)
    week_day = np.arange(weeks) * 7
    doy = np.array([(start + timedelta(days=int(d) + 3)).timetuple().tm_yday for d in week_day])
    season_curves = {s: _season_curve(s, doy) for s in SEASONS}
    fam_season = np.array([SEASON_CODES.index(s) for s in season_of])
    by_season = np.stack([season_curves[s] for s in SEASON_CODES], axis=1)  # weeks x seasons
    age = week_day[:, None] - launch[None, :]  # weeks x families
    alive = (age >= 0) & (week_day[:, None] < retire[None, :])
    boost = 1.0 + p.launch_boost * np.exp(-np.maximum(age, 0) / p.launch_days)
    fam_rate = by_season[:, fam_season] * boost * alive
    demand = fam_rate[:, family] * pop[None, :]

    titles, tags, prices = [], [], np.zeros(n_items)
    for i in range(n_items):
        t, j, design, n_variants = families[family[i]]
        theme_name, name, kind = THEMES[t][0], TYPES[j][0], TYPES[j][2]
        design_word = DESIGNS[design] if design < len(DESIGNS) else f"no. {design}"
        label = VARIANTS[kind][variant[i]] if n_variants > 1 else ""
        base = f"{design_word} {theme_name} {name}".strip()
        title = f"{base}, {label}" if kind == "set" and label else f"{label} {base}".strip()
        titles.append(title[0].upper() + title[1:])
        season = season_of[family[i]]
        tags.append((theme_name, base) + ((season,) if season else ()))
    for f, (_t, j, _d, _n) in enumerate(families):
        base_price = _price(TYPES[j][1], rng)
        start_i = family_start[f]
        for v in range(sizes[f]):  # bigger sizes and sets cost more
            step = 1.0 + 0.35 * v if TYPES[j][2] in ("size", "set") else 1.0
            prices[start_i + v] = _price(base_price * step, rng) if v else base_price

    theme_start = np.searchsorted(theme, np.arange(n_themes), side="left")
    theme_end = np.searchsorted(theme, np.arange(n_themes), side="right")
    return _Shop(
        theme=theme,
        family=family,
        family_start=family_start,
        family_size=sizes,
        companion=companion,
        pop=pop,
        launch=launch[family],
        retire=retire[family],
        titles=titles,
        tags=tags,
        prices=prices,
        theme_start=theme_start,
        theme_end=theme_end,
        theme_pop=theme_pop,
        demand=demand,
        cum=np.cumsum(demand, axis=1),
    )


# --- customers and their orders ---------------------------------------------------------------


def _day_rate(p: ShopParams, start: date) -> np.ndarray:
    """Relative number of orders per day: growth, November peak, holidays, weekends."""
    rate = np.empty(p.days)
    for d in range(p.days):
        day = start + timedelta(days=d)
        doy = day.timetuple().tm_yday
        value = (1.0 + p.growth * d / p.days) * (1.0 + 0.8 * math.exp(-0.5 * ((doy - 318) / 25) ** 2))
        if (day.month == 12 and day.day >= 23) or (day.month == 1 and day.day <= 2):
            value *= 0.15
        rate[d] = value * WEEKDAY[day.weekday()]
    return rate


@dataclass
class _Customer:
    wholesale: bool
    days: np.ndarray  # order days, sorted
    themes: list[int]
    theme_weights: np.ndarray
    size_factor: float
    repeat: float


def _customers(
    rng: np.random.Generator, n: int, orders: int | None, p: ShopParams, rate: np.ndarray
) -> list[_Customer]:
    n_wholesale = max(1, round(n * p.wholesale_share))
    n_occasional = min(n - n_wholesale, round(n * p.occasional_share))
    segment = np.r_[np.zeros(n_occasional), np.ones(n - n_occasional - n_wholesale), np.full(n_wholesale, 2)]
    segment = rng.permutation(segment).astype(np.int64)
    counts = np.where(
        segment == 0,
        rng.geometric(p.occasional_p, n),
        np.where(
            segment == 1,
            np.maximum(2, np.round(rng.lognormal(math.log(p.loyal_orders), p.loyal_sigma, n))),
            np.maximum(10, np.round(rng.lognormal(math.log(p.wholesale_orders), p.wholesale_sigma, n))),
        ),
    ).astype(np.int64)
    if orders is not None:  # rescale to about ``orders`` in all, keeping the shape
        scaled = counts * (orders / counts.sum())
        counts = np.maximum(1, np.floor(scaled + rng.random(n))).astype(np.int64)
    cdf = np.cumsum(rate)
    cdf_lo = np.r_[0.0, cdf]
    customers = []
    for c in range(n):
        seg = int(segment[c])
        if seg == 2:
            first, last = int(rng.integers(0, max(1, p.days // 4))), p.days - 1
        elif seg == 1:
            first = 0 if rng.random() < 0.4 else int(np.searchsorted(cdf, rng.random() * cdf[-min(60, p.days)]))
            last = min(p.days - 1, first + int(max(90, rng.exponential(700))))
        else:
            first = int(np.searchsorted(cdf, rng.random() * cdf[-1]))
            last = min(p.days - 1, first + int(rng.exponential(120)))
        u = cdf_lo[first] + rng.random(int(counts[c])) * (cdf_lo[last + 1] - cdf_lo[first])
        days = np.sort(np.minimum(np.searchsorted(cdf, u, side="right"), p.days - 1))
        n_themes = int(rng.integers(10, 17)) if seg == 2 else int(rng.integers(1, 3 if seg == 0 else 5))
        customers.append(
            _Customer(
                wholesale=seg == 2,
                days=days,
                themes=[],
                theme_weights=rng.dirichlet(np.ones(n_themes)),
                size_factor=float(rng.normal(0, 0.3 if seg == 2 else p.lines_customer_sigma)),
                repeat=p.wholesale_repeat
                if seg == 2
                else float(rng.beta(2, 2 * (1 - p.repeat_share) / p.repeat_share)),
            )
        )
    return customers


def _pick_new(rng: np.random.Generator, shop: _Shop, cust: _Customer, week: int, n: int, affinity: float) -> np.ndarray:
    """``n`` item draws by current demand, from the customer's themes or from the whole shop."""
    cum = shop.cum[week]
    themes = np.array(cust.themes)[rng.choice(len(cust.themes), n, p=cust.theme_weights)]
    own = rng.random(n) < affinity
    lo = np.where(own, shop.theme_start[themes], 0)
    hi = np.where(own, shop.theme_end[themes], len(cum))
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    span = cum[hi - 1] - base
    empty = span <= 0  # a theme out of season or not launched yet: the whole shop instead
    lo, base, span = np.where(empty, 0, lo), np.where(empty, 0.0, base), np.where(empty, cum[-1], span)
    picks = np.searchsorted(cum, base + rng.random(n) * span, side="right")
    return np.clip(picks, lo, len(cum) - 1)


def _orders(rng: np.random.Generator, shop: _Shop, customers: list[_Customer], p: ShopParams) -> list[tuple]:
    """(second, customer, items, quantities) per order, customers in turn, orders oldest first."""
    half_life = p.repeat_half_life_days
    orders: list[tuple] = []
    started = last_report = time.perf_counter()
    n_themes = len(THEMES)
    for c, cust in enumerate(customers):
        cust.themes = [
            int(t) for t in rng.choice(n_themes, len(cust.theme_weights), replace=False, p=_norm(shop.theme_pop))
        ]
        bought: dict[int, list[float]] = {}  # item -> [times bought, last day]
        pending: list[tuple[int, int]] = []  # (starter item, day bought)
        affinity = p.wholesale_affinity if cust.wholesale else p.theme_affinity
        for day in cust.days.tolist():
            week = day // 7
            alive = shop.demand[week] > 0
            if cust.wholesale:
                median, sigma = p.wholesale_lines, 0.5
            else:
                median, sigma = p.lines_median, p.lines_order_sigma
            size = int(np.clip(round(median * math.exp(cust.size_factor + rng.normal(0, sigma))), 1, p.max_lines))
            chosen: dict[int, None] = {}
            groups: list[list[int]] = []
            # bought next: companions of starters bought in earlier orders
            keep = []
            for starter, when in pending:
                partner = int(shop.companion[starter])
                if partner in chosen or partner in bought or not alive[partner]:
                    continue
                if rng.random() < p.follow_prob * math.exp(-(day - when) / p.follow_days):
                    chosen[partner] = None
                    groups.append([partner])
                elif day - when < 3 * p.follow_days:
                    keep.append((starter, when))
            pending = keep
            # repeats of earlier orders' items
            if bought:
                past = np.fromiter(bought, np.int64, len(bought))
                info = np.array(list(bought.values()))
                weight = info[:, 0] * 0.5 ** ((day - info[:, 1]) / half_life) * shop.demand[week, past] / shop.pop[past]
                n_repeat = min(int(rng.binomial(size, cust.repeat)), int((weight > 0).sum()), size - len(chosen))
                if n_repeat > 0:
                    for item in rng.choice(past, n_repeat, replace=False, p=weight / weight.sum()).tolist():
                        if item not in chosen:
                            chosen[item] = None
                            groups.append([item])
            # new picks, with other variants of the same family now and then
            for _attempt in range(6):
                missing = size - len(chosen)
                if missing <= 0:
                    break
                draws = _pick_new(rng, shop, cust, week, max(4, 2 * missing), affinity).tolist()
                together = rng.random(len(draws)) < p.family_together
                for item, with_family in zip(draws, together.tolist(), strict=True):
                    if len(chosen) >= size:
                        break
                    if item in chosen:
                        continue
                    chosen[item] = None
                    group = [item]
                    if with_family and shop.family_size[shop.family[item]] > 1:
                        start = int(shop.family_start[shop.family[item]])
                        others = [
                            v
                            for v in range(start, start + int(shop.family_size[shop.family[item]]))
                            if v not in chosen and alive[v]
                        ]
                        extra = min(len(others), int(rng.geometric(0.5)))
                        for v in rng.choice(others, extra, replace=False).tolist() if extra else []:
                            chosen[v] = None
                            group.append(v)
                    groups.append(group)
            items = [i for g in (groups[k] for k in rng.permutation(len(groups))) for i in g]
            values, probs = WHOLESALE_QUANTITIES if cust.wholesale else QUANTITIES
            quantities = rng.choice(values, len(items), p=probs).tolist()
            second = day * DAY + int(rng.integers(7 * 3600 + 1800, 20 * 3600))
            orders.append((second, c, items, quantities))
            for item in items:
                if item in bought:
                    bought[item][0] += 1
                    bought[item][1] = day
                else:
                    bought[item] = [1.0, float(day)]
                    if shop.companion[item] >= 0:
                        pending.append((item, day))
            if rng.random() < p.drift:  # taste drifts: one favourite theme gives way to another
                fresh = [t for t in range(n_themes) if t not in cust.themes]
                new = int(rng.choice(fresh, p=_norm(shop.theme_pop[fresh])))
                cust.themes[int(rng.integers(len(cust.themes)))] = new
        now = time.perf_counter()
        if now - last_report > 2.0:
            last_report = now
            lines = sum(len(o[2]) for o in orders)
            progress(f"baskets: {c + 1:,}/{len(customers):,} customers, {lines:,} lines ({now - started:.0f}s)")
    return orders


def _norm(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


# --- the dataset ------------------------------------------------------------------------------


def generate_dataset(
    seed: int = 7,
    *,
    items: int = 4000,
    customers: int = 2000,
    orders: int | None = None,
    params: ShopParams | None = None,
) -> Dataset:
    """The basket shop as a ``retail`` Dataset: ``items`` items, ``customers`` customers (each with
    at least one order), about ``orders`` orders if given (else as the customers' habits make)."""
    p = params or ShopParams()
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    start = p.end - timedelta(days=p.days - 1)
    shop = _catalogue(rng, items, p, start)
    rate = _day_rate(p, start)
    raw = _orders(rng, shop, _customers(rng, customers, orders, p, rate), p)

    # catalogue order: families by launch (older first), like stock codes given out over time
    fam_launch = shop.launch[shop.family_start]
    fam_order = np.lexsort((rng.permutation(len(fam_launch)), np.maximum(fam_launch, 0)))
    catalog_index = np.empty(items, np.int64)
    item_ids = []
    for rank, f in enumerate(fam_order.tolist()):
        size = int(shop.family_size[f])
        for v in range(size):
            catalog_index[shop.family_start[f] + v] = len(item_ids)
            item_ids.append(f"{20001 + rank}{chr(65 + v) if size > 1 else ''}")
    inverse = np.argsort(catalog_index)

    epoch = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    raw.sort(key=lambda o: (o[0], o[1]))
    user_index: dict[int, int] = {}
    user, item, when, order, quantity = [], [], [], [], []
    for number, (second, c, lines, quantities) in enumerate(raw):
        u = user_index.setdefault(c, len(user_index))
        user += [u] * len(lines)
        item += lines
        when += [epoch + second] * len(lines)
        order += [number] * len(lines)
        quantity += quantities
    events = Events(
        np.array(user, np.int64),
        catalog_index[np.array(item, np.int64)],
        np.array(when, np.float64),
        np.array(order, np.int64),
        np.array(quantity, np.float64),
    )
    catalog = Catalog(
        item_ids=item_ids,
        titles=[shop.titles[i] for i in inverse],
        kinds=[KIND] * items,
        prices=shop.prices[inverse],
        descriptions=[f"{shop.titles[i]}, from our {shop.tags[i][0]} collection." for i in inverse],
        tags=[shop.tags[i] for i in inverse],
    )
    elapsed = time.perf_counter() - started
    if elapsed > 1.0:
        progress(f"baskets: {len(raw):,} orders, {len(events):,} lines in {elapsed:.1f}s")
    return Dataset(
        name=f"baskets(seed={seed}, items={items}, customers={customers}" + (f", orders={orders})" if orders else ")"),
        kind="retail",
        catalog=catalog,
        user_ids=[f"{12001 + u}" for u in range(len(user_index))],
        order_ids=[f"{500001 + o}" for o in range(len(raw))],
        events=events,
    )


def write_csv(dataset: Dataset, out_dir: Path) -> None:
    """The plugin's CSV import pair: ``items.csv`` and ``orders.csv`` (one row per line, in time order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    c = dataset.catalog
    with (out_dir / "items.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "title", "kind", "price", "description", "tags"])
        for i in range(c.size):
            writer.writerow(
                [c.item_ids[i], c.titles[i], c.kinds[i], f"{c.prices[i]:.2f}", c.descriptions[i], "|".join(c.tags[i])]
            )
    e = dataset.events
    stamps: dict[float, str] = {}
    with (out_dir / "orders.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "item_id", "ordered_at", "quantity", "unit_price"])
        for u, i, t, o, q in zip(
            e.user.tolist(), e.item.tolist(), e.time.tolist(), e.order.tolist(), e.quantity.tolist(), strict=True
        ):
            if t not in stamps:
                stamps[t] = datetime.fromtimestamp(t, tz=UTC).isoformat()
            writer.writerow(
                [dataset.order_ids[o], dataset.user_ids[u], c.item_ids[i], stamps[t], int(q), f"{c.prices[i]:.2f}"]
            )


# --- what the data looks like ----------------------------------------------------------------


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()


def describe(dataset: Dataset) -> dict[str, object]:
    """Figures that show the rules at work (printed by ``python -m bench.baskets``)."""
    e = dataset.events
    lines = np.bincount(e.order)
    orders_of = np.bincount(np.unique(np.stack([e.user, e.order]), axis=1)[0])
    pairs, first = np.unique(e.user * dataset.catalog.size + e.item, return_index=True)
    distinct = np.bincount(pairs // dataset.catalog.size, minlength=len(dataset.user_ids))
    repeated = np.ones(len(e), bool)
    repeated[first] = False  # the customer's first purchase of the item
    sold = np.sort(np.bincount(e.item, minlength=dataset.catalog.size))[::-1]
    months = np.array([datetime.fromtimestamp(t, tz=UTC).month for t in np.unique(e.time)])
    month_of = dict(zip(np.unique(e.time).tolist(), months.tolist(), strict=True))
    month = np.array([month_of[t] for t in e.time.tolist()])
    xmas = np.array(["christmas" in tags for tags in dataset.catalog.tags])[e.item]
    windows = np.bincount(((e.time.max() - e.time[np.r_[True, np.diff(e.order) != 0]]) // (28 * DAY)).astype(int))
    return {
        "span": f"{_day(e.time.min())} .. {_day(e.time.max())}",
        "items": dataset.catalog.size,
        "customers": len(dataset.user_ids),
        "orders": len(dataset.order_ids),
        "lines": len(e),
        "lines per order (median, mean, p99, max)": (
            float(np.median(lines)),
            round(float(lines.mean()), 1),
            round(float(np.percentile(lines, 99))),
            int(lines.max()),
        ),
        "orders of 100+ lines": int((lines >= 100).sum()),
        "customers with 1 / 2 / 3-9 / 10-23 / 24+ orders": [
            int((orders_of == 1).sum()),
            int((orders_of == 2).sum()),
            int(((orders_of >= 3) & (orders_of < 10)).sum()),
            int(((orders_of >= 10) & (orders_of < 24)).sum()),
            int((orders_of >= 24).sum()),
        ],
        "most orders of one customer": int(orders_of.max()),
        "distinct items per customer (median, max)": (float(np.median(distinct)), int(distinct.max())),
        "customers with 1,500+ distinct items": int((distinct >= 1500).sum()),
        "lines re-buying an item of an earlier order": round(float(repeated.mean()), 3),
        "share of lines on the top 1% / 10% of items": (
            round(float(sold[: max(1, len(sold) // 100)].sum() / len(e)), 3),
            round(float(sold[: max(1, len(sold) // 10)].sum() / len(e)), 3),
        ),
        "items never sold": int((sold == 0).sum()),
        "Christmas items' share of lines, Nov-Dec / Jun-Aug": (
            round(float(xmas[np.isin(month, (11, 12))].mean()), 3),
            round(float(xmas[np.isin(month, (6, 7, 8))].mean()), 3),
        ),
        "orders per 28-day window, latest first (first 4)": windows[:4].tolist(),
        "fewest orders in a 28-day window": int(windows[:-1].min()) if len(windows) > 1 else int(windows[0]),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=None, help="about this many orders in all")
    args = parser.parse_args(argv)
    dataset = generate_dataset(args.seed, items=args.items, customers=args.customers, orders=args.orders)
    for key, value in describe(dataset).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
