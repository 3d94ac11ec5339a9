"""Business re-ranking, kept outside the scorer: what a store will and will not show.

Removed: the trigger, anything the customer owns or has consumed, anything unavailable, and
what the store excludes (``Rules.excluded_kinds``, ``Rules.excluded_items``). Everything else
is only reordered, so a list is always as long as the candidates allow: the next module or
episode of what the customer follows first (and one further ahead pushed down); expected value
(margin) when the store wants it; a price band around the purchase; and a soft cap per kind
(one T-shirt among films, say): items beyond ``max_per_kind`` come after the others, never
dropped, and only when the candidates are of more than one kind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TypeVar

import numpy as np

T = TypeVar("T")


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

    @cached_property
    def available_kinds(self) -> frozenset[str]:
        """The kinds of the available items."""
        return frozenset(kind for kind, available in zip(self.kinds, self.available, strict=True) if available)


@dataclass(frozen=True)
class Rules:
    #: 0 ignores margin; 0.3 lifts the best-margin candidate's score by 30 %
    margin_weight: float = 0.0
    #: allowed price range relative to the trigger's price; outside it a score is multiplied by price_penalty
    price_band: tuple[float, float] | None = (0.0, 3.0)
    price_penalty: float = 0.5
    #: kind -> how many items of that kind come before the items of the other kinds; the rest
    #: of that kind follow them (a soft cap: nothing is dropped, and a list of one kind is as is)
    max_per_kind: Mapping[str, int] = field(default_factory=lambda: {"merch": 1})
    #: put the next module/episode of a course/series the customer follows first
    sequence_first: bool = True
    #: kinds never shown
    excluded_kinds: frozenset[str] = frozenset()
    #: items never shown, in the index space of the catalogue being ranked (a store keeps Item
    #: pks here; :meth:`mapped` turns them into the model's indices)
    excluded_items: frozenset[int] = frozenset()

    def excludes(self, kind: str, item: int) -> bool:
        """Whether the store never shows this item (of this kind)."""
        return kind in self.excluded_kinds or item in self.excluded_items

    def mapped(self, index: Mapping[int, int]) -> Rules:
        """These rules with ``excluded_items`` translated through ``index`` (Item pk -> model
        index); items the index does not know are left out."""
        if not self.excluded_items:
            return self
        return replace(self, excluded_items=frozenset(index[i] for i in self.excluded_items if i in index))


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


def diversify(items: Sequence[T], kinds: Sequence[str], max_per_kind: Mapping[str, int]) -> list[T]:
    """``items`` (best first) with those beyond their kind's cap moved after all the others,
    each group keeping its order. Nothing is added or dropped; with one kind, the order is kept."""
    if len(set(kinds)) <= 1:
        return list(items)
    first: list[T] = []
    later: list[T] = []
    seen: dict[str, int] = {}
    for item, kind in zip(items, kinds, strict=True):
        cap = max_per_kind.get(kind)
        if cap is not None and seen.get(kind, 0) >= cap:
            later.append(item)
        else:
            seen[kind] = seen.get(kind, 0) + 1
            first.append(item)
    return first + later


def rerank(
    scored: Sequence[tuple[int, float]],
    catalog: CatalogArrays,
    *,
    owned: Collection[int],
    trigger: int | None,
    k: int,
    rules: Rules | None = None,
) -> list[tuple[int, float]]:
    """The final ``k`` items, best first, after the store's rules: exactly ``min(k, eligible)``
    items, eligible being ``scored`` plus the next module or episode of what the customer
    follows, less the trigger and what is owned, unavailable or excluded."""
    rules = rules or Rules()
    if k <= 0:
        return []
    blocked = set(owned) | ({trigger} if trigger is not None else set())
    candidates = {
        i: s for i, s in scored if i not in blocked and catalog.available[i] and not rules.excludes(catalog.kinds[i], i)
    }
    if rules.sequence_first:
        top = max(candidates.values(), default=1.0)
        for i in next_in_sequence(catalog, blocked).values():  # first, even if the scorer had not found it
            if not rules.excludes(catalog.kinds[i], i):
                candidates[i] = candidates.get(i, 0.0) + 2 * top
    adjust = _Adjuster(catalog, rules, trigger, candidates, blocked)
    ordered = sorted(((i, adjust(i, s)) for i, s in candidates.items()), key=lambda pair: (-pair[1], pair[0]))
    return diversify(ordered, [catalog.kinds[i] for i, _ in ordered], rules.max_per_kind)[:k]


class _Adjuster:
    """A candidate's score after margin, price band and sequence order (reordering only)."""

    def __init__(
        self,
        catalog: CatalogArrays,
        rules: Rules,
        trigger: int | None,
        candidates: Mapping[int, float],
        owned: Collection[int],
    ) -> None:
        self.catalog, self.rules, self.trigger, self.owned = catalog, rules, trigger, owned
        self.best_margin = np.nan
        if rules.margin_weight and candidates:
            margins = np.array([catalog.margins[j] for j in candidates], float)
            if np.isfinite(margins).any():
                self.best_margin = float(np.nanmax(margins))

    def __call__(self, i: int, score: float) -> float:
        catalog, rules = self.catalog, self.rules
        margin = catalog.margins[i]
        if rules.margin_weight and np.isfinite(margin) and self.best_margin > 0:
            score *= 1 + rules.margin_weight * max(float(margin), 0.0) / self.best_margin
        if rules.price_band and self.trigger is not None:
            base, price = catalog.prices[self.trigger], catalog.prices[i]
            low, high = rules.price_band
            if np.isfinite(base) and np.isfinite(price) and base > 0 and not low * base <= price <= high * base:
                score *= rules.price_penalty
        parent, position = int(catalog.parents[i]), int(catalog.positions[i])
        if rules.sequence_first and parent >= 0 and position > 0:
            furthest = max(
                (int(catalog.positions[j]) for j in self.owned if int(catalog.parents[j]) == parent), default=0
            )
            if position > furthest + 1:  # never jump ahead of the next module
                score *= 0.1
        return score
