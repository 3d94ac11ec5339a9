"""Business re-ranking, kept outside the scorer: what a store will and will not show.

Never the trigger, anything the customer owns or has consumed, or anything unavailable; the
next module or episode of what they are following first (and never one further ahead);
expected value (margin) when the store wants it; a price band around the purchase; and at
most N items of a kind (one T-shirt among films, say).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class CatalogArrays:
    """Per-item facts aligned with the model's item indices."""

    kinds: Sequence[str]
    prices: np.ndarray  # float, NaN if unknown
    margins: np.ndarray  # unit margin in money, NaN if unknown
    available: np.ndarray  # bool
    parents: np.ndarray  # int, -1 if none
    positions: np.ndarray  # int, -1 if none

    @cached_property
    def by_parent_position(self) -> dict[tuple[int, int], int]:
        return {
            (int(p), int(n)): i
            for i, (p, n) in enumerate(zip(self.parents, self.positions, strict=True))
            if p >= 0 and n >= 0
        }


@dataclass(frozen=True)
class Rules:
    #: 0 ignores margin; 0.3 lifts the best-margin candidate's score by 30 %
    margin_weight: float = 0.0
    #: allowed price range relative to the trigger's price; outside it a score is multiplied by price_penalty
    price_band: tuple[float, float] | None = (0.0, 3.0)
    price_penalty: float = 0.5
    max_per_kind: Mapping[str, int] = field(default_factory=lambda: {"merch": 1})
    #: put the next module/episode of a course/series the customer follows first
    sequence_first: bool = True


def next_in_sequence(catalog: CatalogArrays, owned: Collection[int]) -> dict[int, int]:
    """For each course/series the customer has part of: parent -> the next item not owned."""
    furthest: dict[int, int] = {}
    for i in owned:
        parent, position = int(catalog.parents[i]), int(catalog.positions[i])
        if parent >= 0 and position >= 0:
            furthest[parent] = max(furthest.get(parent, -1), position)
    result = {}
    for parent, position in furthest.items():
        nxt = catalog.by_parent_position.get((parent, position + 1))
        if nxt is not None and nxt not in owned and catalog.available[nxt]:
            result[parent] = nxt
    return result


def rerank(
    scored: Sequence[tuple[int, float]],
    catalog: CatalogArrays,
    *,
    owned: Collection[int],
    trigger: int | None,
    k: int,
    rules: Rules | None = None,
) -> list[tuple[int, float]]:
    """The final ``k`` items, best first, after the store's rules."""
    rules = rules or Rules()
    blocked = set(owned) | ({trigger} if trigger is not None else set())
    everything_owned = blocked
    candidates = {i: s for i, s in scored if i not in blocked and catalog.available[i]}
    if not candidates and not rules.sequence_first:
        return []
    top = max(candidates.values(), default=1.0)
    nexts = set(next_in_sequence(catalog, everything_owned).values()) if rules.sequence_first else set()
    for i in nexts:  # the next module goes first, even if the scorer had not found it
        candidates[i] = candidates.get(i, 0.0) + 2 * top
    adjusted = {i: _adjust(i, s, catalog, rules, trigger, candidates, everything_owned) for i, s in candidates.items()}
    ordered = sorted(adjusted.items(), key=lambda pair: (-pair[1], pair[0]))
    picked: list[tuple[int, float]] = []
    per_kind: dict[str, int] = {}
    for i, score in ordered:
        kind = catalog.kinds[i]
        if per_kind.get(kind, 0) >= rules.max_per_kind.get(kind, k):
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        picked.append((i, score))
        if len(picked) == k:
            break
    return picked


def _adjust(
    i: int,
    score: float,
    catalog: CatalogArrays,
    rules: Rules,
    trigger: int | None,
    candidates: Mapping[int, float],
    owned: Collection[int],
) -> float:
    if rules.margin_weight:
        margins = np.array([catalog.margins[j] for j in candidates], float)
        best = np.nanmax(margins) if np.isfinite(margins).any() else np.nan
        if np.isfinite(catalog.margins[i]) and best > 0:
            score *= 1 + rules.margin_weight * max(float(catalog.margins[i]), 0.0) / best
    if rules.price_band and trigger is not None:
        base, price = catalog.prices[trigger], catalog.prices[i]
        low, high = rules.price_band
        if np.isfinite(base) and np.isfinite(price) and base > 0 and not low * base <= price <= high * base:
            score *= rules.price_penalty
    parent, position = int(catalog.parents[i]), int(catalog.positions[i])
    if rules.sequence_first and parent >= 0 and position > 0:
        furthest = max((int(catalog.positions[j]) for j in owned if int(catalog.parents[j]) == parent), default=0)
        if position > furthest + 1:  # never jump ahead of the next module
            score *= 0.1
    return score
