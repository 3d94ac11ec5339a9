"""Train a store's recommender from its orders and progress reports, and keep pair counts current.

``train_store`` reads the store's data (store-scoped queries only), fits the engine with tuned
blend weights, writes the artifact to Django's ``default_storage`` and swaps the new version in
atomically: until the swap commits the previous active version keeps serving, and if anything
fails the new version is marked ``rejected`` with the error.

Between trainings, ``count_order_pairs`` (run by the ``crosssell.update_pair_counts`` task after
each new purchase) adds the pairs of orders placed after the active model's ``trained_until`` to
:class:`~crosssell_plugin.models.PairCount`; recommendations add them to the model's scores.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from ..engine import artifact
from ..engine.content import ItemText
from ..engine.interactions import Interactions
from ..engine.rules import CatalogArrays
from ..engine.tuning import fit_tuned
from ..models import Consumption, Item, ModelVersion, Order, OrderLine, PairCount, PairCountedOrder, Store

# its name before it moved here: crosssell_train and LOGGING configs listen to it
logger = logging.getLogger("crosssell_plugin.training")

#: progress(stage, **details). Stages, in order: loading, loaded, fitting, tuning (once per
#: configuration tried, with a ``message``), fitted, saving, saved, then activated, superseded
#: or rejected.
Progress = Callable[..., None]

#: earlier orders of the customer whose items lead "next" to a new order's items (the engine's
#: sequence window counts orders as steps, 5 by default)
NEXT_WINDOW_ORDERS = 5


def artifact_name(store: Store | int, version: int) -> str:
    """Where a version's artifact is stored in ``default_storage``."""
    store_pk = store.pk if isinstance(store, Store) else store
    return f"crosssell/models/{store_pk}/{version}.model"


# --- training data ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    interactions: Interactions
    items: list[Item]
    texts: list[ItemText]
    catalog: CatalogArrays
    #: the newest order or progress report used (None when there is none)
    trained_until: datetime | None
    n_customers: int


def item_text(item: Item) -> ItemText:
    """What the engine's content similarity knows about an item (tags and genres together)."""
    tags = tuple(dict.fromkeys([*(item.tags or []), *(item.genres or [])]))
    people = {role: tuple(names) for role, names in (item.people or {}).items() if isinstance(names, list)}
    return ItemText(
        title=item.title,
        description=item.description,
        kind=item.kind,
        tags=tags,
        people=people,
        level=item.level,
        language=item.language,
    )


def catalog_arrays(items: list[Item]) -> CatalogArrays:
    """Per-item facts aligned with ``items`` (index = position in the list)."""
    index = {item.pk: i for i, item in enumerate(items)}
    margins = [item.unit_margin for item in items]
    return CatalogArrays(
        kinds=[item.kind for item in items],
        prices=np.array([float(item.price) for item in items], dtype=float),
        margins=np.array([math.nan if m is None else float(m) for m in margins], dtype=float),
        available=np.array([item.available for item in items], dtype=bool),
        parents=np.array([index.get(item.parent_id, -1) for item in items], dtype=np.int64),
        positions=np.array([-1 if item.position is None else item.position for item in items], dtype=np.int64),
    )


def _collect(store: Store) -> TrainingData:
    items = list(Item.objects.for_store(store).order_by("pk"))
    index = {item.pk: i for i, item in enumerate(items)}
    users: dict[int, int] = {}
    rows_u: list[int] = []
    rows_i: list[int] = []
    rows_t: list[float] = []
    rows_w: list[float] = []
    newest: datetime | None = None

    def add(customer: int, item: int, when: datetime, weight: float) -> None:
        nonlocal newest
        if item not in index:  # an item of another store cannot appear; this is belt and braces
            return
        rows_u.append(users.setdefault(customer, len(users)))
        rows_i.append(index[item])
        rows_t.append(when.timestamp())
        rows_w.append(weight)
        if newest is None or when > newest:
            newest = when

    lines = OrderLine.objects.for_store(store).values_list("order__customer_id", "item_id", "order__placed_at")
    for customer, item, placed_at in lines.order_by("order__customer_id", "order__placed_at", "position").iterator(
        chunk_size=5000
    ):
        add(customer, item, placed_at, 1.0)
    watched = (
        Consumption.objects.for_store(store)
        .filter(progress__gt=0)
        .values_list("customer_id", "item_id", "last_event_at", "progress")
        .order_by("customer_id", "last_event_at", "item_id")
    )
    for customer, item, when, progress in watched.iterator(chunk_size=5000):
        add(customer, item, when, float(progress))
    interactions = Interactions.from_arrays(
        np.array(rows_u, dtype=np.int32),
        np.array(rows_i, dtype=np.int32),
        np.array(rows_t, dtype=np.float64),
        np.array(rows_w, dtype=np.float32),
        n_users=len(users),
        n_items=len(items),
    )
    return TrainingData(
        interactions=interactions,
        items=items,
        texts=[item_text(item) for item in items],
        catalog=catalog_arrays(items),
        trained_until=newest,
        n_customers=len(users),
    )


