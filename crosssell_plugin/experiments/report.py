"""The store's measurement report: what the dashboard, the CSV export and the metrics API show.

Everything is read from the daily rollups (:class:`~crosssell_plugin.models.ArmDay`,
:class:`~crosssell_plugin.models.StepDay`, :class:`~crosssell_plugin.models.PlacementDay`,
:class:`~crosssell_plugin.models.PairStat`, :class:`~crosssell_plugin.models.RollupRun`) in a
handful of queries, whatever the number of orders behind them.

- :class:`Uplift`: the store's holdout experiment, treatment (every arm that is not the holdout)
  against the holdout, per currency (the store's first): revenue per customer (customers who
  bought nothing count with 0), average order value and cross-sell rate, each with its
  interval, the incremental revenue and a verdict in one sentence.
- :class:`ArmRow`: each arm of the split and bandit experiments, with a Beta posterior of its
  cross-sell rate.
- :class:`StepRow`, :class:`PlacementRow`, :class:`PairRow`: the follow-up funnel, the
  placements and the top recommended pairs.

Amounts are never added across currencies: figures are per currency, and the revenue of the
funnel, placements and pairs is a mapping ``{"EUR": Decimal("12.5000")}``.
:func:`tables` gives CSV-ready tables, :func:`as_json` the API's answer.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from scipy import stats as _sps

from ..conf import crosssell_settings
from ..models import HOLDOUT_LAYER, Arm, ArmDay, Experiment, PairStat, PlacementDay, RollupRun, StepDay, Store
from ..money import format_price
from . import stats
from .stats import InsufficientDataError, Interval

#: the default period: this many days up to today (UTC)
DEFAULT_DAYS = 90
#: how many recommended pairs the report lists
TOP_PAIRS = 20
#: the tables of :func:`tables`, in this order
TABLES = ("uplift", "daily", "arms", "funnel", "placements", "pairs")
#: the credible level of an arm's posterior
POSTERIOR_LEVEL = 0.95

_AMOUNT = Decimal("0.0001")


@dataclass(frozen=True)
class ArmFigures:
    """One arm (or the treatment or holdout side), one currency, summed over the days."""

    customers: int
    converted: int
    exposed: int
    attributed: int
    orders: int
    revenue: Decimal
    refunded: Decimal
    attributed_revenue: Decimal
    impressions: int
    clicks: int
    cross_sell_rate: float | None  # converted / customers
    aov: Decimal | None  # revenue / orders
    revenue_per_customer: Decimal | None
    ctr: float | None  # clicks / impressions


@dataclass(frozen=True)
class DayPoint:
    """One cohort day, one currency, for the charts."""

    day: date
    treatment_aov: Decimal | None
    holdout_aov: Decimal | None
    treatment_rpc: Decimal | None
    holdout_rpc: Decimal | None
    treatment_rate: float | None
    holdout_rate: float | None


@dataclass(frozen=True)
class Uplift:
    """Treatment vs holdout in one currency."""

    currency: str
    treatment: ArmFigures
    holdout: ArmFigures
    revenue_per_customer: Interval | None  # absolute difference, Welch from the sums of squares
    aov: Interval | None  # AOV difference, Welch over the orders
    cross_sell_rate: Interval | None  # Newcombe's interval of the difference of rates
    incremental_revenue: Decimal | None  # (rpc_t - rpc_h) * treatment.customers
    verdict: stats.Verdict
    daily: list[DayPoint]


@dataclass(frozen=True)
class ArmRow:
    """An arm of a split or bandit experiment, one currency."""

    experiment: str
    kind: str
    status: str
    arm: str
    holdout: bool
    share: Decimal | None  # current share (bandit) or weight share
    figures: ArmFigures
    currency: str
    posterior_mean: float | None  # Beta(1 + converted, 1 + customers - converted), the cross-sell rate
    posterior_low: float | None
    posterior_high: float | None


@dataclass(frozen=True)
class StepRow:
    """One follow-up step over the period: planned -> sent -> clicked -> converted."""

    path: str
    step: str
    position: int
    channel: str
    planned: int
    sent: int
    skipped: int
    cancelled: int
    failed: int
    pending: int
    clicked: int
    converted: int
    revenue: dict[str, Decimal]


@dataclass(frozen=True)
class PlacementRow:
    """One placement over the period."""

    placement: str
    impressions: int
    clicks: int
    ctr: float | None
    conversions: int
    revenue: dict[str, Decimal]


@dataclass(frozen=True)
class PairRow:
    """An item bought -> an item recommended after it (trailing ``ROLLUP_PAIR_DAYS``)."""

    source: str
    target: str
    source_id: int
    target_id: int
    impressions: int
    clicks: int
    conversions: int
    revenue: dict[str, Decimal]


@dataclass(frozen=True)
class StoreReport:
    """The whole report of a store over ``since``..``until`` (UTC days, both included)."""

    store: Store
    since: date
    until: date
    as_of: datetime | None  # the last finished rollup run
    uplift: list[Uplift]  # one per currency, the store's currency first
    arms: list[ArmRow]
    funnel: list[StepRow]
    placements: list[PlacementRow]
    pairs: list[PairRow]  # top 20 by conversions, then clicks


# --- building ------------------------------------------------------------------------------------


@dataclass
class _Sums:
    """ArmDay rows added up (one side or arm, one currency)."""

    customers: int = 0
    converted: int = 0
    exposed: int = 0
    attributed: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    attributed_revenue: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0
    revenue_squares: float = 0.0
    order_value_squares: float = 0.0

    def add(self, row: ArmDay) -> None:
        self.customers += row.customers
        self.converted += row.converted
        self.exposed += row.exposed
        self.attributed += row.attributed
        self.orders += row.orders
        self.revenue += row.revenue
        self.refunded += row.refunded
        self.attributed_revenue += row.attributed_revenue
        self.impressions += row.impressions
        self.clicks += row.clicks
        self.revenue_squares += row.revenue_squares
        self.order_value_squares += row.order_value_squares

    def figures(self) -> ArmFigures:
        return ArmFigures(
            customers=self.customers,
            converted=self.converted,
            exposed=self.exposed,
            attributed=self.attributed,
            orders=self.orders,
            revenue=self.revenue,
            refunded=self.refunded,
            attributed_revenue=self.attributed_revenue,
            impressions=self.impressions,
            clicks=self.clicks,
            cross_sell_rate=_rate(self.converted, self.customers),
            aov=_per(self.revenue, self.orders),
            revenue_per_customer=_per(self.revenue, self.customers),
            ctr=_rate(self.clicks, self.impressions),
        )


def build(store: Store, *, since: date | None = None, until: date | None = None) -> StoreReport:
    """The store's report over ``since``..``until`` (UTC days, both included; by default the last
    90 days up to today). Reads only the rollup rows and the experiments' arms."""
    until = until or timezone.now().astimezone(UTC).date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    last_run = (
        RollupRun.objects.for_store(store).filter(finished_at__isnull=False).order_by("-finished_at", "-pk").first()
    )
    arm_days = list(
        ArmDay.objects.for_store(store)
        .filter(day__gte=since, day__lte=until)
        .select_related("arm", "experiment")
        .order_by("day", "pk")
    )
    holdout = Experiment.objects.for_store(store).filter(layer=HOLDOUT_LAYER).order_by("-pk").first()
    return StoreReport(
        store=store,
        since=since,
        until=until,
        as_of=last_run.finished_at if last_run is not None else None,
        uplift=_uplift(store, holdout, arm_days),
        arms=_arms(store, arm_days),
        funnel=_funnel(store, since, until),
        placements=_placements(store, since, until),
        pairs=_pairs(store),
    )


