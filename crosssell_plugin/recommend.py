"""Recommendations for an order, a customer or an item: the trained model plus the store's rules.

``for_order`` (the thank-you page), ``for_customer`` (the next order, e.g. in a follow-up email)
and ``for_item`` (an item page, a guest) return :class:`Recommendation` objects with the item,
its score and true reasons in data and in plain English.

How a call is served:

1. :func:`get_model` returns the store's active model from a per-process cache. At most every
   ``CROSSSELL["MODEL_CHECK_SECONDS"]`` (30; 0 = every call) it asks the database which version
   is active and loads a new one lazily from ``default_storage``, checking its SHA-256 and the
   artifact's own checksum. A corrupt artifact is logged, its version marked ``rejected`` and the
   previous version re-activated (rollback); the process keeps serving what it had loaded.
2. The request (trigger, history) is scored by the engine with the pair counts recorded since the
   model's ``trained_until`` added (``Request.extra``), restricted to items available *now* and
   not owned, then re-ranked by :func:`crosssell_plugin.engine.rules.rerank` and explained.
3. Cold start: with no trained model (or when the trigger is an item newer than the model and
   there is no other evidence) the store's most popular available items are returned (by number
   of orders; those of the trigger's kind first when there is one), each with a "popular" reason.
4. Every list is filled to ``limit`` while the store has eligible items (the store's rules,
   :func:`crosssell_plugin.rules_config.rules_for`, reorder and never shorten it): the model's
   results, then popular items, then the store's other available items (newest first, no
   reason). Items beyond their kind's soft cap come after the others, so a popular film takes
   the place of a second T-shirt; a store selling one kind is not capped at all.

Every query is scoped to the store of the order, customer or item. Results are deterministic.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Case, Count, IntegerField, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .conf import crosssell_settings
from .engine import artifact
from .engine.content import structured_tokens
from .engine.explain import Reason, explain
from .engine.model import HybridModel, Request, Task
from .engine.rules import CatalogArrays, Rules, rerank
from .models import Consumption, Customer, Item, ModelVersion, Order, OrderLine, PairCount, Store
from .rules_config import rules_for
from .training import item_text, rebase_pair_counts

logger = logging.getLogger(__name__)

#: how many candidates the scorer hands to the business rules, per recommendation wanted
POOL_FACTOR = 5
#: how many ranked items beyond ``limit`` are looked up, to replace any withdrawn since the last check
SPARE = 4


@dataclass(frozen=True)
class Recommendation:
    item: Item
    score: float
    #: why, as data (checkable against the training data and the pair counts)
    reasons: list[Reason]
    #: the same reasons in plain English, one text per reason
    reason_texts: list[str]
    #: post_purchase | next_order | item_to_item
    task: str
    #: where it is shown (thank_you, email, item_page...), for impressions
    placement: str = ""
    #: the model version that produced it; None for the popular fallback (cold start)
    model_version: int | None = None
    #: the ModelVersion row of ``model_version``
    model_version_pk: int | None = None


# --- the per-process model cache ----------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    version_pk: int
    version: int
    sha256: str
    model: HybridModel
    #: Item pk of each model index (kept in the artifact's metadata)
    item_ids: list[int]
    index: dict[int, int]
    trained_until: datetime | None


@dataclass
class _Entry:
    loaded: LoadedModel | None
    checked_at: float
    #: facts of the model's items (kind, price, margin, parent...), refreshed with each check
    catalog: CatalogArrays | None = None
    #: the store's items by number of orders, computed when first needed after each check
    popular: list[_PopularItem] | None = None


@dataclass(frozen=True)
class _PopularItem:
    pk: int
    kind: str
    orders: int
    buyers: int


_cache: dict[int, _Entry] = {}
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def clear_cache() -> None:
    """Forget every loaded model and every store found by :func:`store_of` (the next call checks
    and loads again)."""
    with _locks_guard:
        _cache.clear()
        _stores.clear()


#: (platform, external id) -> (the Store, when it was read), see :func:`store_of`
_stores: dict[tuple[str, str], tuple[Store, float]] = {}


def store_of(platform: str, external_id: str) -> Store | None:
    """The Store of a platform's shop, read from the database at most every
    ``MODEL_CHECK_SECONDS`` per process (the same cadence as the model check); None while there
    is none (not remembered, so a store created a moment later is found at once)."""
    memo = _stores.get((platform, external_id))
    if memo is not None and time.monotonic() - memo[1] < crosssell_settings.MODEL_CHECK_SECONDS:
        return memo[0]
    store = Store.objects.filter(platform=platform, external_id=external_id).first()
    if store is None:
        _stores.pop((platform, external_id), None)
    else:
        _stores[(platform, external_id)] = (store, time.monotonic())
    return store


def get_model(store: Store) -> LoadedModel | None:
    """The store's active model, loaded and verified; None when there is none (cold start)."""
    return _entry(store).loaded


