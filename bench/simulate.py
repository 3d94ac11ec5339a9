"""A shop of simulated customers with hidden tastes, run through the plugin, to check that the
plugin's own uplift measurement finds the uplift that was planted, and how much a bandit saves.

    python -m bench.simulate [--customers N] [--weeks W] [--runs R] [--seed S] [--lift L]
                             [--database sqlite|postgres] [--json OUT]

**Uplift (real code paths, a real database).** Each run is a new store in one throw-away test
database (a SQLite file, or the PostgreSQL at ``postgres://postgres@127.0.0.1:5432/xs_sim``).
Every customer has hidden preferences (one or two liked categories of six), a hidden weekly
repeat-purchase probability ``base`` and a hidden response: a customer who was shown a
thank-you block buys again each week with probability ``base + lift x match``, where ``match``
is the share of the block's slots (4) holding an item of a liked category. Then:

0. the shop's past: ``--history`` earlier customers (same kind of tastes, outside the cohort)
   place one order each in the two weeks before, and the store's model is trained on them
   (:func:`crosssell_plugin.recommend.training.train_store`), so the block is personalised;
1. each customer's first order (1-3 lines of liked items, real prices) is recorded through
   :func:`crosssell_plugin.ingest.record_purchase`, the call every webhook and sync makes, at a
   simulated time (``time_machine``), so the purchase pipeline assigns them to the store's
   holdout experiment (:mod:`crosssell_plugin.experiments.assignment`, ``HOLDOUT_SHARE`` = 10 %
   held out) with that order as the trigger;
2. the thank-you block comes from :func:`crosssell_plugin.surfaces.serve.for_order` and its
   impressions are logged with :func:`~crosssell_plugin.surfaces.serve.show`: the holdout gets
   an empty block, so its ``match`` is 0 and it buys at ``base``;
3. over ``W`` weeks each customer buys again (one order at most per week, recorded the same
   way, its own block shown); a share of orders (8 %) is refunded in full through
   :func:`~crosssell_plugin.ingest.record_refund` a few days later.

The **true** uplift in revenue per customer is known: customer ``i`` adds
``W x lift x match_i x E[net order value_i]`` when treated, where ``match_i`` is what the plugin
showed them (for a held-out customer, what the recommender would have shown, asked directly
from :func:`crosssell_plugin.recommend.for_order`, never shown); the truth is the mean over all
customers, as is the true uplift of the conversion rate (at least one further order in the
window). The experiment's window is set to ``7 x W`` days, so every simulated further order
counts.

**Measurement.** The plugin's own: :func:`crosssell_plugin.experiments.rollup.run` and
:func:`crosssell_plugin.experiments.report.build`, read as ``Uplift.revenue_per_customer`` and
``Uplift.cross_sell_rate``, when those modules exist; otherwise each customer's net revenue in
their window is read from the orders and compared with
:func:`crosssell_plugin.experiments.stats.welch_ci` (and
:func:`~crosssell_plugin.experiments.stats.proportion_ci`). Over ``R`` runs (seeds ``S..S+R-1``)
the report gives the true uplift, the mean measured one, the bias and the **coverage** of the
95 % interval (the share of runs whose interval holds the truth).

**Bandit regret (pure).** Three arms with hidden conversion rates; each simulated week the
traffic is split by :func:`crosssell_plugin.experiments.bandit.allocate` on what the arms have
observed so far (Thompson sampling, floor 5 %), against a fixed equal split; the cumulative
regret of both (conversions lost against always showing the best arm, in expectation), the
bandit's final shares and its smallest share (never below the floor).

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/xs_sim"
CURRENCY = "EUR"
CATEGORIES = ("Drama", "Comedy", "Thriller", "Documentary", "Family", "Music")
ITEMS_PER_CATEGORY = 8
#: the block's slots: a full match is 4 shown items of liked categories
BLOCK_SLOTS = 4
REFUND_SHARE = 0.08
#: the bandit's arms (a channel or a timing of a follow-up) and their hidden conversion rates
BANDIT_RATES = {"email-day-1": 0.040, "email-day-3": 0.055, "sms-day-2": 0.070}

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- the shop and its customers -------------------------------------------------------------------


@dataclass(frozen=True)
class ShopItem:
    """One catalogue item of the simulated shop: its category (a genre) and price."""

    external_id: str
    category: str
    price: Decimal


@dataclass
class SimCustomer:
    """A customer's hidden truth (what they like, how often they come back) and what happened."""

    index: int
    email: str
    liked: tuple[str, ...]
    base: float
    first_at: datetime
    customer_pk: int = 0
    held_out: bool = False
    match: float = 0.0
    expected_value: float = 0.0  # E[net value] of one of their orders

    def weekly_probability(self, lift: float, treated: bool) -> float:
        return min(1.0, self.base + (lift * self.match if treated else 0.0))


