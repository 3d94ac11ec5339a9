"""Cold start and filling a list: the store's popular items, then its other available items, under
the soft caps per kind (see :mod:`crosssell_plugin.recommend`, steps 3 and 4)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import chain

from django.db.models import Case, Count, IntegerField, When

from ..engine.explain import Reason
from ..engine.rules import Rules
from ..models import Item, OrderLine, Store
from .history import SharedReads
from .loading import _Entry, _PopularItem
from .reasons import _plural
from .result import Recommendation

# --- cold start: popular items ------------------------------------------------------------


def _popularity(store: Store, entry: _Entry) -> list[_PopularItem]:
    """The store's items that sold and were available, most orders first (ties by pk).

    Computed when first needed and kept with the loaded model until a new version is loaded
    (with no model, until the next check, ``MODEL_CHECK_SECONDS``)."""
    if entry.popular is None:
        rows = (
            OrderLine.objects.for_store(store)
            .filter(item__available=True)
            .values("item_id", "item__kind")
            .annotate(orders=Count("order", distinct=True), buyers=Count("order__customer", distinct=True))
            .order_by("-orders", "item_id")
        )
        entry.popular = [
            _PopularItem(row["item_id"], row["item__kind"], row["orders"], row["buyers"]) for row in rows.iterator()
        ]
    return entry.popular


# --- filling the list: popular items, then the store's other items --------------------------


class _Fill:
    """A list being filled to ``limit`` under the soft caps per kind: the items within their
    kind's cap (``first``) and those beyond it (``later``), each in the order they came; the
    list shown is ``first`` then ``later`` (for items of one kind, simply the order they came)."""

    def __init__(self, limit: int, caps: Mapping[str, int], blocked: Collection[int]) -> None:
        self.limit, self.caps = limit, caps
        self.first: list[Recommendation] = []
        self.later: list[Recommendation] = []
        self.counts: Counter[str] = Counter()
        #: every item that must not be added: blocked, or added already
        self.seen = set(blocked)

    def fits(self, kind: str) -> bool:
        """Whether one more item of ``kind`` would come before the items beyond their caps."""
        cap = self.caps.get(kind)
        return cap is None or self.counts[kind] < cap

    def add(self, rec: Recommendation) -> None:
        if rec.item.pk in self.seen:
            return
        self.seen.add(rec.item.pk)
        if self.fits(rec.item.kind):
            self.counts[rec.item.kind] += 1
            self.first.append(rec)
        elif len(self.later) < self.limit:
            self.later.append(rec)

    def full(self) -> bool:
        """Whether ``limit`` items fit within their caps: nothing found later can take a place."""
        return len(self.first) >= self.limit

    def improvable(self, kinds: Collection[str] | None) -> bool:
        """Whether more items may change the list: it is short, or some of it is beyond a cap
        and the store sells a kind with room (``kinds``: the kinds it sells; None if unknown)."""
        if self.full():
            return False
        if len(self.first) + len(self.later) < self.limit or kinds is None:
            return True
        return any(self.fits(kind) for kind in kinds)

    def result(self) -> list[Recommendation]:
        return (self.first + self.later)[: self.limit]


def _complete(results: Sequence[Recommendation], limit: int, rules: Rules, kinds: Collection[str]) -> bool:
    """Whether the model's ``results`` need nothing from the store's other items: ``limit`` of
    them, and none beyond its kind's cap unless every kind the store sells (``kinds``) is
    capped already. Reads nothing."""
    if len(results) < limit:
        return False
    counts = Counter(r.item.kind for r in results)
    if not any(n > rules.max_per_kind.get(kind, n) for kind, n in counts.items()):
        return True
    return not any(counts[kind] < rules.max_per_kind.get(kind, math.inf) for kind in set(kinds) - rules.excluded_kinds)


def _filled(
    store: Store,
    entry: _Entry,
    results: Sequence[Recommendation],
    blocked: Collection[int],
    limit: int,
    task: str,
    placement: str,
    rules: Rules,
    *,
    kind: str | None = None,
    kinds: Collection[str] | None = None,
    reads: SharedReads | None = None,
) -> list[Recommendation]:
    """``results`` (the model's, maybe none) topped up to ``limit``: with the store's popular
    items, then, if still short (or still beyond a cap while the store sells ``kinds`` with room;
    None = unknown), with its other available items; excluded items and kinds never.

    ``kind``: the trigger's kind, when it is all there is to go on (a new item): items of that
    kind come first and are not capped."""
    caps = {k: cap for k, cap in rules.max_per_kind.items() if k != kind}
    fill = _Fill(limit, caps, blocked)
    for rec in results:
        fill.add(rec)
    if kinds is not None:
        kinds = set(kinds) - rules.excluded_kinds
    _popular(store, entry, fill, rules, task, placement, kind=kind, reads=reads)
    if fill.improvable(kinds):
        _others(store, fill, rules, task, placement, kind=kind)
    return fill.result()


def _popular(
    store: Store,
    entry: _Entry,
    fill: _Fill,
    rules: Rules,
    task: str,
    placement: str,
    *,
    kind: str | None = None,
    reads: SharedReads | None = None,
) -> None:
    """Adds the store's available items by number of orders (ties by pk; those of ``kind``
    first), with "popular" reasons, to ``fill``, until it is full or they run out."""
    ranking = _popularity(store, entry)
    ordered = (
        chain((p for p in ranking if p.kind == kind), (p for p in ranking if p.kind != kind))
        if kind is not None
        else iter(ranking)
    )
    candidates = (p for p in ordered if p.pk not in fill.seen and not rules.excludes(p.kind, p.pk))
    while not fill.full():
        chosen = _plan(fill, candidates)
        if not chosen:
            return
        # availability as of now: an item may have been withdrawn since the ranking was computed
        if reads is not None:
            items = {pk: item for pk, item in reads.items([p.pk for p in chosen]).items() if item.available}
        else:
            items = Item.objects.for_store(store).filter(available=True).in_bulk([p.pk for p in chosen])
        for p in chosen:
            item = items.get(p.pk)
            if item is not None:
                fill.add(
                    Recommendation(
                        item=item,
                        score=float(p.orders),
                        reasons=[Reason("popular", count=p.buyers)],
                        reason_texts=[f"Popular right now ({_plural(p.buyers, 'buyer')})"],
                        task=str(task),
                        placement=placement,
                    )
                )


def _plan(fill: _Fill, candidates: Iterator[_PopularItem]) -> list[_PopularItem]:
    """The next candidates that would fill ``fill`` if all were still available (one read)."""
    counts, first, later = Counter(fill.counts), len(fill.first), len(fill.later)
    chosen = []
    for p in candidates:
        cap = fill.caps.get(p.kind)
        if cap is None or counts[p.kind] < cap:
            counts[p.kind] += 1
            first += 1
        elif later < fill.limit:
            later += 1
        else:
            continue  # beyond its cap, and enough such items already: look for other kinds
        chosen.append(p)
        if first >= fill.limit:
            break
    return chosen


def _others(store: Store, fill: _Fill, rules: Rules, task: str, placement: str, *, kind: str | None = None) -> None:
    """Adds the store's other available items to ``fill``, without reasons: those of ``kind``
    first, then those of kinds still within their caps, newest first (a query per
    ``2 * limit`` items, at most three)."""
    items = Item.objects.for_store(store).filter(available=True).defer("raw")
    if rules.excluded_kinds:
        items = items.exclude(kind__in=rules.excluded_kinds)
    if rules.excluded_items:
        items = items.exclude(pk__in=rules.excluded_items)
    batch = 2 * fill.limit
    for _ in range(3):
        capped = [k for k in fill.caps if not fill.fits(k)]
        preference = Case(
            *([When(kind=kind, then=0)] if kind is not None else []),
            When(kind__in=capped, then=2),
            default=1,
            output_field=IntegerField(),
        )
        rows = list(items.exclude(pk__in=fill.seen).order_by(preference, "-created_at", "-pk")[:batch])
        for item in rows:
            fill.add(Recommendation(item, 0.0, [], [], task=str(task), placement=placement))
        if fill.full() or len(rows) < batch or any(item.kind in capped for item in rows):
            return  # full, or nothing left of a kind with room (those come first)
