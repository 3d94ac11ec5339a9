"""The evaluation protocol: what a model sees (``TrainData``), what it must answer (``Recommender``),
and how a dataset is cut into validation and test requests for the three tasks.

Tasks, for one held-out order of a customer (``history`` = everything they bought before it):

- ``post_purchase``: history + the order's first known item (the trigger) -> the order's other new items
- ``next_order``: history -> all the order's new items
- ``item_to_item``: the trigger alone, no history -> the order's other new items

"Known" = the item occurs in the data the model was fitted on. Items the customer already has
(the history, and the trigger) are never recommendable (``Request.exclude``) and never targets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from bench.data import Catalog, Dataset, Events

K = 10
TASKS = ("post_purchase", "next_order", "item_to_item")
WINDOW_S = 28 * 86400  # retail: test = last 28 days, validation = the 28 days before
MOVIELENS_CUT = 5  # MovieLens: each user's last 5 positives = test cut, the 5 before = validation cut


@dataclass(frozen=True)
class TrainData:
    """What a model is fitted on.

    ``matrix`` is users x items (CSR, float32): how many orders of the user contained the item
    (1.0 everywhere on MovieLens). ``events`` keeps every training purchase with its time and
    order index, sorted by time, for models that use order sequences. Row i of ``matrix`` is
    ``user_ids[i]``; column j is ``catalog.item_ids[j]`` (every catalog item has a column, known
    or not). Requests pass item indices, never user indices: a model answers from the history it
    is given, so customers absent from training are answered the same way as the others.
    """

    matrix: sp.csr_matrix
    events: Events
    catalog: Catalog
    user_ids: list[str]
    order_ids: list[str]

    @property
    def n_users(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def item_ids(self) -> list[str]:
        return self.catalog.item_ids

    def known_items(self) -> np.ndarray:
        """Boolean mask over items: bought at least once in the training data."""
        return np.bincount(self.events.item, minlength=self.n_items) > 0


@runtime_checkable
class Recommender(Protocol):
    """A model under test. ``grid()`` lists the configurations tried on validation."""

    name: str
    ours: bool

    def grid(self) -> list[dict[str, Any]]: ...

    def fit(self, train: TrainData, params: dict[str, Any]) -> None: ...

    def recommend(
        self,
        history: list[int],
        history_times: list[float],
        trigger: int | None,
        k: int,
        exclude: set[int],
    ) -> list[int]:
        """Up to ``k`` item indices, best first, none of them in ``exclude``.

        ``history``: the customer's purchased item indices, oldest first (empty for item_to_item);
        ``history_times``: their unix times; ``trigger``: the item just bought (None for next_order).
        """
        ...


@dataclass(frozen=True)
class Request:
    task: str
    history: list[int]
    history_times: list[float]
    trigger: int | None
    targets: frozenset[int]
    exclude: frozenset[int]


@dataclass(frozen=True)
class Phase:
    """One evaluation round: fit on ``train``, answer ``requests[task]``."""

    name: str
    train: TrainData
    requests: dict[str, list[Request]]


@dataclass(frozen=True)
class Split:
    validation: Phase
    test: Phase
    info: dict[str, Any] = field(default_factory=dict)


# --- requests ---------------------------------------------------------------------------------


def train_data(dataset: Dataset, mask: np.ndarray) -> TrainData:
    events = dataset.events.subset(mask)
    shape = (len(dataset.user_ids), dataset.catalog.size)
    matrix = sp.csr_matrix((np.ones(len(events), dtype=np.float32), (events.user, events.item)), shape=shape)
    matrix.sum_duplicates()
    return TrainData(matrix, events, dataset.catalog, dataset.user_ids, dataset.order_ids)


def order_requests(
    items: list[int], history: list[int], history_times: list[float], known: np.ndarray
) -> Iterator[Request]:
    """The (up to) three requests one held-out order gives; tasks without targets are skipped."""
    owned = frozenset(history)
    new = [i for i in items if i not in owned]
    if new:
        yield Request("next_order", history, history_times, None, frozenset(new), owned)
    trigger = next((i for i in items if known[i]), None)
    if trigger is None:
        return
    targets = frozenset(new) - {trigger}
    if targets:
        exclude = owned | {trigger}
        yield Request("post_purchase", history, history_times, trigger, targets, exclude)
        yield Request("item_to_item", [], [], trigger, targets, exclude)


def group_requests(requests: Iterator[Request]) -> dict[str, list[Request]]:
    grouped: dict[str, list[Request]] = {task: [] for task in TASKS}
    for request in requests:
        grouped[request.task].append(request)
    return grouped


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()


def _counts(phase: Phase) -> dict[str, Any]:
    return {
        "train_purchases": len(phase.train.events),
        "train_users": int((np.diff(phase.train.matrix.indptr) > 0).sum()),
        "known_items": int(phase.train.known_items().sum()),
        "requests": {task: len(reqs) for task, reqs in phase.requests.items()},
    }


# --- retail: a split in time ------------------------------------------------------------------


def _orders_by_customer(events: Events) -> dict[int, list[int]]:
    """Customer -> their order indices, oldest first (events are sorted by time, order)."""
    by_customer: dict[int, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for user, order in zip(events.user.tolist(), events.order.tolist(), strict=True):
        if order not in seen:
            seen.add(order)
            by_customer[user].append(order)
    return by_customer


def _order_lines(events: Events) -> tuple[dict[int, list[int]], dict[int, float]]:
    """Order -> its items (in event order), and order -> its time."""
    lines: dict[int, list[int]] = defaultdict(list)
    times: dict[int, float] = {}
    for order, item, time in zip(events.order.tolist(), events.item.tolist(), events.time.tolist(), strict=True):
        lines[order].append(item)
        times[order] = time
    return lines, times


def _retail_requests(dataset: Dataset, train: TrainData, start: float, end: float) -> Iterator[Request]:
    events = dataset.events
    lines, times = _order_lines(events)
    known = train.known_items()
    for orders in _orders_by_customer(events).values():
        history: list[int] = []
        history_times: list[float] = []
        for order in orders:
            if history and start <= times[order] < end:
                yield from order_requests(lines[order], list(history), list(history_times), known)
            history += lines[order]
            history_times += [times[order]] * len(lines[order])


def split_retail(dataset: Dataset) -> Split:
    """Test = the last 28 days, validation = the 28 days before, training before that."""
    time = dataset.events.time
    end = float(time.max())
    test_start = end - WINDOW_S
    val_start = test_start - WINDOW_S
    if not (time < val_start).any():
        raise ValueError("the orders span 56 days or less: nothing is left for training before validation")
    val_train = train_data(dataset, time < val_start)
    test_train = train_data(dataset, time < test_start)
    validation = Phase(
        "validation", val_train, group_requests(_retail_requests(dataset, val_train, val_start, test_start))
    )
    test = Phase("test", test_train, group_requests(_retail_requests(dataset, test_train, test_start, np.inf)))
    info = {
        "protocol": "time split: test = last 28 days, validation = the 28 days before, training before that",
        "first_order": _day(float(time.min())),
        "validation_start": _day(val_start),
        "test_start": _day(test_start),
        "last_order": _day(end),
        "customers": len(dataset.user_ids),
        "orders": len(dataset.order_ids),
        "purchases": len(dataset.events),
        "catalog_items": dataset.catalog.size,
        "validation": _counts(validation),
        "test": _counts(test),
    }
    return Split(validation, test, info)


# --- MovieLens: per-user leave-last-5-out -----------------------------------------------------


def _user_positions(events: Events) -> dict[int, np.ndarray]:
    """User -> their event positions ordered by (time, item id)."""
    order = np.lexsort((events.item, events.time, events.user))
    bounds = np.flatnonzero(np.diff(events.user[order])) + 1
    return {int(events.user[chunk[0]]): chunk for chunk in np.split(order, bounds)}


def _movielens_cuts(events: Events) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Validation and test cuts per eligible user, plus the events masks left for fitting."""
    val_cuts, test_cuts = {}, {}
    in_val, in_test = np.zeros(len(events), dtype=bool), np.zeros(len(events), dtype=bool)
    for user, positions in _user_positions(events).items():
        if len(positions) <= 2 * MOVIELENS_CUT:  # needs at least one positive before both cuts
            continue
        test_cuts[user] = positions[-MOVIELENS_CUT:]
        val_cuts[user] = positions[-2 * MOVIELENS_CUT : -MOVIELENS_CUT]
        in_test[test_cuts[user]] = True
        in_val[val_cuts[user]] = True
    return val_cuts, test_cuts, ~(in_val | in_test), ~in_test