def catalogue(rng: np.random.Generator) -> list[ShopItem]:
    """Six categories of eight items, each priced between 8 and 60 (two decimals)."""
    items = []
    for category in CATEGORIES:
        for j in range(ITEMS_PER_CATEGORY):
            cents = int(rng.integers(800, 6000))
            items.append(ShopItem(f"{category.lower()}-{j}", category, Decimal(cents) / 100))
    return items


def _liked_items(items: list[ShopItem], liked: tuple[str, ...]) -> list[ShopItem]:
    return [item for item in items if item.category in liked]


def _expected_net_value(items: list[ShopItem], liked: tuple[str, ...]) -> float:
    """E[net value of an order]: 1-3 lines (mean 2) of liked items drawn uniformly, none refunded
    with probability 1 - REFUND_SHARE."""
    prices = [float(item.price) for item in _liked_items(items, liked)]
    return 2.0 * float(np.mean(prices)) * (1.0 - REFUND_SHARE)


# --- one run on the database ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """One run: the truth, the measured intervals and the arms' sizes."""

    seed: int
    method: str
    customers: int
    holdout: int
    true_rpc_uplift: float
    measured_rpc_uplift: float
    rpc_low: float
    rpc_high: float
    true_rate_uplift: float
    measured_rate_uplift: float
    rate_low: float
    rate_high: float
    orders: int
    refunds: int
    impressions: int
    mean_match_treated: float
    seconds: float
    #: the same uplift read from the orders directly (equal to the report's when both are right)
    direct_rpc_uplift: float = 0.0

    @property
    def covered(self) -> bool:
        return self.rpc_low <= self.true_rpc_uplift <= self.rpc_high

    @property
    def rate_covered(self) -> bool:
        return self.rate_low <= self.true_rate_uplift <= self.rate_high


def _catalog_item(item: ShopItem) -> Any:
    from crosssell_plugin.events import CatalogItem

    return CatalogItem(
        external_id=item.external_id,
        title=f"{item.category} {item.external_id}",
        kind="product",
        price=item.price,
        currency=CURRENCY,
        genres=(item.category,),
        tags=(item.category.lower(),),
    )