def _uplift(store: Store, holdout: Experiment | None, arm_days: list[ArmDay]) -> list[Uplift]:
    rows = [r for r in arm_days if holdout is not None and r.experiment_id == holdout.pk]
    sides: dict[str, dict[bool, _Sums]] = defaultdict(lambda: {True: _Sums(), False: _Sums()})
    days: dict[str, dict[date, dict[bool, _Sums]]] = defaultdict(
        lambda: defaultdict(lambda: {True: _Sums(), False: _Sums()})
    )
    for row in rows:
        sides[row.currency][row.arm.holdout].add(row)
        days[row.currency][row.day][row.arm.holdout].add(row)
    # the store's currency is always reported, if only with zeros
    currencies = _currencies(store, [*sides, store.currency])
    return [_one_uplift(c, sides[c][False], sides[c][True], days[c]) for c in currencies]


def _one_uplift(currency: str, t: _Sums, h: _Sums, days: dict[date, dict[bool, _Sums]]) -> Uplift:
    rpc = _optional(
        stats.welch_from_moments, t.customers, t.revenue, t.revenue_squares, h.customers, h.revenue, h.revenue_squares
    )
    aov = _optional(
        stats.welch_from_moments, t.orders, t.revenue, t.order_value_squares, h.orders, h.revenue, h.order_value_squares
    )
    rate = _optional(stats.proportion_ci, t.converted, t.customers, h.converted, h.customers)
    treatment, control = t.figures(), h.figures()
    incremental = None
    if t.customers and h.customers:
        incremental = ((t.revenue / t.customers - h.revenue / h.customers) * t.customers).quantize(_AMOUNT)
    verdict = stats.verdict(
        rpc,
        crosssell_settings.VERDICT_MIN_CUSTOMERS,
        t.customers,
        h.customers,
        metric="revenue per customer",
        amount=lambda value: format_price(value, currency),
    )
    daily = [
        DayPoint(
            day=day,
            treatment_aov=_per(pair[False].revenue, pair[False].orders),
            holdout_aov=_per(pair[True].revenue, pair[True].orders),
            treatment_rpc=_per(pair[False].revenue, pair[False].customers),
            holdout_rpc=_per(pair[True].revenue, pair[True].customers),
            treatment_rate=_rate(pair[False].converted, pair[False].customers),
            holdout_rate=_rate(pair[True].converted, pair[True].customers),
        )
        for day, pair in sorted(days.items())
    ]
    return Uplift(
        currency=currency,
        treatment=treatment,
        holdout=control,
        revenue_per_customer=rpc,
        aov=aov,
        cross_sell_rate=rate,
        incremental_revenue=incremental,
        verdict=verdict,
        daily=daily,
    )