def _movielens_requests(events: Events, cuts: dict[int, np.ndarray], train: TrainData) -> Iterator[Request]:
    known = train.known_items()
    positions = _user_positions(events)
    for user, cut in cuts.items():
        yield from _cut_requests(events, positions[user], cut, known)


def _cut_requests(events: Events, positions: np.ndarray, cut: np.ndarray, known: np.ndarray) -> Iterator[Request]:
    """One cut = one order, its items ordered by (time, item id); history = everything before it."""
    before = positions[: int(np.flatnonzero(positions == cut[0])[0])]
    history = events.item[before].tolist()
    yield from order_requests(events.item[cut].tolist(), history, events.time[before].tolist(), known)


def split_movielens(dataset: Dataset) -> Split:
    """Each user's last 5 positives are the test cut, the 5 before the validation cut."""
    events = dataset.events
    val_cuts, test_cuts, val_mask, test_mask = _movielens_cuts(events)
    val_train = train_data(dataset, val_mask)
    test_train = train_data(dataset, test_mask)
    validation = Phase("validation", val_train, group_requests(_movielens_requests(events, val_cuts, val_train)))
    test = Phase("test", test_train, group_requests(_movielens_requests(events, test_cuts, test_train)))
    info = {
        "protocol": "per user: last 5 positives (ratings >= 4) = test cut, the 5 before = validation cut",
        "first_rating": _day(float(events.time.min())),
        "last_rating": _day(float(events.time.max())),
        "users": len(dataset.user_ids),
        "evaluated_users": len(test_cuts),
        "positives": len(events),
        "orders": len(dataset.order_ids),
        "catalog_items": dataset.catalog.size,
        "validation": _counts(validation),
        "test": _counts(test),
    }
    return Split(validation, test, info)