def run_once(
    seed: int,
    *,
    customers: int,
    weeks: int,
    lift: float,
    history: int = 80,
    progress: Progress = _stderr,
    label: str = "",
) -> RunResult:
    """One simulated store through the real pipeline (Django set up, a database to write to)."""
    import time_machine

    from crosssell_plugin import recommend
    from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, RefundEvent, StoreRef
    from crosssell_plugin.experiments import assignment
    from crosssell_plugin.ingest import ensure_store, record_purchase, record_refund
    from crosssell_plugin.models import HOLDOUT_LAYER, Assignment, Impression
    from crosssell_plugin.recommend.training import train_store
    from crosssell_plugin.surfaces import serve

    if customers < 20:
        raise ValueError(f"--customers must be at least 20 (a 10 % holdout needs a few), got {customers}")
    if weeks < 1:
        raise ValueError(f"--weeks must be at least 1, got {weeks}")
    if not 0.0 <= lift <= 1.0:
        raise ValueError(f"--lift must be between 0 and 1 (a weekly probability), got {lift}")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    items = catalogue(rng)
    snapshots = {item.external_id: _catalog_item(item) for item in items}
    ref = StoreRef("custom", f"sim-{seed}-{int(time.time() * 1000) % 10**9}")
    store = ensure_store(ref, name=f"Simulated shop {seed}", currency=CURRENCY)
    window_days = 7 * weeks
    holdout = assignment.ensure_holdout(store)
    holdout.window_days = window_days
    holdout.save(update_fields=["window_days"])

    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=window_days + 21)).replace(hour=9, minute=0, second=0)
    people = []
    for i in range(customers):
        liked = tuple(str(c) for c in rng.choice(CATEGORIES, size=int(rng.integers(1, 3)), replace=False))
        first_at = start + timedelta(seconds=int(rng.integers(0, 7 * 86400)))
        person = SimCustomer(i, f"shopper{i}@sim.example", liked, float(rng.uniform(0.03, 0.25)), first_at)
        person.expected_value = _expected_net_value(items, liked)
        people.append(person)
    people.sort(key=lambda p: p.first_at)
    # the shop's past: earlier customers (same tastes, not in the simulated cohort) whose orders
    # the store's model is trained on the day before the cohort's first orders
    past = []
    for i in range(history):
        liked = tuple(str(c) for c in rng.choice(CATEGORIES, size=int(rng.integers(1, 3)), replace=False))
        at = start - timedelta(days=12) + timedelta(seconds=int(rng.integers(0, 7 * 86400)))
        past.append(SimCustomer(-1 - i, f"earlier{i}@sim.example", liked, 0.0, at))

    counter = {"orders": 0, "refunds": 0}
    refunds: list[tuple[datetime, str, Decimal]] = []

    def purchase(person: SimCustomer, at: datetime) -> Any:
        liked_items = _liked_items(items, person.liked)
        picked = rng.choice(len(liked_items), size=int(rng.integers(1, 4)), replace=False)
        lines = tuple(PurchaseLine(snapshots[liked_items[k].external_id], 1, liked_items[k].price) for k in picked)
        counter["orders"] += 1
        order_id = f"{seed}-{counter['orders']}"
        with time_machine.travel(at, tick=False):
            order = record_purchase(
                PurchaseEvent(
                    store=ref,
                    order_id=order_id,
                    occurred_at=at,
                    currency=CURRENCY,
                    customer=CustomerData(email=person.email, first_name=f"Shopper {abs(person.index)}"),
                    lines=lines,
                )
            ).order
            shown = serve.for_order(order, limit=BLOCK_SLOTS)
            if shown:
                serve.show(store, shown, "thank_you", order=order, customer=order.customer)
        if rng.random() < REFUND_SHARE:
            refunds.append((at + timedelta(days=int(rng.integers(1, 6))), order_id, order.total))
        return order, shown

    def match_of(shown: list[Any], liked: tuple[str, ...]) -> float:
        hits = sum(1 for rec in shown if set(rec.item.genres or ()) & set(liked))
        return hits / BLOCK_SLOTS

    for person in sorted(past, key=lambda p: p.first_at):
        purchase(person, person.first_at)
    if past:
        with time_machine.travel(start - timedelta(days=1), tick=False):
            train_store(store)
        recommend.clear_cache()
        progress(f"{label}history: {len(past)} earlier orders, model trained")

    # week 0: the first orders, in time order (the assignment happens in the pipeline)
    for n, person in enumerate(people, 1):
        order, shown = purchase(person, person.first_at)
        person.customer_pk = order.customer_id
        treatment = assignment.treatment_for(store, order.customer)
        person.held_out = treatment.held_out
        if person.held_out:  # what they would have seen: the recommender asked directly, nothing shown
            with time_machine.travel(person.first_at, tick=False):
                person.match = match_of(recommend.for_order(order, limit=BLOCK_SLOTS), person.liked)
        else:
            person.match = match_of(shown, person.liked)
        if n % 100 == 0 or n == len(people):
            progress(f"{label}week 0/{weeks}: {n}/{len(people)} first orders")

    # weeks 1..W: repeat purchases, all customers' orders of a week in time order
    for week in range(1, weeks + 1):
        due = []
        for person in people:
            if rng.random() < person.weekly_probability(lift, treated=not person.held_out):
                at = person.first_at + timedelta(days=7 * (week - 1), seconds=int(rng.integers(3600, 7 * 86400 - 3600)))
                due.append((at, person))
        due.sort(key=lambda pair: pair[0])
        for at, person in due:
            purchase(person, at)
        progress(f"{label}week {week}/{weeks}: {len(due)} repeat orders")
    for at, order_id, amount in sorted(refunds):
        with time_machine.travel(at, tick=False):
            record_refund(
                RefundEvent(
                    store=ref,
                    order_id=order_id,
                    refund_id=f"r-{order_id}",
                    amount=amount,
                    currency=CURRENCY,
                    occurred_at=at,
                )
            )
        counter["refunds"] += 1

    # the truth, from the hidden parameters and what each customer was (or would have been) shown
    tau_rpc = [weeks * min(lift * p.match, 1.0 - p.base) * p.expected_value for p in people]
    tau_rate = [(1 - p.base) ** weeks - (1 - p.weekly_probability(lift, True)) ** weeks for p in people]
    true_rpc, true_rate = float(np.mean(tau_rpc)), float(np.mean(tau_rate))

    method, rpc, rate = _measure(store, window_days, start)
    direct_rpc, _ = direct_measurement(store, window_days, since=start)
    arms = dict(
        Assignment.objects.for_store(store)
        .filter(experiment__layer=HOLDOUT_LAYER, assigned_at__gte=start)
        .values_list("customer_id", "arm__holdout")
    )
    treated = [p.match for p in people if not arms.get(p.customer_pk, False)]
    return RunResult(
        seed=seed,
        method=method,
        customers=customers,
        holdout=sum(1 for held in arms.values() if held),
        true_rpc_uplift=true_rpc,
        measured_rpc_uplift=float(rpc.estimate),
        rpc_low=float(rpc.low),
        rpc_high=float(rpc.high),
        true_rate_uplift=true_rate,
        measured_rate_uplift=float(rate.estimate),
        rate_low=float(rate.low),
        rate_high=float(rate.high),
        orders=counter["orders"],
        refunds=counter["refunds"],
        impressions=Impression.objects.for_store(store).count(),
        mean_match_treated=float(np.mean(treated)) if treated else 0.0,
        seconds=time.perf_counter() - started,
        direct_rpc_uplift=float(direct_rpc.estimate),
    )