def load_training_data(store: Store) -> tuple[Interactions, list[Item], list[ItemText], CatalogArrays]:
    """The store's interactions, its items in pk order (index = position), their texts and facts.

    Every order line counts as one interaction (customer, item, ``placed_at``, weight 1); every
    progress report with progress > 0 as one at ``last_event_at`` weighted by the progress.
    """
    data = _collect(store)
    return data.interactions, data.items, data.texts, data.catalog


# --- training -----------------------------------------------------------------------------


def _noop(stage: str, **details: Any) -> None:
    pass


def train_store(store: Store, progress: Progress | None = None) -> ModelVersion:
    """Fit, store and activate a new model version for ``store``; returns the version.

    On failure the version is ``rejected`` (with the error) and the previous active version keeps
    serving; check ``version.status``. ``progress(stage, **details)`` is called at each stage.
    """
    report = progress or _noop
    version = _new_version(store)
    started = time.monotonic()
    try:
        report("loading", store=store, version=version.version)
        data = _collect(store)
        load_seconds = time.monotonic() - started
        details = {
            "items": len(data.items),
            "interactions": len(data.interactions),
            "customers": data.n_customers,
            "seconds": load_seconds,
        }
        logger.info(
            "Store %s v%s: loaded %d items, %d interactions, %d customers in %.2fs",
            store.pk,
            version.version,
            *details.values(),
        )
        report("loaded", **details)

        report("fitting")
        fit_started = time.monotonic()

        def tuning(message: str) -> None:
            logger.info("Store %s v%s: %s", store.pk, version.version, message)
            report("tuning", message=message)

        model, metrics = fit_tuned(data.interactions, data.texts, progress=tuning)
        fit_seconds = time.monotonic() - fit_started
        logger.info("Store %s v%s: fitted in %.2fs, %s", store.pk, version.version, fit_seconds, metrics)
        report("fitted", seconds=fit_seconds, metrics=metrics)

        report("saving")
        save_started = time.monotonic()
        meta = {
            "store": store.pk,
            "version": version.version,
            "item_ids": [item.pk for item in data.items],
            "trained_until": data.trained_until.isoformat() if data.trained_until else None,
        }
        blob = artifact.dumps(model, meta=meta)
        path = default_storage.save(artifact_name(store, version.version), ContentFile(blob))
        version.artifact_path = path
        version.sha256 = hashlib.sha256(blob).hexdigest()
        version.size = len(blob)
        version.trained_until = data.trained_until
        version.n_items = len(data.items)
        version.n_customers = data.n_customers
        version.n_interactions = len(data.interactions)
        version.metrics = {k: float(v) for k, v in metrics.items()}
        version.fit_seconds = fit_seconds
        version.save()
        save_seconds = time.monotonic() - save_started
        logger.info(
            "Store %s v%s: saved %s (%d bytes) in %.2fs", store.pk, version.version, path, len(blob), save_seconds
        )
        report("saved", path=path, bytes=len(blob), seconds=save_seconds)

        activated = activate(version)
    except Exception as err:
        logger.exception("Store %s v%s: training failed; the active version keeps serving", store.pk, version.version)
        ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.REJECTED, error=_describe(err))
        version.refresh_from_db()
        report("rejected", error=version.error, seconds=time.monotonic() - started)
        return version
    total = time.monotonic() - started
    if activated:
        logger.info("Store %s: version %s is active (%.2fs in all)", store.pk, version.version, total)
        report("activated", version=version.version, seconds=total)
    else:
        logger.warning("Store %s: version %s finished after a newer one and was retired", store.pk, version.version)
        report("superseded", version=version.version, error=version.error, seconds=total)
    return version


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:10_000]


def _new_version(store: Store) -> ModelVersion:
    with transaction.atomic():
        # Lock the store row (not its key: orders can still be inserted) so that two trainings
        # started at once get different version numbers.
        Store.objects.select_for_update(no_key=True).filter(pk=store.pk).first()
        latest = ModelVersion.objects.for_store(store).aggregate(latest=Max("version"))["latest"] or 0
        return ModelVersion.objects.create(store=store, version=latest + 1, status=ModelVersion.Status.TRAINING)


def activate(version: ModelVersion) -> bool:
    """Make ``version`` the store's active one in one transaction; False if a newer one is active.

    The previous active version is retired in the same transaction, so every reader sees exactly
    one active version before and after. The pair counts are rebased on the new ``trained_until``.
    """
    with transaction.atomic():
        Store.objects.select_for_update(no_key=True).filter(pk=version.store_id).first()
        current = list(
            ModelVersion.objects.select_for_update().filter(
                store_id=version.store_id, status=ModelVersion.Status.ACTIVE
            )
        )
        newer = [v for v in current if v.version > version.version]
        if newer:  # two trainings overlapped and the later one finished first: keep it
            version.status = ModelVersion.Status.RETIRED
            version.error = f"superseded: version {newer[0].version} was activated first"
            version.save(update_fields=["status", "error"])
            return False
        ModelVersion.objects.filter(pk__in=[v.pk for v in current]).update(status=ModelVersion.Status.RETIRED)
        version.status = ModelVersion.Status.ACTIVE
        version.activated_at = timezone.now()
        version.save(update_fields=["status", "activated_at"])
        rebase_pair_counts(version.store_id, version.trained_until)
    return True


