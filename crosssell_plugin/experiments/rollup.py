"""The daily rollup: a store's raw rows summed into ArmDay, StepDay, PlacementDay and PairStat.

:func:`run` recomputes, for one store, the days whose figures can still change and leaves the
others as they are; :func:`run_all` does it for every active store (the nightly
``crosssell.rollup_all_stores`` task and ``manage.py crosssell_rollup``). What each row means is
the measurement contract (``docs/measurement.md``, "Rollups"):

- :class:`~crosssell_plugin.models.ArmDay` - an arm's cohort of one UTC day (its assignments of
  that day, by the currency of their trigger order) and what those customers did within the
  experiment's window: further orders, net revenue, refunds, impressions, clicks, conversions.
- :class:`~crosssell_plugin.models.StepDay` - a follow-up step's messages for the orders of a day.
- :class:`~crosssell_plugin.models.PlacementDay` - a placement's impressions of a day.
- :class:`~crosssell_plugin.models.PairStat` - bought item -> recommended item over the trailing
  ``ROLLUP_PAIR_DAYS``, rebuilt on every run.

Which days are recomputed (``full=False``):

- ArmDay cohorts from ``today - max(window_days) - ROLLUP_REFUND_DAYS``: a cohort's window is
  open for ``window_days``, and a refund can still arrive on its orders for ``ROLLUP_REFUND_DAYS``.
- StepDay days from ``today - ATTRIBUTION_WINDOW_DAYS - ROLLUP_REFUND_DAYS``, and earlier when a
  message of an older order is still pending or was sent within ``ATTRIBUTION_WINDOW_DAYS`` (its
  status, clicks and conversions can still change).
- PlacementDay days from ``today - ATTRIBUTION_WINDOW_DAYS - ROLLUP_REFUND_DAYS``.

``full=True`` recomputes every day since the store's first assignment, order or impression
(after an import of old data, or a change of the definitions). The rows of the recomputed days
are deleted and written again in one transaction: a reader sees the old figures or the new ones,
never half of them. The sums are read in bulk (one query per day-range and table, per batch of
customers for the cohorts), never per customer.
"""

from __future__ import annotations

import logging
import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..conf import crosssell_settings
from ..models import (
    Arm,
    ArmDay,
    Assignment,
    Click,
    Conversion,
    Experiment,
    Impression,
    Order,
    OrderLine,
    PairStat,
    PlacementDay,
    RollupRun,
    ScheduledMessage,
    StepDay,
    Store,
)
from . import bandit

logger = logging.getLogger("crosssell.rollup")

__all__ = ["Progress", "run", "run_all", "update_bandits"]

#: ``progress(done, total, message)``: days done of the days to recompute
Progress = Callable[[int, int, str], None]

#: cohort days summed per pass (their customers' orders read once per pass)
CHUNK_DAYS = 7
#: customers per ``IN (...)`` query (below SQLite's 999 parameters)
BATCH = 500
ZERO = Decimal(0)


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _days(first: date, last: date) -> int:
    return max((last - first).days + 1, 0)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _money_map(sums: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in sorted(sums.items())}


# --- which days ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranges:
    """The first day recomputed per table (None: nothing to compute); every range ends on ``today``."""

    arms: date | None
    steps: date | None
    placements: date | None


def _first_data_day(store: Store) -> date | None:
    firsts = [
        Assignment.objects.for_store(store).aggregate(m=Min("assigned_at"))["m"],
        Order.objects.for_store(store).aggregate(m=Min("placed_at"))["m"],
        Impression.objects.for_store(store).aggregate(m=Min("created_at"))["m"],
    ]
    known = [_utc_day(moment) for moment in firsts if moment is not None]
    return min(known) if known else None


def _open_ranges(store: Store, today: date, full: bool) -> _Ranges:
    first = _first_data_day(store)
    if first is None or first > today:
        return _Ranges(None, None, None)
    if full:
        return _Ranges(first, first, first)
    refund = crosssell_settings.ROLLUP_REFUND_DAYS
    attribution = crosssell_settings.ATTRIBUTION_WINDOW_DAYS
    window = Experiment.objects.for_store(store).aggregate(m=Max("window_days"))["m"] or 0
    arms = today - timedelta(days=window + refund)
    steps = today - timedelta(days=attribution + refund)
    still_open = ScheduledMessage.objects.for_store(store).filter(
        Q(status__in=[ScheduledMessage.Status.PLANNED, ScheduledMessage.Status.CLAIMED])
        | Q(status=ScheduledMessage.Status.SENT, sent_at__gte=_midnight(today - timedelta(days=attribution)))
    )
    oldest_open = still_open.aggregate(m=Min("order__placed_at"))["m"]
    if oldest_open is not None:
        steps = min(steps, _utc_day(oldest_open))
    placements = today - timedelta(days=attribution + refund)
    return _Ranges(max(arms, first), max(steps, first), max(placements, first))