def _measure(store: Any, window_days: int, start: datetime) -> tuple[str, Any, Any]:
    """(method, revenue-per-customer interval, cross-sell-rate interval) of the store's holdout
    experiment: the plugin's rollup and report when they exist, else the orders read directly."""
    try:
        from crosssell_plugin.experiments import report, rollup
    except ImportError:
        report = rollup = None  # type: ignore[assignment]
    if report is not None and rollup is not None and hasattr(rollup, "run") and hasattr(report, "build"):
        rollup.run(store)
        built = report.build(store, since=start.date())  # the cohort's days, not the earlier customers'
        uplift = next((u for u in built.uplift if u.currency == store.currency), None)
        if uplift is not None and uplift.revenue_per_customer is not None and uplift.cross_sell_rate is not None:
            return "rollup+report", uplift.revenue_per_customer, uplift.cross_sell_rate
        raise RuntimeError(f"the report of store {store} has no revenue-per-customer uplift in {store.currency}")
    return ("orders+welch", *direct_measurement(store, window_days, since=start))


def direct_measurement(store: Any, window_days: int, *, since: datetime) -> tuple[Any, Any]:
    """Each customer assigned since ``since``: their net revenue (total - refunded) of their further orders in the
    store's currency within ``window_days`` after their trigger order, treatment against holdout
    with Welch's interval; the cross-sell rate (at least one further order) with Newcombe's."""
    from crosssell_plugin.experiments.stats import proportion_ci, welch_ci
    from crosssell_plugin.models import HOLDOUT_LAYER, Assignment, Order

    rows = (
        Assignment.objects.for_store(store)
        .filter(experiment__layer=HOLDOUT_LAYER, assigned_at__gte=since)
        .values_list("customer_id", "arm__holdout", "trigger_order__placed_at", "assigned_at")
    )
    starts = {customer: (held, trigger_at or assigned_at) for customer, held, trigger_at, assigned_at in rows}
    revenue = dict.fromkeys(starts, Decimal(0))
    converted: set[int] = set()
    orders = (
        Order.objects.for_store(store)
        .filter(customer_id__in=list(starts))
        .values_list("customer_id", "placed_at", "total", "refunded_total", "currency")
    )
    window = timedelta(days=window_days)
    for customer, placed_at, total, refunded, currency in orders:
        begin = starts[customer][1]
        if begin < placed_at <= begin + window:
            converted.add(customer)
            if currency == store.currency:
                revenue[customer] += total - refunded
    treated = [revenue[c] for c, (held, _) in starts.items() if not held]
    control = [revenue[c] for c, (held, _) in starts.items() if held]
    t_conv = sum(1 for c, (held, _) in starts.items() if not held and c in converted)
    c_conv = sum(1 for c, (held, _) in starts.items() if held and c in converted)
    return welch_ci(treated, control), proportion_ci(t_conv, len(treated), c_conv, len(control))