# --- pair counts between trainings --------------------------------------------------------


def _order_pairs(store_id: int, order: Order) -> Counter[tuple[int, int, str]]:
    """The (item_a, item_b, kind) pairs one order contributes."""
    items = list(
        dict.fromkeys(
            OrderLine.objects.for_store(store_id)
            .filter(order=order)
            .order_by("position")
            .values_list("item_id", flat=True)
        )
    )
    pairs: Counter[tuple[int, int, str]] = Counter()
    for a in items:
        for b in items:
            if a != b:
                pairs[(a, b, PairCount.Kind.TOGETHER)] += 1
    earlier = list(
        Order.objects.for_store(store_id)
        .filter(customer_id=order.customer_id, placed_at__lt=order.placed_at)
        .order_by("-placed_at", "-pk")
        .values_list("pk", flat=True)[:NEXT_WINDOW_ORDERS]
    )
    if earlier:
        before = set(OrderLine.objects.for_store(store_id).filter(order__in=earlier).values_list("item_id", flat=True))
        for a in sorted(before):
            for b in items:
                if a != b:
                    pairs[(a, b, PairCount.Kind.NEXT)] += 1
    return pairs


def _add_pairs(store_id: int, pairs: Counter[tuple[int, int, str]]) -> None:
    """Add to the counts. The caller holds the store lock, so no other writer inserts meanwhile."""
    now = timezone.now()
    missing = []
    for (a, b, kind), n in sorted(pairs.items()):
        updated = (
            PairCount.objects.for_store(store_id)
            .filter(item_a_id=a, item_b_id=b, kind=kind)
            .update(count=F("count") + n, updated_at=now)
        )
        if not updated:
            missing.append(PairCount(store_id=store_id, item_a_id=a, item_b_id=b, kind=kind, count=n))
    PairCount.objects.bulk_create(missing)


def _active_trained_until(store_id: int) -> tuple[bool, datetime | None]:
    """Whether the store has an active version, and its ``trained_until``."""
    rows = list(
        ModelVersion.objects.for_store(store_id)
        .filter(status=ModelVersion.Status.ACTIVE)
        .values_list("trained_until", flat=True)[:1]
    )
    return bool(rows), rows[0] if rows else None


def count_order_pairs(order_pk: int) -> int:
    """Add one new order's pairs to the store's pair counts, once; returns the pairs added.

    Idempotent: a :class:`PairCountedOrder` row is inserted in the same transaction as the counts,
    so a second run (a retried task, a second delivery) finds it and adds nothing. An order the
    active model already learned from (placed at or before its ``trained_until``) is not counted.
    """
    order = Order.objects.filter(pk=order_pk).first()
    if order is None:
        return 0
    with transaction.atomic():
        # Serializes with other counts and with the rebase done when a new version is activated.
        Store.objects.select_for_update(no_key=True).filter(pk=order.store_id).first()
        has_active, trained_until = _active_trained_until(order.store_id)
        if has_active and trained_until is not None and order.placed_at <= trained_until:
            return 0
        try:
            with transaction.atomic():
                PairCountedOrder.objects.create(store_id=order.store_id, order=order)
        except IntegrityError:
            return 0  # counted already
        pairs = _order_pairs(order.store_id, order)
        _add_pairs(order.store_id, pairs)
    logger.debug("Order %s: %d pairs counted", order_pk, sum(pairs.values()))
    return sum(pairs.values())


def rebase_pair_counts(store: Store | int, trained_until: datetime | None) -> int:
    """Recount the store's pair counts from scratch over the orders placed after ``trained_until``.

    Called inside :func:`activate`'s transaction (the new model has learned everything up to
    ``trained_until``), and after a rollback to an older version. Returns the orders counted.
    """
    store_id = store.pk if isinstance(store, Store) else store
    with transaction.atomic():
        Store.objects.select_for_update(no_key=True).filter(pk=store_id).first()
        PairCount.objects.for_store(store_id).delete()
        PairCountedOrder.objects.for_store(store_id).delete()
        orders = Order.objects.for_store(store_id).order_by("placed_at", "pk")
        if trained_until is not None:
            orders = orders.filter(placed_at__gt=trained_until)
        total: Counter[tuple[int, int, str]] = Counter()
        counted = list(orders)
        for order in counted:
            total.update(_order_pairs(store_id, order))
        PairCountedOrder.objects.bulk_create(PairCountedOrder(store_id=store_id, order=order) for order in counted)
        PairCount.objects.bulk_create(
            PairCount(store_id=store_id, item_a_id=a, item_b_id=b, kind=kind, count=n)
            for (a, b, kind), n in sorted(total.items())
        )
    if counted:
        logger.info("Store %s: pair counts rebased on %d orders since %s", store_id, len(counted), trained_until)
    return len(counted)


def stores_to_train(include_inactive: bool = False) -> Iterable[Store]:
    stores = Store.objects.order_by("pk")
    return stores if include_inactive else stores.filter(is_active=True)
