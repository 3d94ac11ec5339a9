"""Who gets what: a customer's arms in the store's running experiments, and what they imply.

:func:`treatment_for` is asked by every surface (:mod:`crosssell_plugin.surfaces.serve`) and by
follow-up planning and sending. The first time a customer meets a running experiment, an arm is
picked by a salted SHA-256 of the experiment's salt and the customer's pk (uniform in [0, 1),
cut by the arms' weights, or a bandit's current shares) and recorded as an
:class:`~crosssell_plugin.models.Assignment`; from then on the recorded arm is the answer, even if
the weights change. Two processes assigning the same customer at once pick the same arm (the hash
is deterministic) and the unique constraint keeps one row.

The store's holdout experiment is created with the first assignment, with
``CROSSSELL["HOLDOUT_SHARE"]`` of customers in its ``holdout`` arm. A customer in any arm marked
``holdout`` gets no cross-sell at all (:attr:`Treatment.held_out`).

The running experiments of a store are read at most every ``MODEL_CHECK_SECONDS`` per process
(and at once after an experiment or an arm is saved in this process).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save

from ..conf import crosssell_settings
from ..models import HOLDOUT_LAYER, Arm, Assignment, Customer, Experiment, Order, Store

logger = logging.getLogger(__name__)

__all__ = [
    "FULL",
    "Treatment",
    "assign",
    "bucket",
    "clear_cache",
    "ensure_holdout",
    "has_variants",
    "pick",
    "running",
    "treatment_for",
    "treatments_for",
]


@dataclass(frozen=True)
class Treatment:
    """What a customer gets, from their arms on every layer."""

    held_out: bool = False
    strategy: str = Arm.Strategy.MODEL
    channel: str = ""
    delay_scale: Decimal = Decimal(1)
    offers: bool = True
    variant: str = ""


#: everything (a guest, or a store without experiments)
FULL = Treatment()


@dataclass(frozen=True)
class _Arm:
    pk: int
    name: str
    share: float
    holdout: bool
    strategy: str
    channel: str
    delay_scale: Decimal
    offers: bool
    variant: str


@dataclass(frozen=True)
class _Running:
    pk: int
    layer: str
    salt: str
    arms: tuple[_Arm, ...]


def bucket(salt: str, key: str | int) -> float:
    """A stable number in [0, 1) for ``key`` under ``salt`` (the first 8 bytes of a SHA-256)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(shares: Sequence[tuple[int, float]], u: float) -> int:
    """The arm whose slice of [0, 1) holds ``u``, the slices in the order given and proportional
    to the shares (which need not sum to 1). Raises ValueError when no share is positive."""
    total = sum(max(share, 0.0) for _, share in shares)
    if total <= 0:
        raise ValueError("no arm has a positive weight")
    edge = 0.0
    for pk, share in shares:
        edge += max(share, 0.0) / total
        if u < edge:
            return pk
    return next(pk for pk, share in reversed(shares) if share > 0)  # u within rounding of 1


# --- the running experiments of a store, per process ---------------------------------------------

_cache: dict[int, tuple[float, tuple[_Running, ...]]] = {}
#: stores known (in this process) to have a holdout experiment, running or not
_with_holdout: set[int] = set()
_lock = threading.Lock()


def clear_cache(*args: Any, **kwargs: Any) -> None:
    """Forget the running experiments read so far (after a change, and between tests)."""
    with _lock:
        _cache.clear()
        _with_holdout.clear()


for _model in (Experiment, Arm):
    post_save.connect(clear_cache, sender=_model, dispatch_uid=f"crosssell-experiments-{_model.__name__}-save")
    post_delete.connect(clear_cache, sender=_model, dispatch_uid=f"crosssell-experiments-{_model.__name__}-delete")


def _read(store_id: int) -> tuple[_Running, ...]:
    experiments = list(
        Experiment.objects.for_store(store_id)
        .filter(status=Experiment.Status.RUNNING)
        .order_by("layer", "pk")
        .prefetch_related("arms")
    )
    result = []
    for experiment in experiments:
        arms = tuple(
            _Arm(
                pk=arm.pk,
                name=arm.name,
                share=float(arm.share if arm.share is not None and not arm.holdout else arm.weight),
                holdout=arm.holdout,
                strategy=arm.strategy,
                channel=arm.channel,
                delay_scale=arm.delay_scale,
                offers=arm.offers,
                variant=arm.variant,
            )
            for arm in experiment.arms.all()  # by pk (Arm's ordering)
        )
        if any(arm.share > 0 for arm in arms):
            result.append(_Running(experiment.pk, experiment.layer, experiment.salt, arms))
    return tuple(sorted(result, key=lambda e: e.layer != HOLDOUT_LAYER))  # stable: then by layer, pk


def has_variants(store: Store | int) -> bool:
    """Whether a running experiment other than the holdout could give a customer a copy variant
    (no query once the running experiments are read)."""
    return any(e.layer != HOLDOUT_LAYER for e in running(store))