# --- the bandit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BanditResult:
    """One bandit run against the equal split over the same weeks."""

    seed: int
    weeks: int
    exposures_per_week: int
    bandit_regret: float
    equal_regret: float
    final_shares: dict[str, float]
    min_share: float
    floor: float
    best_arm: str


def run_bandit(
    seed: int, *, weeks: int, exposures_per_week: int = 2000, floor: float = 0.05, rates: dict[str, float] | None = None
) -> BanditResult:
    """Weekly re-allocation by :func:`~crosssell_plugin.experiments.bandit.allocate` against a
    fixed equal split; regret = expected conversions lost against the best arm."""
    from crosssell_plugin.experiments.bandit import ArmStats, allocate

    rates = rates or BANDIT_RATES
    names = list(rates)
    p = np.array([rates[name] for name in names])
    best = float(p.max())
    rng = np.random.default_rng(seed)
    seen = dict.fromkeys(names, 0)
    won = dict.fromkeys(names, 0)
    bandit_regret = equal_regret = 0.0
    min_share = 1.0
    shares = dict.fromkeys(names, 1.0 / len(names))
    for _ in range(weeks):
        shares = allocate([ArmStats(name, seen[name], won[name]) for name in names], floor=floor, rng=rng)
        min_share = min(min_share, *shares.values())
        counts = rng.multinomial(exposures_per_week, [shares[name] for name in names])
        for name, n, rate in zip(names, counts, p, strict=True):
            seen[name] += int(n)
            won[name] += int(rng.binomial(int(n), rate))
            bandit_regret += int(n) * (best - rate)
        equal_regret += exposures_per_week * float(np.mean(best - p))
    return BanditResult(
        seed=seed,
        weeks=weeks,
        exposures_per_week=exposures_per_week,
        bandit_regret=bandit_regret,
        equal_regret=equal_regret,
        final_shares=shares,
        min_share=min_share,
        floor=floor,
        best_arm=names[int(np.argmax(p))],
    )


# --- the whole simulation --------------------------------------------------------------------------


