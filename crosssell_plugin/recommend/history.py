"""What a customer bought and watched, as recommendation calls read it (one customer, or many at
once for the dispatcher), and the rows several calls in a row share (:class:`SharedReads`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..conf import crosssell_settings
from ..models import Consumption, Item, OrderLine, PairCount, Store


def _history(store: Store, customer_id: int) -> CustomerHistory:
    """One customer's purchases and progress (:func:`customer_histories` reads many at once)."""
    consumed, finished = _consumption(store, customer_id)
    return CustomerHistory(_bought(store, customer_id), consumed, frozenset(finished))


# --- customer data ------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerHistory:
    """What a customer bought and watched in a store, as :func:`for_order` and :func:`for_customer`
    read it: (time, order pk, item pk) of every line, oldest first; (time, item pk) of what they
    started, oldest first; the items they finished."""

    bought: list[tuple[datetime, int, int]]
    consumed: list[tuple[datetime, int]]
    finished: frozenset[int]

    def items(self) -> set[int]:
        """Every item the customer bought or started."""
        return {pk for _, _, pk in self.bought} | {pk for _, pk in self.consumed}

    def bought_since(self, when: datetime) -> set[int]:
        """The items of the orders placed at or after ``when``."""
        return {pk for placed_at, _, pk in self.bought if placed_at >= when}


def customer_histories(store: Store | int, customer_ids: Iterable[int]) -> dict[int, CustomerHistory]:
    """The histories of several customers of ``store`` in two queries (every id gets one, maybe
    empty); for :func:`for_order_from` and :func:`for_customer_from`."""
    ids = sorted(set(customer_ids))
    bought: dict[int, list[tuple[datetime, int, int]]] = {pk: [] for pk in ids}
    started: dict[int, list[tuple[datetime, int]]] = {pk: [] for pk in ids}
    finished: dict[int, set[int]] = {pk: set() for pk in ids}
    if not ids:
        return {}
    lines = (
        OrderLine.objects.for_store(store)
        .filter(order__customer_id__in=ids)
        .order_by("order__placed_at", "order_id", "position")
        .values_list("order__customer_id", "order__placed_at", "order_id", "item_id")
    )
    for customer_id, when, order_pk, item_pk in lines:
        bought[customer_id].append((when, order_pk, item_pk))
    threshold = Decimal(str(crosssell_settings.CONSUMPTION_COMPLETE_AT))
    consumption = (
        Consumption.objects.for_store(store)
        .filter(customer_id__in=ids, progress__gt=0)
        .order_by("last_event_at", "item_id")
        .values_list("customer_id", "last_event_at", "item_id", "progress")
    )
    for customer_id, when, item_pk, progress in consumption:
        started[customer_id].append((when, item_pk))
        if progress >= threshold:
            finished[customer_id].add(item_pk)
    return {pk: CustomerHistory(bought[pk], started[pk], frozenset(finished[pk])) for pk in ids}


class SharedReads:
    """Rows of one store read once for several recommendation calls made in a row (the follow-ups
    a dispatcher sends in one go): the items looked up and the pair counts recorded since
    training. Each row is read the first time a call needs it; later calls reuse it, so keep one
    only for a moment (an item withdrawn after it was read is still offered until then)."""

    def __init__(self, store: Store | int) -> None:
        self.store = store
        self._items: dict[int, Item | None] = {}
        self._pairs: dict[int, list[tuple[int, int, str, int]]] = {}

    def items(self, pks: Iterable[int]) -> dict[int, Item]:
        """The items of ``pks`` that exist (available or not), as ``in_bulk`` gives them."""
        pks = list(dict.fromkeys(pks))
        missing = [pk for pk in pks if pk not in self._items]
        if missing:
            found = Item.objects.for_store(self.store).defer("raw").in_bulk(missing)
            for pk in missing:
                self._items[pk] = found.get(pk)
        return {pk: item for pk in pks if (item := self._items[pk]) is not None}

    def pair_rows(self, sources: Iterable[int]) -> list[tuple[int, int, str, int]]:
        """(item a, item b, kind, count) of the pair counts of the items ``sources``, in the
        order :func:`_recent_pairs` reads them."""
        sources = sorted(set(sources))
        missing = [pk for pk in sources if pk not in self._pairs]
        if missing:
            for pk in missing:
                self._pairs[pk] = []
            rows = (
                PairCount.objects.for_store(self.store)
                .filter(item_a_id__in=missing)
                .order_by("item_a_id", "item_b_id", "kind")
                .values_list("item_a_id", "item_b_id", "kind", "count")
            )
            for row in rows:
                self._pairs[row[0]].append(row)
        return [row for pk in sources for row in self._pairs[pk]]


def _bought(store: Store, customer_id: int) -> list[tuple[datetime, int, int]]:
    """(time, order pk, item pk) of every line the customer bought, oldest first."""
    rows = (
        OrderLine.objects.for_store(store)
        .filter(order__customer_id=customer_id)
        .order_by("order__placed_at", "order_id", "position")
        .values_list("order__placed_at", "order_id", "item_id")
    )
    return list(rows)


def _consumption(store: Store, customer_id: int) -> tuple[list[tuple[datetime, int]], set[int]]:
    """(time, item pk) of what the customer started watching or following, oldest first, and the
    set of items they finished (progress at least ``CONSUMPTION_COMPLETE_AT``)."""
    threshold = Decimal(str(crosssell_settings.CONSUMPTION_COMPLETE_AT))
    rows = (
        Consumption.objects.for_store(store)
        .filter(customer_id=customer_id, progress__gt=0)
        .order_by("last_event_at", "item_id")
        .values_list("last_event_at", "item_id", "progress")
    )
    started, finished = [], set()
    for when, pk, progress in rows:
        started.append((when, pk))
        if progress >= threshold:
            finished.add(pk)
    return started, finished


def _merge_history(*sources: Iterable[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    """(time, item pk) by time, oldest first; an item seen twice sits at its latest place.

    Purchases of one order share its time, so the engine reads the history order by order."""
    events = sorted((when, s, n, pk) for s, source in enumerate(sources) for n, (when, pk) in enumerate(source))
    latest = {pk: i for i, (_, _, _, pk) in enumerate(events)}
    return [(when, pk) for i, (when, _, _, pk) in enumerate(events) if latest[pk] == i]