def running(store: Store | int) -> tuple[_Running, ...]:
    """The store's running experiments that have an arm to assign to, holdout first."""
    store_id = store if isinstance(store, int) else store.pk
    now = time.monotonic()
    with _lock:
        cached = _cache.get(store_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    experiments = _read(store_id)
    with _lock:
        _cache[store_id] = (now + crosssell_settings.MODEL_CHECK_SECONDS, experiments)
    return experiments


def ensure_holdout(store: Store) -> Experiment:
    """The store's holdout experiment, created (running) with ``HOLDOUT_SHARE`` held out."""
    existing = Experiment.objects.for_store(store).filter(layer=HOLDOUT_LAYER).order_by("-pk").first()
    if existing is not None:
        return existing
    share = Decimal(str(crosssell_settings.HOLDOUT_SHARE))
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                store=store,
                name="Holdout",
                kind=Experiment.Kind.HOLDOUT,
                layer=HOLDOUT_LAYER,
                status=Experiment.Status.RUNNING,
            )
            Arm.objects.create(experiment=experiment, name="holdout", weight=share, holdout=True)
            Arm.objects.create(experiment=experiment, name="treatment", weight=Decimal(1) - share)
    except IntegrityError:  # another process created it first
        return Experiment.objects.for_store(store).get(layer=HOLDOUT_LAYER, status=Experiment.Status.RUNNING)
    return experiment


def _combine(assigned: Sequence[tuple[_Running, _Arm]]) -> Treatment:
    """The treatment of a customer's arms, holdout layer first then by layer name: the first arm
    that sets a choice (a strategy, a channel, a cadence, no offers, a copy variant) decides it."""
    arms = [arm for _, arm in assigned]
    if any(arm.holdout for arm in arms):
        return Treatment(held_out=True)
    strategy = next((a.strategy for a in arms if a.strategy != Arm.Strategy.MODEL), Arm.Strategy.MODEL)
    channel = next((a.channel for a in arms if a.channel), "")
    delay_scale = next((a.delay_scale for a in arms if a.delay_scale != 1), Decimal(1))
    offers = all(a.offers for a in arms)
    variants = [arm.variant for e, arm in assigned if e.layer != HOLDOUT_LAYER]
    return Treatment(
        strategy=strategy,
        channel=channel,
        delay_scale=delay_scale,
        offers=offers,
        variant="+".join(variants)[:50],
    )


def treatment_for(store: Store, customer: Customer | None, *, order: Order | None = None) -> Treatment:
    """What ``customer`` gets in ``store``: their recorded arms, assigning them (and recording it,
    with ``order`` as the trigger) on each running experiment they have not met yet. A guest
    (no customer) gets everything: a holdout is a set of customers."""
    if customer is None:
        return FULL
    return treatments_for(store, [customer.pk], order=order)[customer.pk]


def treatments_for(
    store: Store | int, customer_ids: Sequence[int], *, order: Order | None = None, _retry: bool = True
) -> dict[int, Treatment]:
    """:func:`treatment_for` of several customers of one store, in one read of their assignments
    (and one write of the new ones): the dispatcher's chunk of messages. ``order``, the trigger of
    the new assignments, is only given for one customer (the order's)."""
    store_id = store if isinstance(store, int) else store.pk
    ids = list(dict.fromkeys(customer_ids))
    experiments = running(store_id)
    if not experiments or not ids:
        return dict.fromkeys(ids, FULL)
    by_pk = {arm.pk: (experiment, arm) for experiment in experiments for arm in experiment.arms}
    pks = [e.pk for e in experiments]

    def recorded_arms() -> dict[tuple[int, int], int]:
        rows = (
            Assignment.objects.for_store(store_id)
            .filter(customer_id__in=ids, experiment_id__in=pks)
            .values_list("customer_id", "experiment_id", "arm_id")
        )
        return {(customer_id, experiment_id): arm_id for customer_id, experiment_id, arm_id in rows}

    recorded = recorded_arms()
    rows = [
        Assignment(
            store_id=store_id,
            experiment_id=e.pk,
            arm_id=pick([(arm.pk, arm.share) for arm in e.arms], bucket(e.salt, customer_id)),
            customer_id=customer_id,
            trigger_order=order,
        )
        for customer_id in ids
        for e in experiments
        if (customer_id, e.pk) not in recorded
    ]
    if rows:
        try:
            with transaction.atomic():
                Assignment.objects.bulk_create(rows, ignore_conflicts=True)
        except IntegrityError:
            # an experiment or arm deleted since this process read them: read them again, once
            clear_cache()
            if _retry:
                return treatments_for(store_id, ids, order=order, _retry=False)
            logger.warning("Could not assign customers of store %s to its experiments", store_id)
            return dict.fromkeys(ids, FULL)
        recorded = recorded_arms()  # a concurrent assignment may have been first
    return {
        customer_id: _combine(
            [by_pk[recorded[(customer_id, e.pk)]] for e in experiments if recorded.get((customer_id, e.pk)) in by_pk]
        )
        for customer_id in ids
    }


def assign(order: Order) -> Treatment:
    """The purchase pipeline's first step: the order's customer assigned to the store's running
    experiments (the store's holdout created first if it has none, stopped or not), the order as
    the trigger."""
    store = order.store
    if store.pk not in _with_holdout:
        if not Experiment.objects.for_store(store).filter(layer=HOLDOUT_LAYER).exists():
            ensure_holdout(store)  # clears the cache (a saved experiment)
        with _lock:
            _with_holdout.add(store.pk)
    return treatment_for(store, order.customer, order=order)