def _arms(store: Store, arm_days: list[ArmDay]) -> list[ArmRow]:
    kinds = [Experiment.Kind.SPLIT, Experiment.Kind.BANDIT]
    arms = list(
        Arm.objects.filter(experiment__store=store, experiment__kind__in=kinds)
        .select_related("experiment")
        .order_by("experiment__name", "experiment__pk", "pk")
    )
    sums: dict[int, dict[str, _Sums]] = defaultdict(dict)
    for row in arm_days:
        sums[row.arm_id].setdefault(row.currency, _Sums()).add(row)
    weights: dict[int, Decimal] = defaultdict(Decimal)
    for arm in arms:
        weights[arm.experiment_id] += arm.weight
    out = []
    for arm in arms:
        by_currency = sums.get(arm.pk) or {store.currency: _Sums()}
        if arm.share is not None:
            share: Decimal | None = arm.share
        elif weights[arm.experiment_id] > 0:
            share = (arm.weight / weights[arm.experiment_id]).quantize(_AMOUNT)
        else:
            share = None
        for currency in _currencies(store, by_currency):
            figures = by_currency[currency].figures()
            mean, low, high = _posterior(figures.converted, figures.customers)
            out.append(
                ArmRow(
                    experiment=arm.experiment.name,
                    kind=arm.experiment.kind,
                    status=arm.experiment.status,
                    arm=arm.name,
                    holdout=arm.holdout,
                    share=share,
                    figures=figures,
                    currency=currency,
                    posterior_mean=mean,
                    posterior_low=low,
                    posterior_high=high,
                )
            )
    return out