def _lock_for(store_pk: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(store_pk, threading.Lock())


def _entry(store: Store) -> _Entry:
    interval = crosssell_settings.MODEL_CHECK_SECONDS
    entry = _cache.get(store.pk)
    if entry is not None and time.monotonic() - entry.checked_at < interval:
        return entry
    with _lock_for(store.pk):
        entry = _cache.get(store.pk)
        if entry is not None and time.monotonic() - entry.checked_at < interval:
            return entry  # another thread checked while this one waited
        fresh = _check(store, entry.loaded if entry else None)
        if entry is not None and fresh.loaded is not None and fresh.loaded is entry.loaded:
            fresh.popular = entry.popular  # the same model: keep its popularity ranking
        _cache[store.pk] = entry = fresh
        return entry


def _check(store: Store, loaded: LoadedModel | None) -> _Entry:
    for _attempt in range(5):  # a rollback makes the previous version active: try it next
        row = (
            ModelVersion.objects.for_store(store)
            .filter(status=ModelVersion.Status.ACTIVE)
            .values("pk", "version", "sha256", "artifact_path")
            .first()
        )
        if row is None or (loaded and (loaded.version_pk, loaded.sha256) == (row["pk"], row["sha256"])):
            break  # nothing active (keep what is loaded, if anything) or already loaded
        try:
            loaded = _load(store, row)
            break
        except (artifact.CorruptArtifact, FileNotFoundError) as err:
            logger.error("Store %s: model version %s is corrupt and was rejected: %s", store.pk, row["version"], err)
            _reject(store, row["pk"], f"{type(err).__name__}: {err}")
        except Exception:  # storage unreachable, say: keep serving, try again at the next check
            logger.exception("Store %s: model version %s could not be loaded", store.pk, row["version"])
            break
    return _Entry(loaded, time.monotonic(), _catalog(store, loaded) if loaded else None)


def _load(store: Store, row: dict[str, Any]) -> LoadedModel:
    started = time.monotonic()
    with default_storage.open(row["artifact_path"], "rb") as fh:
        blob = fh.read()
    if hashlib.sha256(blob).hexdigest() != row["sha256"]:
        raise artifact.CorruptArtifact("the stored bytes do not match the SHA-256 recorded at training")
    model, meta = artifact.loads(blob)
    item_ids = meta.get("item_ids")
    if meta.get("store") != store.pk or not isinstance(item_ids, list) or len(item_ids) != model.n_items:
        raise artifact.CorruptArtifact("the artifact's metadata does not describe this store's model")
    until = meta.get("trained_until")
    loaded = LoadedModel(
        version_pk=row["pk"],
        version=row["version"],
        sha256=row["sha256"],
        model=model,
        item_ids=[int(pk) for pk in item_ids],
        index={int(pk): i for i, pk in enumerate(item_ids)},
        trained_until=parse_datetime(until) if until else None,
    )
    logger.info(
        "Store %s: loaded model version %s (%d items, %d bytes) in %.3fs",
        store.pk,
        row["version"],
        model.n_items,
        len(blob),
        time.monotonic() - started,
    )
    return loaded


def _reject(store: Store, version_pk: int, error: str) -> None:
    """Mark a corrupt active version rejected and re-activate the newest earlier one (rollback)."""
    with transaction.atomic():
        Store.objects.select_for_update(no_key=True).filter(pk=store.pk).first()
        bad = ModelVersion.objects.select_for_update().filter(pk=version_pk, status=ModelVersion.Status.ACTIVE).first()
        if bad is None:
            return  # another process got there first
        bad.status, bad.error = ModelVersion.Status.REJECTED, error
        bad.save(update_fields=["status", "error"])
        previous = (
            ModelVersion.objects.for_store(store)
            .filter(status=ModelVersion.Status.RETIRED, version__lt=bad.version)
            .exclude(sha256="")
            .order_by("-version")
            .first()
        )
        if previous is not None:
            previous.status, previous.activated_at = ModelVersion.Status.ACTIVE, timezone.now()
            previous.save(update_fields=["status", "activated_at"])
            rebase_pair_counts(store, previous.trained_until)
            logger.warning("Store %s: rolled back to model version %s", store.pk, previous.version)


def _catalog(store: Store, loaded: LoadedModel) -> CatalogArrays:
    """The current facts of the model's items (an item deleted since is unavailable)."""
    n, index = len(loaded.item_ids), loaded.index
    kinds = [""] * n
    prices = np.full(n, math.nan)
    margins = np.full(n, math.nan)
    available = np.zeros(n, bool)
    parents = np.full(n, -1, np.int64)
    positions = np.full(n, -1, np.int64)
    rows = Item.objects.for_store(store).values_list(
        "pk", "kind", "price", "unit_cost", "margin_rate", "available", "parent_id", "position"
    )
    for pk, kind, price, cost, rate, is_available, parent, position in rows.iterator(chunk_size=5000):
        i = index.get(pk)
        if i is None:
            continue
        kinds[i], prices[i], available[i] = kind, float(price), is_available
        margin = price - cost if cost is not None else price * rate if rate is not None else None
        if margin is not None:
            margins[i] = float(margin)
        parents[i] = index.get(parent, -1) if parent is not None else -1
        positions[i] = -1 if position is None else position
    return CatalogArrays(kinds, prices, margins, available, parents, positions)


# --- public API ---------------------------------------------------------------------------


def for_order(order: Order, limit: int = 4, placement: str = "thank_you") -> list[Recommendation]:
    """What to show after ``order``: triggered by its first line, informed by the customer's past."""
    return for_order_from(order, _history(order.store, order.customer_id), limit=limit, placement=placement)


def _history(store: Store, customer_id: int) -> CustomerHistory:
    """One customer's purchases and progress (:func:`customer_histories` reads many at once)."""
    consumed, finished = _consumption(store, customer_id)
    return CustomerHistory(_bought(store, customer_id), consumed, frozenset(finished))


def for_order_from(
    order: Order,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "thank_you",
    *,
    reads: SharedReads | None = None,
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
        store, Task.POST_PURCHASE, trigger, None, merged, owned, limit, placement, reads=reads, history_times=times
    )


#: how many recommendations are computed ahead for a new order (a block shows at most this many
#: from them; a bigger ``limit`` computes afresh)
AHEAD = 8


def _ahead_key(order: Order) -> str:
    loaded = get_model(order.store)
    version = loaded.version if loaded is not None else 0
    return f"crosssell:ahead:{order.store_id}:{order.pk}:v{version}"


def compute_ahead(order: Order) -> list[Recommendation]:
    """Compute ``order``'s recommendations now and keep them in Django's cache for
    ``BLOCK_CACHE_SECONDS``, so the thank-you page (:func:`for_order_ahead`) does not wait for them.

    Called by the ``crosssell.compute_ahead`` task when a purchase is recorded.
    """
    recs = for_order(order, limit=AHEAD)
    seconds = crosssell_settings.BLOCK_CACHE_SECONDS
    if seconds and recs:
        kept = [
            (
                r.item.pk,
                r.score,
                [astuple(reason) for reason in r.reasons],
                r.reason_texts,
                r.model_version,
                r.model_version_pk,
            )
            for r in recs
        ]
        cache.set(_ahead_key(order), {"recs": kept, "task": recs[0].task, "all": len(recs) < AHEAD}, seconds)
    return recs


def _kept_ahead(order: Order, limit: int) -> dict[str, Any] | None:
    """What :func:`compute_ahead` kept for ``order`` under the current model version, if it can
    answer for ``limit`` recommendations; None otherwise."""
    kept = cache.get(_ahead_key(order)) if crosssell_settings.BLOCK_CACHE_SECONDS else None
    if kept is None or (limit > len(kept["recs"]) and not kept["all"]):
        return None
    return kept


def for_order_ahead(order: Order, limit: int = 4, placement: str = "thank_you") -> list[Recommendation]:
    """:func:`for_order`, from the recommendations computed ahead when the purchase was recorded
    (by the same model version, within ``BLOCK_CACHE_SECONDS``), else computed now.

    The items are read afresh (one query): one withdrawn since is left out.
    """
    kept = _kept_ahead(order, limit)
    if kept is None:
        return for_order(order, limit=limit, placement=placement)
    items = Item.objects.for_store(order.store).filter(available=True).in_bulk([pk for pk, *_ in kept["recs"]])
    results = [
        Recommendation(
            item=items[pk],
            score=score,
            reasons=[Reason(r[0], r[1], r[2], tuple(r[3])) for r in reasons],
            reason_texts=list(texts),
            task=kept["task"],
            placement=placement,
            model_version=version,
            model_version_pk=version_pk,
        )
        for pk, score, reasons, texts, version, version_pk in kept["recs"]
        if pk in items
    ]
    if len(results) < limit and not kept["all"]:
        return for_order(order, limit=limit, placement=placement)
    return results[:limit]


def summary_ahead(order: Order, limit: int = 4) -> list[tuple[int, float, list[str]]]:
    """(item pk, score, reason texts) of ``order``'s first ``limit`` recommendations, for a record
    of what was recommended (a follow-up's snapshot): from what was computed ahead when the
    purchase was recorded, without reading the items again (they were available then), else
    from :func:`for_order` now."""
    kept = _kept_ahead(order, limit)
    if kept is None:
        return [(r.item.pk, r.score, list(r.reason_texts)) for r in for_order(order, limit=limit)]
    return [(pk, score, list(texts)) for pk, score, _reasons, texts, *_ in kept["recs"][:limit]]


def for_customer(customer: Customer, limit: int = 4, placement: str = "") -> list[Recommendation]:
    """What the customer may buy next, from everything they bought and watched."""
    return for_customer_from(customer, _history(customer.store, customer.pk), limit=limit, placement=placement)


def for_customer_from(
    customer: Customer,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "",
    *,
    reads: SharedReads | None = None,
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
    )


def for_item(item: Item, limit: int = 4, placement: str = "") -> list[Recommendation]:
    """What goes with ``item``, for anyone (an item page, a guest)."""
    return _recommend(item.store, Task.ITEM_TO_ITEM, item.pk, item.kind, [], set(), limit, placement)


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


# --- scoring ------------------------------------------------------------------------------


@dataclass
class _Served:
    loaded: LoadedModel
    request: Request
    catalog: CatalogArrays
    #: the task asked for (the request's may differ: a post-purchase call whose trigger is newer
    #: than the model is scored from the history alone)
    task: str = ""
    #: recommended item pk -> {request item pk: orders that paired them since trained_until}
    recent_together: dict[int, dict[int, int]] = field(default_factory=dict)


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
    if loaded is None or catalog is None:  # cold start: no trained model yet
        return _filled(store, entry, [], blocked, limit, task, placement, rules, reads=reads)
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


def _request_items(request: Request, model: HybridModel) -> list[int]:
    """The model indices a request scores from, as the engine reads it (the heaviest history
    items, in the order they were last bought, then the trigger)."""
    items: list[int] = []
    if request.task != Task.ITEM_TO_ITEM:
        kept = set(model.history_vector(request)[0].tolist())
        latest = list(dict.fromkeys(reversed(list(request.history))))[::-1]
        items = [i for i in latest if i in kept]
    if request.trigger is not None and request.task != Task.NEXT_ORDER:
        items.append(request.trigger)
    return list(dict.fromkeys(items))


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


# --- explanations -------------------------------------------------------------------------


def _explained(
    store: Store,
    served: _Served,
    ranked: Sequence[tuple[int, float]],
    placement: str,
    limit: int,
    reads: SharedReads | None = None,
) -> list[Recommendation]:
    """The first ``limit`` of ``ranked`` that are available now, explained.

    Availability is read here, with the items themselves: the model's catalog facts are as of
    the last check (``MODEL_CHECK_SECONDS``), so an item withdrawn since is skipped and the
    next ranked one takes its place.
    """
    loaded = served.loaded
    # the candidates and (usually) the evidence of their reasons, the request's items, in one query
    wanted = [loaded.item_ids[i] for i, _ in ranked] + [
        loaded.item_ids[i] for i in _request_items(served.request, loaded.model)[-50:]
    ]
    items = reads.items(wanted) if reads is not None else Item.objects.for_store(store).defer("raw").in_bulk(wanted)
    ranked = [(i, s) for i, s in ranked if (it := items.get(loaded.item_ids[i])) is not None and it.available][:limit]
    explained = {i: explain(loaded.model, served.request, i, served.catalog) for i, _ in ranked}
    recent = {}
    for i, reasons in explained.items():
        pk = loaded.item_ids[i]
        if served.recent_together.get(pk) and not any(r.signal == "bought_together" for r in reasons):
            reason = _recent_reason(store, loaded, pk, served.recent_together[pk])
            if reason is not None:
                recent[i] = reason
    needed = set()
    for reasons in [*explained.values(), list(recent.values())]:
        for reason in reasons:
            if reason.evidence is not None and 0 <= reason.evidence < len(loaded.item_ids):
                needed.add(loaded.item_ids[reason.evidence])
    needed -= set(items)
    if needed:  # the evidence: the trigger, items in the customer's history
        items.update(
            reads.items(needed) if reads is not None else Item.objects.for_store(store).defer("raw").in_bulk(needed)
        )
    results = []
    for i, score in ranked:
        item = items.get(loaded.item_ids[i])
        if item is None or not item.available:
            continue
        reasons = ([recent[i]] if i in recent else []) + explained[i]
        pairs = [(r, _text(r, item, items, loaded)) for r in reasons[:2]]
        pairs = [(r, t) for r, t in pairs if t]
        results.append(
            Recommendation(
                item=item,
                score=float(score),
                reasons=[r for r, _ in pairs],
                reason_texts=[t for _, t in pairs],
                task=str(served.task),
                placement=placement,
                model_version=loaded.version,
                model_version_pk=loaded.version_pk,
            )
        )
    return results


def _recent_reason(store: Store, loaded: LoadedModel, item_pk: int, sources: dict[int, int]) -> Reason | None:
    """A bought-together reason from orders placed since training: customers, counted in the DB."""
    source = min(sources, key=lambda a: (-sources[a], a))
    orders = Order.objects.for_store(store).filter(lines__item_id=source).filter(lines__item_id=item_pk)
    if loaded.trained_until is not None:
        orders = orders.filter(placed_at__gt=loaded.trained_until)
    customers = orders.values("customer_id").distinct().count()
    if not customers:
        return None
    return Reason("bought_together", evidence=loaded.index[source], count=customers)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_ROLE_ORDER = ("director", "creator", "instructor", "author", "cast")
_ROLE_LABEL = {"cast": "cast member"}


def _text(reason: Reason, item: Item, items: dict[int, Item], loaded: LoadedModel) -> str | None:
    """Plain English for one reason, or None when it cannot be said truthfully any more."""
    evidence = items.get(loaded.item_ids[reason.evidence]) if reason.evidence is not None else None
    if reason.signal == "popular" and reason.count:
        return f"Popular right now ({_plural(reason.count, 'buyer')})"
    if evidence is None:
        return None
    if reason.signal == "bought_together":
        return f"Customers who bought {evidence.title} also bought this ({reason.count})"
    if reason.signal == "bought_next":
        return f"Customers who bought {evidence.title} bought this next ({reason.count})"
    if reason.signal == "next_in_sequence":
        return f"Next in {evidence.title}"
    if reason.signal == "similar":
        return _similar_text(reason.shared, evidence, item)
    return None


def _similar_text(shared: Sequence[str], a: Item, b: Item) -> str | None:
    """The most telling attribute both items have *today* ("Same director: Denis Villeneuve")."""
    both = structured_tokens(item_text(a)) & structured_tokens(item_text(b)) & set(shared)
    people = [t.removeprefix("person:") for t in sorted(both) if t.startswith("person:")]
    best: tuple[int, str] | None = None
    for name in people:
        roles_a, roles_b = _roles(a, name), _roles(b, name)
        display = _display_name(b, name)
        for role in sorted(roles_a & roles_b, key=lambda r: (_rank(r), r)):
            candidate = (_rank(role), f"Same {_ROLE_LABEL.get(role, role)}: {display}")
            best = min(best, candidate) if best else candidate
        if best is None:
            best = (len(_ROLE_ORDER) + 1, f"Also with {display}")
    if best is not None:
        return best[1]
    for token in sorted(both):
        if token.startswith("tag:"):
            value = token.removeprefix("tag:")
            genre_a = any(g.strip().lower() == value for g in a.genres or [])
            genre_b = [g for g in b.genres or [] if g.strip().lower() == value]
            if genre_a and genre_b:
                return f"Same genre: {genre_b[0].strip()}"
            label = next((t.strip() for t in [*(b.tags or []), *(b.genres or [])] if t.strip().lower() == value), value)
            return f"Also tagged {label}"
    for token in sorted(both):
        if token.startswith("level:"):
            return f"Same level: {b.level}"
    return None


def _rank(role: str) -> int:
    return _ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER)


def _roles(item: Item, name: str) -> set[str]:
    people = item.people or {}
    return {role for role, names in people.items() if any(n.strip().lower() == name for n in names or [])}


def _display_name(item: Item, name: str) -> str:
    for names in (item.people or {}).values():
        for n in names or []:
            if n.strip().lower() == name:
                return n.strip()
    return name


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
