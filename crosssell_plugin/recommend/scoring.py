"""Scoring a request: the model's pool with the pair counts since training, the store's rules, the
explanations, and the list filled to ``limit``; the public calls for an order, a customer, an item."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from ..engine.model import Request, Task
from ..engine.rules import rerank
from ..models import Customer, Item, Order, PairCount, Store
from .history import CustomerHistory, SharedReads, _history, _merge_history
from .loading import _entry
from .popular import _complete, _filled
from .reasons import _explained, _request_items, _Served
from .result import Recommendation
from .rules_config import rules_for

#: how many candidates the scorer hands to the business rules, per recommendation wanted
POOL_FACTOR = 5
#: how many ranked items beyond ``limit`` are looked up, to replace any withdrawn since the last check
SPARE = 4


# --- public API ---------------------------------------------------------------------------


def for_order(
    order: Order, limit: int = 4, placement: str = "thank_you", *, strategy: str = "model"
) -> list[Recommendation]:
    """What to show after ``order``: triggered by its first line, informed by the customer's past.
    ``strategy`` "popular" (an experiment arm) skips the model: the store's popular items, filled
    by the same rules."""
    return for_order_from(
        order, _history(order.store, order.customer_id), limit=limit, placement=placement, strategy=strategy
    )


def for_order_from(
    order: Order,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "thank_you",
    *,
    reads: SharedReads | None = None,
    strategy: str = "model",
) -> list[Recommendation]:
    """:func:`for_order` from the customer's history read beforehand (:func:`customer_histories`,
    one read for many customers): the same recommendations, without reading the history again.
    With ``reads``, the items and recent pair counts already read by earlier calls are reused."""
    store = order.store
    bought, consumed, finished = history.bought, history.consumed, history.finished
    lines = [pk for _, order_pk, pk in bought if order_pk == order.pk]  # by position
    earlier = [(when, pk) for when, order_pk, pk in bought if when < order.placed_at and order_pk != order.pk]
    # the order's other lines are the most recent evidence of all
    trigger = lines[0] if lines else None
    timed = _merge_history(earlier, consumed, [(order.placed_at, pk) for pk in lines[1:]])
    timed = [(when, pk) for when, pk in timed if pk != trigger]
    merged, times = [pk for _, pk in timed], [when.timestamp() for when, _ in timed]
    owned = {pk for _, _, pk in bought} | finished | set(lines)
    return _recommend(
        store,
        Task.POST_PURCHASE,
        trigger,
        None,
        merged,
        owned,
        limit,
        placement,
        reads=reads,
        history_times=times,
        strategy=strategy,
    )


def for_customer(
    customer: Customer, limit: int = 4, placement: str = "", *, strategy: str = "model"
) -> list[Recommendation]:
    """What the customer may buy next, from everything they bought and watched (``strategy`` as
    for :func:`for_order`)."""
    return for_customer_from(
        customer, _history(customer.store, customer.pk), limit=limit, placement=placement, strategy=strategy
    )


def for_customer_from(
    customer: Customer,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "",
    *,
    reads: SharedReads | None = None,
    strategy: str = "model",
) -> list[Recommendation]:
    """:func:`for_customer` from the customer's history read beforehand (:func:`customer_histories`);
    ``reads`` as for :func:`for_order_from`."""
    store = customer.store
    bought, consumed, finished = history.bought, history.consumed, history.finished
    timed = _merge_history([(when, pk) for when, _, pk in bought], consumed)
    owned = {pk for _, _, pk in bought} | finished
    return _recommend(
        store,
        Task.NEXT_ORDER,
        None,
        None,
        [pk for _, pk in timed],
        owned,
        limit,
        placement,
        reads=reads,
        history_times=[when.timestamp() for when, _ in timed],
        strategy=strategy,
    )


def for_item(item: Item, limit: int = 4, placement: str = "", *, strategy: str = "model") -> list[Recommendation]:
    """What goes with ``item``, for anyone (an item page, a guest); ``strategy`` as for :func:`for_order`."""
    return _recommend(item.store, Task.ITEM_TO_ITEM, item.pk, item.kind, [], set(), limit, placement, strategy=strategy)


# --- scoring ------------------------------------------------------------------------------


def _recommend(
    store: Store,
    task: Task,
    trigger: int | None,
    trigger_kind: str | None,
    history: Sequence[int],
    owned: Collection[int],
    limit: int,
    placement: str,
    *,
    reads: SharedReads | None = None,
    history_times: Sequence[float] | None = None,
    strategy: str = "model",
) -> list[Recommendation]:
    """``trigger`` is an Item pk; ``trigger_kind`` its kind, looked up only if needed when None;
    ``history``: item pks, oldest first, with their unix times in ``history_times`` (one time per
    order); ``reads``: rows already read by earlier calls (:class:`SharedReads`)."""
    if limit <= 0:
        return []
    blocked = set(owned) | set(history) | ({trigger} if trigger is not None else set())
    entry = _entry(store)
    loaded, catalog = entry.loaded, entry.catalog
    rules = rules_for(store)
    if loaded is None or catalog is None or strategy == "popular":  # cold start (no trained model yet), or asked
        kind = trigger_kind if strategy == "popular" else None
        return _filled(store, entry, [], blocked, limit, task, placement, rules, kind=kind, reads=reads)
    index = loaded.index
    trigger_idx = index.get(trigger) if trigger is not None else None
    known = [(n, index[pk]) for n, pk in enumerate(history) if pk in index]
    history_idx = [i for _, i in known]
    times_idx = [float(history_times[n]) for n, _ in known] if history_times is not None else None
    if trigger is not None and trigger_idx is None and (task == Task.ITEM_TO_ITEM or not history_idx):
        # an item newer than the model, and nothing else to go on: popular items of its kind
        if trigger_kind is None:
            trigger_kind = Item.objects.for_store(store).filter(pk=trigger).values_list("kind", flat=True).first()
        return _filled(store, entry, [], blocked, limit, task, placement, rules, kind=trigger_kind, reads=reads)
    scoring_task = Task.NEXT_ORDER if trigger_idx is None and task == Task.POST_PURCHASE else task
    request = Request(history=history_idx, trigger=trigger_idx, task=scoring_task, history_times=times_idx)
    served = _Served(loaded, request, catalog, task=task)
    request.extra = _recent_pairs(store, served, reads)
    owned_idx = sorted({index[pk] for pk in blocked if pk in index} - {trigger_idx})
    pool = loaded.model.recommend(request, k=limit * POOL_FACTOR, exclude=owned_idx, allowed=catalog.available)
    ranked = rerank(pool, catalog, owned=owned_idx, trigger=trigger_idx, k=limit + SPARE, rules=rules.mapped(index))
    results = _explained(store, served, ranked, placement, limit, reads)
    kinds = catalog.available_kinds
    if _complete(results, limit, rules, kinds):
        return results  # the common case: the model filled the list, no query more
    return _filled(store, entry, results, blocked, limit, task, placement, rules, kinds=kinds, reads=reads)


def _recent_pairs(store: Store, served: _Served, reads: SharedReads | None = None) -> dict[str, np.ndarray] | None:
    """Pair counts of orders placed since the model was trained, as extra raw scores.

    For each request item a and item b: count / (sqrt(n_a) * sqrt(n_b) + 10), n = the model's
    buyer counts, into ``basket`` (bought in the same order) or ``sequence`` (bought next).
    """
    loaded = served.loaded
    sources = [loaded.item_ids[i] for i in _request_items(served.request, loaded.model)]
    if not sources:
        return None
    counts = loaded.model.item_counts
    if counts is None:
        return None
    rows = (
        reads.pair_rows(sources)
        if reads is not None
        else PairCount.objects.for_store(store)
        .filter(item_a_id__in=sources)
        .order_by("item_a_id", "item_b_id", "kind")
        .values_list("item_a_id", "item_b_id", "kind", "count")
    )
    extra: dict[str, np.ndarray] = {}
    for a, b, kind, count in rows:
        ia, ib = loaded.index.get(a), loaded.index.get(b)
        if ia is None or ib is None or count <= 0:
            continue  # an item unknown to the model
        signal = "basket" if kind == PairCount.Kind.TOGETHER else "sequence"
        scores = extra.setdefault(signal, np.zeros(loaded.model.n_items, np.float32))
        scores[ib] += count / (math.sqrt(counts[ia]) * math.sqrt(counts[ib]) + 10.0)
        if kind == PairCount.Kind.TOGETHER:
            served.recent_together.setdefault(b, {})[a] = count
    return extra or None