def _funnel(store: Store, since: date, until: date) -> list[StepRow]:
    rows = (
        StepDay.objects.for_store(store)
        .filter(day__gte=since, day__lte=until)
        .select_related("path", "step")
        .order_by("path__name", "path__pk", "step__position", "day")
    )
    counters = ("planned", "sent", "skipped", "cancelled", "failed", "pending", "clicked", "converted")
    steps: dict[int, tuple[Any, Any, dict[str, int], dict[str, Decimal]]] = {}
    for row in rows:
        entry = steps.setdefault(row.step_id, (row.path, row.step, dict.fromkeys(counters, 0), {}))
        for name in counters:
            entry[2][name] += getattr(row, name)
        _add_revenue(entry[3], row.revenue)
    return [
        StepRow(
            path=path.name,
            step=step.name,
            position=step.position,
            channel=step.channel,
            revenue=_ordered(store, revenue),
            **counts,
        )
        for path, step, counts, revenue in steps.values()
    ]


def _placements(store: Store, since: date, until: date) -> list[PlacementRow]:
    sums: dict[str, list[Any]] = {}
    for row in PlacementDay.objects.for_store(store).filter(day__gte=since, day__lte=until).order_by("day", "pk"):
        entry = sums.setdefault(row.placement, [0, 0, 0, {}])
        entry[0] += row.impressions
        entry[1] += row.clicks
        entry[2] += row.conversions
        _add_revenue(entry[3], row.revenue)
    out = [
        PlacementRow(
            placement=placement,
            impressions=impressions,
            clicks=clicks,
            ctr=_rate(clicks, impressions),
            conversions=conversions,
            revenue=_ordered(store, revenue),
        )
        for placement, (impressions, clicks, conversions, revenue) in sums.items()
    ]
    return sorted(out, key=lambda r: (-r.impressions, r.placement))


def _pairs(store: Store) -> list[PairRow]:
    rows = (
        PairStat.objects.for_store(store)
        .select_related("source", "target")
        .order_by("-conversions", "-clicks", "-impressions", "pk")[:TOP_PAIRS]
    )
    return [
        PairRow(
            source=row.source.title,
            target=row.target.title,
            source_id=row.source_id,
            target_id=row.target_id,
            impressions=row.impressions,
            clicks=row.clicks,
            conversions=row.conversions,
            revenue=_ordered(store, _add_revenue({}, row.revenue)),
        )
        for row in rows
    ]


# --- small helpers -------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _per(amount: Decimal, count: int) -> Decimal | None:
    return (amount / count).quantize(_AMOUNT) if count else None


def _optional(compute: Callable[..., Interval], *args: Any) -> Interval | None:
    """An interval, or None while a side has too few customers (or orders) for one."""
    try:
        return compute(*args)
    except InsufficientDataError:
        return None


def _posterior(converted: int, customers: int) -> tuple[float | None, float | None, float | None]:
    """Mean and central 95 % credible interval of Beta(1 + converted, 1 + customers - converted)."""
    if customers == 0:
        return None, None, None
    dist = _sps.beta(1 + converted, 1 + customers - converted)
    tail = (1 - POSTERIOR_LEVEL) / 2
    return float(dist.mean()), float(dist.ppf(tail)), float(dist.ppf(1 - tail))


def _currencies(store: Store, keyed: Iterable[str]) -> list[str]:
    """The currencies of ``keyed``, the store's first, then alphabetically."""
    return sorted(set(keyed), key=lambda c: (c != store.currency, c))


def _add_revenue(total: dict[str, Decimal], revenue: dict[str, Any] | None) -> dict[str, Decimal]:
    for currency, amount in (revenue or {}).items():
        total[currency] = total.get(currency, Decimal(0)) + Decimal(str(amount))
    return total