@dataclass
class Summary:
    """What the command prints and writes."""

    config: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    uplift: dict[str, Any] = field(default_factory=dict)
    bandit: dict[str, Any] = field(default_factory=dict)


def coverage_interval(hits: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a coverage estimated from ``hits`` of ``n`` runs."""
    if n == 0:
        return (0.0, 1.0)
    z, phat = 1.959964, hits / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def simulate(
    *,
    customers: int,
    weeks: int,
    runs: int,
    seed: int,
    lift: float,
    bandit_weeks: int,
    history: int = 80,
    exposures_per_week: int = 2000,
    progress: Progress = _stderr,
) -> Summary:
    """R runs of the shop (Django set up) and R bandit runs; the summary of both."""
    if runs < 1:
        raise ValueError(f"--runs must be at least 1, got {runs}")
    summary = Summary(
        config={
            "customers": customers,
            "weeks": weeks,
            "runs": runs,
            "seed": seed,
            "lift": lift,
            "history": history,
            "holdout_share": _holdout_share(),
            "bandit_weeks": bandit_weeks,
            "bandit_exposures_per_week": exposures_per_week,
            "bandit_rates": BANDIT_RATES,
        }
    )
    results = []
    for r in range(runs):
        label = f"run {r + 1}/{runs}: "
        result = run_once(
            seed + r, customers=customers, weeks=weeks, lift=lift, history=history, progress=progress, label=label
        )
        results.append(result)
        progress(
            f"{label}true {result.true_rpc_uplift:.2f}, measured {result.measured_rpc_uplift:.2f} "
            f"[{result.rpc_low:.2f}, {result.rpc_high:.2f}] ({result.holdout} held out, {result.orders} orders, "
            f"{result.seconds:.1f} s)"
        )
        summary.runs.append({**asdict(result), "covered": result.covered, "rate_covered": result.rate_covered})
    hits = sum(r.covered for r in results)
    rate_hits = sum(r.rate_covered for r in results)
    truth = float(np.mean([r.true_rpc_uplift for r in results]))
    measured = float(np.mean([r.measured_rpc_uplift for r in results]))
    errors = [r.measured_rpc_uplift - r.true_rpc_uplift for r in results]
    summary.uplift = {
        "method": results[0].method,
        "true_rpc_uplift": truth,
        "mean_measured_rpc_uplift": measured,
        "bias": float(np.mean(errors)),
        "bias_se": float(np.std(errors, ddof=1) / math.sqrt(len(errors))) if len(errors) > 1 else None,
        "coverage": hits / len(results),
        "coverage_ci95": coverage_interval(hits, len(results)),
        "mean_interval_width": float(np.mean([r.rpc_high - r.rpc_low for r in results])),
        "excludes_zero": sum(1 for r in results if r.rpc_low > 0 or r.rpc_high < 0) / len(results),
        "true_rate_uplift": float(np.mean([r.true_rate_uplift for r in results])),
        "mean_measured_rate_uplift": float(np.mean([r.measured_rate_uplift for r in results])),
        "rate_coverage": rate_hits / len(results),
        "mean_match_treated": float(np.mean([r.mean_match_treated for r in results])),
        "max_report_vs_orders_gap": float(max(abs(r.measured_rpc_uplift - r.direct_rpc_uplift) for r in results)),
        "seconds": float(sum(r.seconds for r in results)),
    }
    bandits = []
    for r in range(runs):
        bandits.append(run_bandit(seed + r, weeks=bandit_weeks, exposures_per_week=exposures_per_week))
        progress(f"bandit {r + 1}/{runs}: regret {bandits[-1].bandit_regret:.1f} vs {bandits[-1].equal_regret:.1f}")
    names = list(BANDIT_RATES)
    summary.bandit = {
        "best_arm": bandits[0].best_arm,
        "floor": bandits[0].floor,
        "mean_bandit_regret": float(np.mean([b.bandit_regret for b in bandits])),
        "mean_equal_regret": float(np.mean([b.equal_regret for b in bandits])),
        "mean_final_shares": {n: float(np.mean([b.final_shares[n] for b in bandits])) for n in names},
        "min_share": min(b.min_share for b in bandits),
        "floor_held": all(b.min_share >= b.floor - 1e-12 for b in bandits),
        "runs": [asdict(b) for b in bandits],
    }
    return summary


def _holdout_share() -> float:
    from crosssell_plugin.conf import crosssell_settings

    return float(crosssell_settings.HOLDOUT_SHARE)


def table(summary: Summary) -> str:
    """The final table (Markdown)."""
    u, b, c = summary.uplift, summary.bandit, summary.config
    low, high = u["coverage_ci95"]
    lines = [
        f"Uplift: {c['runs']} runs x {c['customers']} customers x {c['weeks']} weeks, lift {c['lift']}, "
        f"holdout {c['holdout_share']:.0%}, measured by {u['method']}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| true uplift, revenue per customer | {u['true_rpc_uplift']:.3f} {CURRENCY} |",
        f"| mean measured uplift | {u['mean_measured_rpc_uplift']:.3f} {CURRENCY} |",
        f"| bias (measured - true) | {u['bias']:+.3f} {CURRENCY}"
        + (f" (se {u['bias_se']:.3f})" if u["bias_se"] is not None else "")
        + " |",
        f"| coverage of the 95 % interval | {u['coverage']:.0%} (95 % CI {low:.0%}-{high:.0%}) |",
        f"| mean interval width | {u['mean_interval_width']:.3f} {CURRENCY} |",
        f"| runs whose interval excludes 0 | {u['excludes_zero']:.0%} |",
        f"| true / measured conversion uplift | {u['true_rate_uplift']:+.4f} / {u['mean_measured_rate_uplift']:+.4f} "
        f"(coverage {u['rate_coverage']:.0%}) |",
        f"| mean match of the treated's blocks | {u['mean_match_treated']:.2f} |",
        f"| largest gap, measured vs read from the orders | {u['max_report_vs_orders_gap']:.4f} {CURRENCY} |",
        "",
        f"Bandit: {c['bandit_weeks']} weeks x {c['bandit_exposures_per_week']} exposures, rates "
        + ", ".join(f"{k} {v:.3f}" for k, v in c["bandit_rates"].items()),
        "",
        "| figure | value |",
        "|---|---|",
        f"| cumulative regret, bandit | {b['mean_bandit_regret']:.1f} conversions |",
        f"| cumulative regret, equal split | {b['mean_equal_regret']:.1f} conversions |",
        "| bandit's final shares | " + ", ".join(f"{k} {v:.1%}" for k, v in b["mean_final_shares"].items()) + " |",
        f"| smallest share (floor {b['floor']:.0%}) | {b['min_share']:.1%} "
        f"({'held' if b['floor_held'] else 'BROKEN'}) |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lift", type=float, default=0.15, help="weekly purchase probability added at a full match")
    parser.add_argument("--history", type=int, default=80, help="earlier customers the model is trained on")
    parser.add_argument("--bandit-weeks", type=int, default=12)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--json", dest="json_path", default="")
    args = parser.parse_args(argv)

    from bench.django_db import throwaway_database

    with throwaway_database(POSTGRES_URL if args.database == "postgres" else "") as vendor:
        from django.conf import settings

        logging.disable(logging.WARNING)  # a console line per order would dominate the run
        settings.CROSSSELL = {**settings.CROSSSELL, "HOLDOUT_SHARE": 0.1}  # the product's default
        _stderr(f"database: {vendor}")
        summary = simulate(
            customers=args.customers,
            weeks=args.weeks,
            runs=args.runs,
            seed=args.seed,
            lift=args.lift,
            history=args.history,
            bandit_weeks=args.bandit_weeks,
        )
        summary.config["database"] = vendor
    print(table(summary))
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(asdict(summary), out, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