# --- ArmDay ---------------------------------------------------------------------------------------


@dataclass
class _ArmSums:
    experiment_id: int
    complete: bool
    customers: int = 0
    converted: int = 0
    exposed: int = 0
    attributed: int = 0
    orders: int = 0
    revenue: Decimal = ZERO
    refunded: Decimal = ZERO
    revenue_squares: float = 0.0
    order_value_squares: float = 0.0
    attributed_revenue: Decimal = ZERO
    impressions: int = 0
    clicks: int = 0


@dataclass
class _Activity:
    """One batch of customers' orders, impressions and conversions, by customer."""

    orders: dict[int, list[tuple[int, datetime, str, Decimal, Decimal]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    impressions: dict[int, list[tuple[datetime, int]]] = field(default_factory=lambda: defaultdict(list))
    conversions: dict[int, list[tuple[datetime, str, Decimal]]] = field(default_factory=lambda: defaultdict(list))


def _activity(store: Store, customer_ids: Sequence[int], after: datetime, until: datetime) -> _Activity:
    found = _Activity()
    orders = (
        Order.objects.for_store(store)
        .filter(customer_id__in=customer_ids, placed_at__gt=after, placed_at__lte=until)
        .values_list("customer_id", "pk", "placed_at", "currency", "total", "refunded_total")
    )
    for customer_id, pk, placed_at, currency, total, refunded in orders.iterator(chunk_size=2000):
        found.orders[customer_id].append((pk, placed_at, currency, total, refunded))
    impressions = (
        Impression.objects.for_store(store)
        .filter(customer_id__in=customer_ids, created_at__gt=after, created_at__lte=until)
        .values_list("pk", "customer_id", "created_at")
        .annotate(n=Count("clicks"))
    )
    for _pk, customer_id, created_at, clicks in impressions.iterator(chunk_size=2000):
        found.impressions[customer_id].append((created_at, clicks))
    conversions = (
        Conversion.objects.for_store(store)
        .filter(impression__customer_id__in=customer_ids, order__placed_at__gt=after, order__placed_at__lte=until)
        .values_list("impression__customer_id", "order__placed_at", "currency", "amount")
    )
    for customer_id, placed_at, currency, amount in conversions.iterator(chunk_size=2000):
        found.conversions[customer_id].append((placed_at, currency, amount))
    return found


def _add_customer(sums: _ArmSums, activity: _Activity, assignment: tuple[Any, ...]) -> None:
    """One assigned customer's outcome within their window, added to their cohort's sums."""
    customer_id, trigger_id, start, end, currency = assignment
    sums.customers += 1
    further = [o for o in activity.orders.get(customer_id, ()) if start < o[1] <= end and o[0] != trigger_id]
    net_of_customer = ZERO
    for _pk, _placed_at, order_currency, total, refunded in further:
        if order_currency != currency:
            continue
        net = total - refunded
        sums.orders += 1
        sums.revenue += net
        sums.refunded += refunded
        sums.order_value_squares += float(net) ** 2
        net_of_customer += net
    sums.converted += bool(further)
    sums.revenue_squares += float(net_of_customer) ** 2
    shown = [clicks for created_at, clicks in activity.impressions.get(customer_id, ()) if start < created_at <= end]
    sums.exposed += bool(shown)
    sums.impressions += len(shown)
    sums.clicks += sum(shown)
    bought = [
        (c, amount) for placed_at, c, amount in activity.conversions.get(customer_id, ()) if start < placed_at <= end
    ]
    sums.attributed += bool(bought)
    sums.attributed_revenue += sum((amount for c, amount in bought if c == currency), ZERO)


def _arm_days(store: Store, first: date, today: date, progress: Progress, done: int, total: int) -> list[ArmDay]:
    windows = dict(Experiment.objects.for_store(store).values_list("pk", "window_days"))
    sums: dict[tuple[int, date, str], _ArmSums] = {}
    day = first
    while day <= today:
        last = min(day + timedelta(days=CHUNK_DAYS - 1), today)
        cohort = _cohort(store, day, last, windows)
        by_customer: dict[int, list[tuple[tuple[int, date, str], tuple[Any, ...]]]] = defaultdict(list)
        for arm_id, experiment_id, customer_id, trigger_id, start, currency, cohort_day in cohort:
            key = (arm_id, cohort_day, currency)
            if key not in sums:
                window = windows[experiment_id]
                sums[key] = _ArmSums(experiment_id, complete=cohort_day + timedelta(days=window) < today)
            end = start + timedelta(days=windows[experiment_id])
            by_customer[customer_id].append((key, (customer_id, trigger_id, start, end, currency)))
        customer_ids = sorted(by_customer)
        for batch in _chunks(customer_ids, BATCH):
            entries = [entry for customer_id in batch for entry in by_customer[customer_id]]
            after = min(entry[1][2] for entry in entries)
            until = max(entry[1][3] for entry in entries)
            activity = _activity(store, batch, after, until)
            for key, assignment in entries:
                _add_customer(sums[key], activity, assignment)
        done += _days(day, last)
        progress(done, total, f"cohorts {day} to {last}: {len(cohort):,} assignments")
        day = last + timedelta(days=1)
    now = timezone.now()
    return [
        ArmDay(
            store=store,
            experiment_id=s.experiment_id,
            arm_id=arm_id,
            day=cohort_day,
            currency=currency,
            customers=s.customers,
            converted=s.converted,
            exposed=s.exposed,
            attributed=s.attributed,
            orders=s.orders,
            revenue=s.revenue,
            revenue_squares=s.revenue_squares,
            order_value_squares=s.order_value_squares,
            attributed_revenue=s.attributed_revenue,
            refunded=s.refunded,
            impressions=s.impressions,
            clicks=s.clicks,
            complete=s.complete,
            updated_at=now,
        )
        for (arm_id, cohort_day, currency), s in sorted(sums.items())
        if s.customers
    ]


def _cohort(
    store: Store, first: date, last: date, windows: dict[int, int]
) -> list[tuple[int, int, int, int | None, datetime, str, date]]:
    """The assignments of days ``first`` to ``last``: (arm, experiment, customer, trigger order,
    window start, cohort currency, cohort day)."""
    rows = (
        Assignment.objects.for_store(store)
        .filter(assigned_at__gte=_midnight(first), assigned_at__lt=_midnight(last + timedelta(days=1)))
        .values_list(
            "arm_id",
            "experiment_id",
            "customer_id",
            "trigger_order_id",
            "assigned_at",
            "trigger_order__placed_at",
            "trigger_order__currency",
        )
    )
    return [
        (
            arm,
            experiment,
            customer,
            trigger,
            placed_at or assigned_at,
            currency or store.currency,
            _utc_day(assigned_at),
        )
        for arm, experiment, customer, trigger, assigned_at, placed_at, currency in rows.iterator(chunk_size=5000)
        if experiment in windows
    ]


# --- StepDay, PlacementDay ------------------------------------------------------------------------


def _step_days(store: Store, first: date, today: date) -> list[StepDay]:
    messages = ScheduledMessage.objects.for_store(store).filter(
        order__placed_at__gte=_midnight(first), order__placed_at__lt=_midnight(today + timedelta(days=1))
    )
    day = TruncDate("order__placed_at", tzinfo=UTC)
    rows: dict[tuple[int, date], dict[str, Any]] = {}
    for step_id, path_id, on, status, n in (
        messages.annotate(on=day).values_list("step_id", "step__path_id", "on", "status").annotate(n=Count("pk"))
    ):
        row = rows.setdefault((step_id, on), {"path_id": path_id, "planned": 0, "revenue": defaultdict(Decimal)})
        row["planned"] += n
        bucket = "pending" if status in (ScheduledMessage.Status.PLANNED, ScheduledMessage.Status.CLAIMED) else status
        row[bucket] = row.get(bucket, 0) + n
    sent = messages.filter(status=ScheduledMessage.Status.SENT).annotate(on=day)
    clicked = (
        sent.filter(impressions__clicks__isnull=False)
        .values_list("step_id", "on")
        .annotate(n=Count("pk", distinct=True))
    )
    converted = (
        sent.filter(impressions__conversions__isnull=False)
        .values_list("step_id", "on")
        .annotate(n=Count("pk", distinct=True))
    )
    for name, counts in (("clicked", clicked), ("converted", converted)):
        for step_id, on, n in counts:
            rows[(step_id, on)][name] = n
    revenue = (
        Conversion.objects.for_store(store)
        .filter(impression__message__in=sent.values("pk"))
        .annotate(on=TruncDate("impression__message__order__placed_at", tzinfo=UTC))
        .values_list("impression__message__step_id", "on", "currency")
        .annotate(amount=Sum("amount"))
    )
    for step_id, on, currency, amount in revenue:
        rows[(step_id, on)]["revenue"][currency] += amount
    now = timezone.now()
    return [
        StepDay(
            store=store,
            path_id=row["path_id"],
            step_id=step_id,
            day=on,
            planned=row["planned"],
            sent=row.get(ScheduledMessage.Status.SENT, 0),
            skipped=row.get(ScheduledMessage.Status.SKIPPED, 0),
            cancelled=row.get(ScheduledMessage.Status.CANCELLED, 0),
            failed=row.get(ScheduledMessage.Status.FAILED, 0),
            pending=row.get("pending", 0),
            clicked=row.get("clicked", 0),
            converted=row.get("converted", 0),
            revenue=_money_map(row["revenue"]),
            updated_at=now,
        )
        for (step_id, on), row in sorted(rows.items())
    ]


def _placement_days(store: Store, first: date, today: date) -> list[PlacementDay]:
    since, until = _midnight(first), _midnight(today + timedelta(days=1))
    rows: dict[tuple[date, str], dict[str, Any]] = {}
    impressions = (
        Impression.objects.for_store(store)
        .filter(created_at__gte=since, created_at__lt=until)
        .annotate(on=TruncDate("created_at", tzinfo=UTC))
        .values_list("on", "placement")
        .annotate(n=Count("pk"))
    )
    for on, placement, n in impressions:
        rows[(on, placement)] = {"impressions": n, "clicks": 0, "conversions": 0, "revenue": defaultdict(Decimal)}
    clicks = (
        Click.objects.for_store(store)
        .filter(impression__created_at__gte=since, impression__created_at__lt=until)
        .annotate(on=TruncDate("impression__created_at", tzinfo=UTC))
        .values_list("on", "impression__placement")
        .annotate(n=Count("pk"))
    )
    for on, placement, n in clicks:
        rows[(on, placement)]["clicks"] = n
    conversions = (
        Conversion.objects.for_store(store)
        .filter(impression__created_at__gte=since, impression__created_at__lt=until)
        .annotate(on=TruncDate("impression__created_at", tzinfo=UTC))
        .values_list("on", "impression__placement", "currency")
        .annotate(n=Count("pk"), amount=Sum("amount"))
    )
    for on, placement, currency, n, amount in conversions:
        rows[(on, placement)]["conversions"] += n
        rows[(on, placement)]["revenue"][currency] += amount
    now = timezone.now()
    return [
        PlacementDay(
            store=store,
            day=on,
            placement=placement,
            impressions=row["impressions"],
            clicks=row["clicks"],
            conversions=row["conversions"],
            revenue=_money_map(row["revenue"]),
            updated_at=now,
        )
        for (on, placement), row in sorted(rows.items())
    ]


# --- PairStat -------------------------------------------------------------------------------------


def _main_item(order_ref: str) -> Subquery:
    """The order's line with the highest line total (ties: the lowest position): its item."""
    line_total = ExpressionWrapper(
        F("unit_price") * F("quantity"), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    lines = OrderLine.objects.filter(order_id=OuterRef(order_ref)).annotate(line_total=line_total)
    return Subquery(lines.order_by("-line_total", "position").values("item_id")[:1])


def _pair_stats(store: Store, today: date) -> list[PairStat]:
    since = today - timedelta(days=crosssell_settings.ROLLUP_PAIR_DAYS)
    window = {"created_at__gte": _midnight(since), "created_at__lt": _midnight(today + timedelta(days=1))}
    impressions = Impression.objects.for_store(store).filter(order__isnull=False, **window)
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for source, target, n in (
        impressions.annotate(source=_main_item("order_id")).values_list("source", "item_id").annotate(n=Count("pk"))
    ):
        if source is not None:
            rows[(source, target)] = {"impressions": n, "clicks": 0, "conversions": 0, "revenue": defaultdict(Decimal)}
    related = {f"impression__{key}": value for key, value in window.items()}
    related["impression__order__isnull"] = False
    for source, target, n in (
        Click.objects.for_store(store)
        .filter(**related)
        .annotate(source=_main_item("impression__order_id"))
        .values_list("source", "impression__item_id")
        .annotate(n=Count("pk"))
    ):
        if (source, target) in rows:
            rows[(source, target)]["clicks"] = n
    for source, target, currency, n, amount in (
        Conversion.objects.for_store(store)
        .filter(**related)
        .annotate(source=_main_item("impression__order_id"))
        .values_list("source", "impression__item_id", "currency")
        .annotate(n=Count("pk"), amount=Sum("amount"))
    ):
        if (source, target) in rows:
            rows[(source, target)]["conversions"] += n
            rows[(source, target)]["revenue"][currency] += amount
    now = timezone.now()
    return [
        PairStat(
            store=store,
            source_id=source,
            target_id=target,
            impressions=row["impressions"],
            clicks=row["clicks"],
            conversions=row["conversions"],
            revenue=_money_map(row["revenue"]),
            since=since,
            updated_at=now,
        )
        for (source, target), row in sorted(rows.items())
    ]


# --- the run --------------------------------------------------------------------------------------


def _write(store: Store, today: date, tables: Iterable[tuple[Any, date | None, list[Any]]]) -> int:
    """Delete the recomputed days' rows and insert the new ones, in one transaction."""
    written = 0
    with transaction.atomic():
        for model, first, rows in tables:
            scoped = model.objects.for_store(store)
            if model is PairStat:
                scoped.delete()
            elif first is not None:
                scoped.filter(day__gte=first, day__lte=today).delete()
            model.objects.bulk_create(rows, batch_size=1000)
            written += len(rows)
    return written


def _no_progress(done: int, total: int, message: str) -> None:
    return None


def run(store: Store, *, full: bool = False, today: date | None = None, progress: Progress | None = None) -> RollupRun:
    """Recompute ``store``'s rollup rows of the days that can still change (every day with
    ``full``), as of ``today`` (default: the current UTC day). Returns the finished
    :class:`RollupRun`; on failure its ``error`` says why and the exception is raised again
    (the rows are then as they were before the run)."""
    if not isinstance(store, Store):
        raise TypeError(f"run() needs a Store, got {type(store).__name__}")
    if today is not None and (not isinstance(today, date) or isinstance(today, datetime)):
        raise TypeError(f"today must be a date such as date(2026, 11, 30), got {today!r}")
    today = today or timezone.now().astimezone(UTC).date()
    report = progress or _no_progress
    started = clock.monotonic()
    record = RollupRun.objects.create(store=store)
    try:
        ranges = _open_ranges(store, today, full)
        firsts = [d for d in (ranges.arms, ranges.steps, ranges.placements) if d is not None]
        record.first_day = min(firsts) if firsts else None
        record.last_day = today if firsts else None
        total = _days(ranges.arms, today) if ranges.arms else 0
        total += 1  # the funnel, placements and pairs: one step
        arm_rows = _arm_days(store, ranges.arms, today, report, 0, total) if ranges.arms else []
        step_rows = _step_days(store, ranges.steps, today) if ranges.steps else []
        placement_rows = _placement_days(store, ranges.placements, today) if ranges.placements else []
        pair_rows = _pair_stats(store, today)
        report(total, total, "funnel, placements and pairs")
        record.rows = _write(
            store,
            today,
            [
                (ArmDay, ranges.arms, arm_rows),
                (StepDay, ranges.steps, step_rows),
                (PlacementDay, ranges.placements, placement_rows),
                (PairStat, None, pair_rows),
            ],
        )
    except Exception as err:
        record.error = f"{type(err).__name__}: {err}"
        record.finished_at = timezone.now()
        record.save()
        logger.exception("Rollup of store %s failed", store.pk)
        raise
    record.finished_at = timezone.now()
    record.save()
    logger.info(
        "Rollup of store %s: %s to %s, %d rows in %.2fs",
        store.pk,
        record.first_day,
        record.last_day,
        record.rows,
        clock.monotonic() - started,
    )
    return record


def run_all(progress: Callable[[Store, int, int, str], None] | None = None, **options: Any) -> list[RollupRun]:
    """:func:`run` for every active store, one after the other; a store that fails is logged (its
    RollupRun has the error) and the others still run. ``progress(store, done, total, message)``."""
    runs = []
    for store in Store.objects.filter(is_active=True).order_by("pk"):
        report = None if progress is None else (lambda done, total, message, s=store: progress(s, done, total, message))
        try:
            runs.append(run(store, progress=report, **options))
        except Exception:  # recorded on the store's RollupRun and logged by run()
            runs.append(RollupRun.objects.for_store(store).order_by("-started_at", "-pk").first())
    return runs


# --- the bandits ----------------------------------------------------------------------------------


def _arm_stats(experiment: Experiment, arms: Sequence[Arm], currency: str) -> list[bandit.ArmStats]:
    rows = ArmDay.objects.for_store(experiment.store_id).filter(experiment=experiment, arm__in=arms)
    if experiment.metric == Experiment.Metric.REVENUE:
        rows = rows.filter(currency=currency)  # one currency per bandit: the store's
    sums = {
        arm_id: (customers, converted, revenue, squares)
        for arm_id, customers, converted, revenue, squares in rows.values_list("arm_id")
        .annotate(Sum("customers"), Sum("converted"), Sum("revenue"), Sum("revenue_squares"))
        .order_by()
    }
    stats = []
    for arm in arms:
        customers, converted, revenue, squares = sums.get(arm.pk, (0, 0, ZERO, 0.0))
        stats.append(
            bandit.ArmStats(
                arm_id=str(arm.pk),
                exposures=int(customers or 0),
                conversions=int(converted or 0),
                revenue=Decimal(revenue or 0),
                revenue_squares=Decimal(str(squares or 0.0)),
            )
        )
    return stats


def update_bandits(*, rng: np.random.Generator | None = None) -> int:
    """Give every running bandit's arms their new shares from their ArmDay sums (Thompson
    sampling, :func:`bandit.allocate`, with the experiment's exploration floor and metric).

    A holdout arm keeps its weight: the other arms' shares are their allocation times the sum of
    their weights, so that the holdout's part of the traffic does not move (assignment cuts [0, 1)
    by the holdout's weight and the others' shares). A bandit without any customer yet keeps its
    starting weights. Returns the number of bandits updated."""
    from . import assignment

    rng = rng or np.random.default_rng()
    updated = 0
    for store in Store.objects.filter(is_active=True).order_by("pk"):
        bandits = Experiment.objects.for_store(store).filter(
            kind=Experiment.Kind.BANDIT, status=Experiment.Status.RUNNING
        )
        for experiment in bandits.prefetch_related("arms"):
            if _update_bandit(store, experiment, rng):
                updated += 1
    if updated:
        assignment.clear_cache()
    return updated


def _update_bandit(store: Store, experiment: Experiment, rng: np.random.Generator) -> bool:
    arms = [arm for arm in experiment.arms.all() if not arm.holdout]
    if not arms:
        return False
    stats = _arm_stats(experiment, arms, store.currency)
    if not any(s.exposures for s in stats):
        return False
    floor = min(float(experiment.exploration_floor), 1.0 / len(arms))
    shares = bandit.allocate(stats, floor=floor, rng=rng, reward=experiment.metric)
    scale = sum((arm.weight for arm in arms), ZERO) if any(a.holdout for a in experiment.arms.all()) else Decimal(1)
    if scale >= 10:  # Arm.share holds at most 9.9999
        logger.warning("Bandit %s: its arms' weights sum to %s; give them weights summing to 1", experiment.pk, scale)
        return False
    now = timezone.now()
    for arm in arms:
        arm.share = (Decimal(str(shares[str(arm.pk)])) * scale).quantize(Decimal("0.0001"))
        arm.share_updated_at = now
    Arm.objects.bulk_update(arms, ["share", "share_updated_at"])
    logger.info(
        "Bandit %s (%s): shares %s",
        experiment.pk,
        experiment.name,
        ", ".join(f"{arm.name} {arm.share}" for arm in arms),
    )
    return True