def _ordered(store: Store, revenue: dict[str, Decimal]) -> dict[str, Decimal]:
    return {currency: revenue[currency] for currency in _currencies(store, revenue)}


# --- tables and JSON -----------------------------------------------------------------------------

_FIGURES = [f.name for f in dataclasses.fields(ArmFigures)]
_INTERVALS = ("revenue_per_customer", "aov", "cross_sell_rate")


def tables(report: StoreReport) -> dict[str, tuple[list[str], list[list[str]]]]:
    """CSV-ready tables ``uplift``, ``daily``, ``arms``, ``funnel``, ``placements``, ``pairs``:
    each a header and rows of strings (empty for "none"). Rows with amounts have a ``currency``
    column; the funnel, placements and pairs have one ``revenue_<CUR>`` column per currency."""
    uplift_header = ["currency"]
    for side in ("treatment", "holdout"):
        uplift_header += [f"{side}_{name}" for name in _FIGURES]
    for name in _INTERVALS:
        uplift_header += [f"{name}_difference", f"{name}_low", f"{name}_high"]
    uplift_header += ["incremental_revenue", "verdict", "verdict_sentence"]
    uplift_rows = []
    for u in report.uplift:
        row = [u.currency]
        row += [_cell(getattr(u.treatment, n)) for n in _FIGURES] + [_cell(getattr(u.holdout, n)) for n in _FIGURES]
        for name in _INTERVALS:
            interval = getattr(u, name)
            row += [_cell(None if interval is None else getattr(interval, a)) for a in ("estimate", "low", "high")]
        row += [_cell(u.incremental_revenue), u.verdict.code, u.verdict.sentence]
        uplift_rows.append(row)

    day_fields = [f.name for f in dataclasses.fields(DayPoint)]
    daily_rows = [[u.currency, *(_cell(getattr(p, n)) for n in day_fields)] for u in report.uplift for p in u.daily]

    arm_head = ["experiment", "kind", "status", "arm", "holdout", "share", "currency"]
    posterior = ["posterior_mean", "posterior_low", "posterior_high"]
    arm_rows = [
        [*(_cell(getattr(a, n)) for n in arm_head), *(_cell(getattr(a.figures, n)) for n in _FIGURES)]
        + [_cell(getattr(a, n)) for n in posterior]
        for a in report.arms
    ]

    step_head = [f.name for f in dataclasses.fields(StepRow) if f.name != "revenue"]
    place_head = [f.name for f in dataclasses.fields(PlacementRow) if f.name != "revenue"]
    pair_head = [f.name for f in dataclasses.fields(PairRow) if f.name != "revenue"]
    return {
        "uplift": (uplift_header, uplift_rows),
        "daily": (["currency", *day_fields], daily_rows),
        "arms": ([*arm_head, *_FIGURES, *posterior], arm_rows),
        "funnel": _with_revenue(report.store, step_head, report.funnel),
        "placements": _with_revenue(report.store, place_head, report.placements),
        "pairs": _with_revenue(report.store, pair_head, report.pairs),
    }


def _with_revenue(store: Store, head: list[str], rows: list[Any]) -> tuple[list[str], list[list[str]]]:
    currencies = _currencies(store, {c for row in rows for c in row.revenue})
    header = head + [f"revenue_{c}" for c in currencies]
    body = [[_cell(getattr(row, n)) for n in head] + [_cell(row.revenue.get(c)) for c in currencies] for row in rows]
    return header, body


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def as_json(report: StoreReport) -> dict[str, Any]:
    """The report as JSON-ready data: Decimals as strings, days and times in ISO 8601."""
    return {
        "store": {"id": report.store.pk, "name": report.store.name, "currency": report.store.currency},
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "as_of": report.as_of.isoformat() if report.as_of is not None else None,
        "uplift": [_plain(u) for u in report.uplift],
        "arms": [_plain(a) for a in report.arms],
        "funnel": [_plain(s) for s in report.funnel],
        "placements": [_plain(p) for p in report.placements],
        "pairs": [_plain(p) for p in report.pairs],
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