# --- baskets without dates: per-customer leave-last-basket-out ---------------------------------


def _basket_requests(dataset: Dataset, train: TrainData, cut_from_end: int) -> Iterator[Request]:
    """One request set per customer with enough baskets: the basket ``cut_from_end`` from the end
    is the held-out order, every earlier basket the history."""
    events = dataset.events
    lines, times = _order_lines(events)
    known = train.known_items()
    for orders in _orders_by_customer(events).values():
        if len(orders) < BASKET_MIN_ORDERS:
            continue
        held = orders[-cut_from_end]
        history = [i for o in orders[: len(orders) - cut_from_end] for i in lines[o]]
        history_times = [times[o] for o in orders[: len(orders) - cut_from_end] for _ in lines[o]]
        yield from order_requests(lines[held], history, history_times, known)


#: customers need this many baskets: one of history before the validation and test baskets
BASKET_MIN_ORDERS = 3


def split_baskets(dataset: Dataset) -> Split:
    """Per customer (with 3+ baskets): the last basket is the test order, the one before it the
    validation order. Validation fits on every basket but each customer's last two; test on
    every basket but the last."""
    events = dataset.events
    by_customer = _orders_by_customer(events)
    last, second = set(), set()
    for orders in by_customer.values():
        if len(orders) >= BASKET_MIN_ORDERS:
            last.add(orders[-1])
            second.add(orders[-2])
    in_last = np.isin(events.order, np.fromiter(last, np.int64))
    in_second = np.isin(events.order, np.fromiter(second, np.int64))
    val_train = train_data(dataset, ~(in_last | in_second))
    test_train = train_data(dataset, ~in_last)
    validation = Phase("validation", val_train, group_requests(_basket_requests(dataset, val_train, 2)))
    test = Phase("test", test_train, group_requests(_basket_requests(dataset, test_train, 1)))
    sizes = np.bincount(events.order)
    info = {
        "protocol": "per customer with 3+ baskets: last basket = test order, the one before = validation order; "
        "baskets carry synthetic days in order (only their per-customer order is real)",
        "customers": len(dataset.user_ids),
        "evaluated_customers": len(last),
        "orders": len(dataset.order_ids),
        "purchases": len(events),
        "mean_basket": round(float(sizes[sizes > 0].mean()), 2),
        "catalog_items": dataset.catalog.size,
        "validation": _counts(validation),
        "test": _counts(test),
    }
    return Split(validation, test, info)


def make_split(dataset: Dataset) -> Split:
    if dataset.kind == "movielens":
        return split_movielens(dataset)
    if dataset.kind == "baskets":
        return split_baskets(dataset)
    return split_retail(dataset)
