"""The store's report over the rollup rows: figures computed by hand from ArmDay rows written here
(from per-customer values generated here), currencies never mixed, empty sides, the verdict
below and above the minimum, the intervals against stats over the raw values, arms with their
posteriors, the funnel, placements and pairs, the CSV tables and the JSON. Real database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from crosssell_plugin.experiments import report, stats
from crosssell_plugin.experiments.assignment import ensure_holdout
from crosssell_plugin.models import (
    Arm,
    ArmDay,
    Experiment,
    Item,
    PairStat,
    Path,
    PlacementDay,
    RollupRun,
    Step,
    StepDay,
    Store,
)
from crosssell_plugin.money import format_price

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@dataclass
class Cohort:
    """The customers of one ArmDay row, each a list of their further orders' net values."""

    orders: list[list[Decimal]]
    converted_extra: int = 0  # converted with an order in another currency only (counted, no revenue)

    def per_customer(self) -> list[Decimal]:
        return [sum(o, Decimal(0)) for o in self.orders]


def money(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


def arm_day(arm: Arm, day: date, currency: str, cohort: Cohort, **extra: Any) -> ArmDay:
    """An ArmDay row as the rollup writes it, from the cohort's per-customer orders."""
    values = cohort.per_customer()
    flat = [v for o in cohort.orders for v in o]
    fields: dict[str, Any] = {
        "customers": len(cohort.orders),
        "converted": sum(1 for o in cohort.orders if o) + cohort.converted_extra,
        "orders": len(flat),
        "revenue": sum(flat, Decimal(0)),
        "revenue_squares": float(sum(v * v for v in values)),
        "order_value_squares": float(sum(v * v for v in flat)),
    }
    fields.update(extra)
    return ArmDay.objects.create(
        store=arm.experiment.store, experiment=arm.experiment, arm=arm, day=day, currency=currency, **fields
    )


@pytest.fixture
def holdout(store: Store) -> Experiment:
    return ensure_holdout(store)


def sides(experiment: Experiment) -> tuple[Arm, Arm]:
    return experiment.arms.get(holdout=False), experiment.arms.get(holdout=True)


def floats(values: list[Decimal]) -> np.ndarray:
    return np.array([float(v) for v in values])


def test_uplift_figures_and_intervals_by_hand(store: Store, holdout: Experiment) -> None:
    treatment, control = sides(holdout)
    t1 = Cohort([money("20.00"), money("10.00", "5.50"), [], [], money("40.00")], converted_extra=1)
    t2 = Cohort([money("12.00"), [], money("8.00")])
    h1 = Cohort([money("10.00"), [], [], money("6.00", "4.00")])
    arm_day(treatment, D1, "EUR", t1, refunded=Decimal("7.00"), impressions=10, clicks=3, exposed=4, attributed=2)
    arm_day(treatment, D2, "EUR", t2, impressions=5, clicks=1, exposed=2, attributed=1, attributed_revenue=Decimal(8))
    arm_day(control, D1, "EUR", h1)

    built = report.build(store, since=D1, until=D3)
    assert [u.currency for u in built.uplift] == ["EUR"]
    up = built.uplift[0]
    t, h = up.treatment, up.holdout
    # treatment: 8 customers, 5 with an order in EUR + 1 converted elsewhere, 6 orders, 95.50 net
    assert (t.customers, t.converted, t.orders, t.exposed, t.attributed) == (8, 6, 6, 6, 3)
    assert t.revenue == Decimal("95.50") and t.refunded == Decimal("7.00")  # as given: already netted
    assert t.attributed_revenue == Decimal(8) and (t.impressions, t.clicks) == (15, 4)
    assert t.revenue_per_customer == Decimal("11.9375") and t.aov == Decimal("15.9167")
    assert t.cross_sell_rate == pytest.approx(6 / 8) and t.ctr == pytest.approx(4 / 15)
    assert (h.customers, h.converted, h.orders, h.revenue) == (4, 2, 3, Decimal("20.00"))
    assert h.revenue_per_customer == Decimal("5.0000") and h.aov == Decimal("6.6667")
    assert h.ctr is None  # no impressions: no rate rather than a division by zero
    # (11.9375 - 5) * 8 customers
    assert up.incremental_revenue == Decimal("55.5000")

    # the intervals against stats over the raw values
    t_values = floats(t1.per_customer() + t2.per_customer())
    h_values = floats(h1.per_customer())
    expected = stats.welch_ci(t_values, h_values)
    rpc = up.revenue_per_customer
    assert rpc is not None and rpc.low <= Decimal("6.9375") <= rpc.high
    for name in ("estimate", "low", "high"):
        assert abs(getattr(rpc, name) - getattr(expected, name)) <= Decimal("0.0002")
    t_orders = floats([v for c in (t1, t2) for o in c.orders for v in o])
    h_orders = floats([v for o in h1.orders for v in o])
    expected_aov = stats.welch_ci(t_orders, h_orders)
    assert up.aov is not None and (up.aov.n_treatment, up.aov.n_control) == (6, 3)
    assert abs(up.aov.estimate - (Decimal("95.50") / 6 - Decimal("20.00") / 3)) <= Decimal("0.0001")
    assert abs(up.aov.low - expected_aov.low) <= Decimal("0.0002")
    assert up.cross_sell_rate == stats.proportion_ci(6, 8, 2, 4)

    # the charts: one point per day, the holdout empty on day 2
    assert [p.day for p in up.daily] == [D1, D2]
    assert up.daily[0].treatment_rpc == Decimal("15.1000") and up.daily[0].holdout_rpc == Decimal("5.0000")
    assert up.daily[1].holdout_rpc is None and up.daily[1].holdout_aov is None and up.daily[1].holdout_rate is None
    assert up.daily[1].treatment_rate == pytest.approx(2 / 3)


def test_verdict_below_and_above_the_minimum(settings: Any, store: Store, holdout: Experiment) -> None:
    treatment, control = sides(holdout)
    rng = np.random.default_rng(3)
    t_values = rng.gamma(2.0, 30.0, 60).round(2)
    h_values = rng.gamma(2.0, 5.0, 40).round(2)
    arm_day(treatment, D1, "EUR", Cohort([[Decimal(str(v))] for v in t_values]))
    arm_day(control, D1, "EUR", Cohort([[Decimal(str(v))] for v in h_values]))

    below = report.build(store, since=D1, until=D1).uplift[0]
    assert below.verdict.code == "not_enough_data"
    assert below.verdict.sentence == "Not enough data yet: 40 of the 200 customers per group needed."
    assert below.revenue_per_customer is not None  # computed, only not yet read

    settings.CROSSSELL = {**settings.CROSSSELL, "VERDICT_MIN_CUSTOMERS": 40}
    above = report.build(store, since=D1, until=D1).uplift[0]
    interval = above.revenue_per_customer
    assert interval is not None and interval.low > 0
    assert above.verdict == stats.verdict(
        interval, 40, metric="revenue per customer", amount=lambda v: format_price(v, "EUR")
    )
    assert above.verdict.code == "positive" and "revenue per customer" in above.verdict.sentence
    assert format_price(interval.estimate, "EUR") in above.verdict.sentence


def test_currencies_are_never_mixed_and_the_store_currency_comes_first(store: Store, holdout: Experiment) -> None:
    treatment, control = sides(holdout)
    arm_day(treatment, D1, "USD", Cohort([money("100.00"), money("50.00")]))
    arm_day(control, D1, "USD", Cohort([money("30.00"), []]))
    arm_day(treatment, D1, "GBP", Cohort([money("7.00"), []]))
    arm_day(treatment, D1, "EUR", Cohort([money("9.00"), money("1.00")]))
    arm_day(control, D1, "EUR", Cohort([money("2.00"), []]))

    built = report.build(store, since=D1, until=D1)
    assert [u.currency for u in built.uplift] == ["EUR", "GBP", "USD"]
    eur, gbp, usd = built.uplift
    assert (eur.treatment.revenue, eur.holdout.revenue) == (Decimal("10.00"), Decimal("2.00"))
    assert (usd.treatment.revenue, usd.holdout.revenue) == (Decimal("150.00"), Decimal("30.00"))
    assert usd.incremental_revenue == Decimal("120.0000")  # (75 - 15) * 2, in USD only
    assert gbp.holdout.customers == 0 and gbp.revenue_per_customer is None and gbp.incremental_revenue is None
    daily = report.tables(built)["daily"][1]
    assert [row[0] for row in daily] == ["EUR", "GBP", "USD"]


def test_a_side_without_customers_gives_none_not_an_error(store: Store, holdout: Experiment) -> None:
    treatment, _ = sides(holdout)
    arm_day(treatment, D1, "EUR", Cohort([[], []]))  # customers, no order at all

    up = report.build(store, since=D1, until=D1).uplift[0]
    assert up.holdout.customers == 0
    assert up.holdout.revenue_per_customer is None and up.holdout.cross_sell_rate is None and up.holdout.aov is None
    assert up.treatment.aov is None and up.treatment.revenue_per_customer == Decimal("0.0000")
    assert up.revenue_per_customer is None and up.aov is None and up.cross_sell_rate is None
    assert up.incremental_revenue is None
    assert up.verdict.code == "not_enough_data" and "0 of the 200" in up.verdict.sentence


def test_a_store_without_rollups_reports_zeros_in_its_currency(store: Store) -> None:
    built = report.build(store)
    today = datetime.now(UTC).date()
    assert (built.since, built.until, built.as_of) == (today - timedelta(days=89), today, None)
    assert [u.currency for u in built.uplift] == ["EUR"]
    assert built.uplift[0].treatment.customers == 0 and built.uplift[0].daily == []
    assert built.arms == built.funnel == built.placements == built.pairs == []
    json.dumps(report.as_json(built))
    assert all(rows == [] for name, (_, rows) in report.tables(built).items() if name != "uplift")


def test_the_period_and_the_store_bound_the_rows(store: Store, holdout: Experiment) -> None:
    treatment, _ = sides(holdout)
    arm_day(treatment, D1, "EUR", Cohort([money("1.00")]))
    arm_day(treatment, D2, "EUR", Cohort([money("2.00")]))
    arm_day(treatment, D3, "EUR", Cohort([money("4.00")]))
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    other_treatment, _ = sides(ensure_holdout(other))
    arm_day(other_treatment, D2, "EUR", Cohort([money("1000.00")]))
    RollupRun.objects.create(store=other, finished_at=datetime(2026, 11, 6, tzinfo=UTC))
    finished = datetime(2026, 11, 5, 3, 0, tzinfo=UTC)
    RollupRun.objects.create(store=store, finished_at=finished)
    RollupRun.objects.create(store=store)  # running, not finished: not the "as of"

    built = report.build(store, since=D2, until=D2)
    assert built.uplift[0].treatment.revenue == Decimal("2.00") and built.as_of == finished
    assert report.build(store, since=D2, until=D3).uplift[0].treatment.revenue == Decimal("6.00")
    with pytest.raises(ValueError, match="after until"):
        report.build(store, since=D3, until=D1)


def test_split_and_bandit_arms_with_their_posteriors(store: Store, holdout: Experiment) -> None:
    split = Experiment.objects.create(store=store, name="Copy", kind="split", layer="copy", status="running")
    a = Arm.objects.create(experiment=split, name="a", weight=Decimal(3))
    b = Arm.objects.create(experiment=split, name="b", weight=Decimal(1))
    bandit = Experiment.objects.create(store=store, name="Strategy", kind="bandit", layer="strategy")
    Arm.objects.create(experiment=bandit, name="popular", share=Decimal("0.7000"))
    arm_day(a, D1, "EUR", Cohort([money("5.00"), [], [], []]))
    arm_day(a, D2, "EUR", Cohort([money("5.00"), money("3.00")]))
    arm_day(a, D2, "USD", Cohort([money("9.00")]))
    arm_day(b, D1, "EUR", Cohort([[], []]))

    rows = report.build(store, since=D1, until=D2).arms
    assert [(r.experiment, r.arm, r.currency) for r in rows] == [
        ("Copy", "a", "EUR"),
        ("Copy", "a", "USD"),
        ("Copy", "b", "EUR"),
        ("Strategy", "popular", "EUR"),
    ]
    a_eur = rows[0]
    assert (a_eur.kind, a_eur.status, a_eur.holdout) == ("split", "running", False)
    assert a_eur.share == Decimal("0.7500") and rows[2].share == Decimal("0.2500")
    assert a_eur.figures.customers == 6 and a_eur.figures.converted == 3 and a_eur.figures.revenue == Decimal("13.00")
    posterior = sps.beta(1 + 3, 1 + 3)
    assert a_eur.posterior_mean == pytest.approx(0.5)
    assert a_eur.posterior_low == pytest.approx(posterior.ppf(0.025))
    assert a_eur.posterior_high == pytest.approx(posterior.ppf(0.975))
    assert rows[1].figures.revenue == Decimal("9.00")  # the USD cohort on its own
    # an arm without rows: zeros, its current bandit share, no posterior
    assert rows[3].share == Decimal("0.7000") and rows[3].figures.customers == 0 and rows[3].posterior_mean is None
    assert all(r.experiment != holdout.name for r in rows)


def make_funnel(store: Store) -> tuple[Item, Item, Item]:
    path = Path.objects.create(store=store, name="After a film")
    first = Step.objects.create(path=path, position=1, name="Day 1", delay=timedelta(days=1), template="t")
    second = Step.objects.create(
        path=path, position=2, name="Day 7", delay=timedelta(days=7), template="t", channel="sms"
    )
    counts = {"planned": 10, "sent": 7, "skipped": 1, "cancelled": 1, "failed": 0, "pending": 1, "clicked": 3}
    StepDay.objects.create(store=store, path=path, step=first, day=D1, converted=2, revenue={"EUR": "9.90"}, **counts)
    StepDay.objects.create(
        store=store, path=path, step=first, day=D2, converted=1, revenue={"EUR": "0.10", "USD": "5"}, **counts
    )
    StepDay.objects.create(store=store, path=path, step=second, day=D2, planned=4, pending=4)
    PlacementDay.objects.create(store=store, day=D1, placement="email", impressions=8, clicks=2)
    PlacementDay.objects.create(
        store=store, day=D2, placement="email", impressions=2, clicks=0, conversions=1, revenue={"EUR": "3.50"}
    )
    PlacementDay.objects.create(store=store, day=D2, placement="thank_you", impressions=20, clicks=5)
    items = [
        Item.objects.create(store=store, external_id=f"i{n}", kind="film", title=f"Film {n}", price=1, currency="EUR")
        for n in range(3)
    ]
    PairStat.objects.create(
        store=store, source=items[0], target=items[1], impressions=5, clicks=2, conversions=1, since=D1
    )
    PairStat.objects.create(
        store=store,
        source=items[0],
        target=items[2],
        impressions=9,
        clicks=4,
        conversions=2,
        since=D1,
        revenue={"USD": "4.00", "EUR": "1.00"},
    )
    return tuple(items)  # type: ignore[return-value]


def test_funnel_placements_and_pairs(store: Store) -> None:
    items = make_funnel(store)
    built = report.build(store, since=D1, until=D2)
    first, second = built.funnel
    assert (first.path, first.step, first.position, first.channel) == ("After a film", "Day 1", 1, "email")
    assert (first.planned, first.sent, first.skipped, first.pending, first.clicked, first.converted) == (
        20,
        14,
        2,
        2,
        6,
        3,
    )
    assert first.revenue == {"EUR": Decimal("10.00"), "USD": Decimal(5)}
    assert (second.channel, second.planned, second.pending, second.revenue) == ("sms", 4, 4, {})
    assert [(p.placement, p.impressions, p.clicks, p.conversions) for p in built.placements] == [
        ("thank_you", 20, 5, 0),
        ("email", 10, 2, 1),
    ]
    assert built.placements[1].ctr == pytest.approx(0.2) and built.placements[1].revenue == {"EUR": Decimal("3.50")}
    top, second_pair = built.pairs
    assert (top.source, top.target, top.source_id, top.target_id) == ("Film 0", "Film 2", items[0].pk, items[2].pk)
    assert list(top.revenue) == ["EUR", "USD"]  # the store's currency first
    assert second_pair.conversions == 1
    # the funnel is bounded by the period too
    assert report.build(store, since=D2, until=D2).funnel[0].planned == 10


def test_tables_have_their_headers_and_keep_currencies_apart(store: Store, holdout: Experiment) -> None:
    make_funnel(store)
    treatment, control = sides(holdout)
    arm_day(treatment, D1, "EUR", Cohort([money("10.00"), [], money("2.00")]))
    arm_day(control, D1, "EUR", Cohort([money("1.00"), []]))
    arm_day(treatment, D1, "USD", Cohort([money("3.00")]))
    split = Experiment.objects.create(store=store, name="Copy", kind="split", layer="copy")
    arm_day(Arm.objects.create(experiment=split, name="a"), D1, "EUR", Cohort([money("4.00"), []]))

    built = report.build(store, since=D1, until=D2)
    tables = report.tables(built)
    assert list(tables) == ["uplift", "daily", "arms", "funnel", "placements", "pairs"]
    header, rows = tables["uplift"]
    assert header[:3] == ["currency", "treatment_customers", "treatment_converted"]
    assert header[-3:] == ["incremental_revenue", "verdict", "verdict_sentence"]
    assert "revenue_per_customer_low" in header and "holdout_revenue" in header
    eur = dict(zip(header, rows[0], strict=True))
    usd = dict(zip(header, rows[1], strict=True))
    assert (eur["currency"], eur["treatment_revenue"], eur["holdout_revenue"]) == ("EUR", "12.0000", "1.0000")
    assert eur["treatment_revenue_per_customer"] == "4.0000" and eur["incremental_revenue"] == "10.5000"
    assert eur["verdict"] == "not_enough_data" and eur["verdict_sentence"].startswith("Not enough data yet")
    assert (usd["currency"], usd["treatment_revenue"], usd["holdout_customers"], usd["holdout_aov"]) == (
        "USD",
        "3.0000",
        "0",
        "",
    )
    assert all(len(r) == len(header) for r in rows)
    day_header, day_rows = tables["daily"]
    assert day_header == [
        "currency",
        "day",
        "treatment_aov",
        "holdout_aov",
        "treatment_rpc",
        "holdout_rpc",
        "treatment_rate",
        "holdout_rate",
    ]
    assert day_rows[0][:6] == ["EUR", "2026-11-02", "6.0000", "1.0000", "4.0000", "0.5000"]
    arm_header, arm_rows = tables["arms"]
    assert arm_header[:7] == ["experiment", "kind", "status", "arm", "holdout", "share", "currency"]
    assert arm_header[-3:] == ["posterior_mean", "posterior_low", "posterior_high"]
    assert arm_rows[0][:7] == ["Copy", "split", "draft", "a", "false", "1.0000", "EUR"]
    funnel_header, funnel_rows = tables["funnel"]
    assert funnel_header[-2:] == ["revenue_EUR", "revenue_USD"] and funnel_header[0] == "path"
    assert funnel_rows[0][-2:] == ["10.00", "5"] and funnel_rows[1][-2:] == ["", ""]
    assert tables["placements"][0] == ["placement", "impressions", "clicks", "ctr", "conversions", "revenue_EUR"]
    pair_header, pair_rows = tables["pairs"]
    assert pair_header[:4] == ["source", "target", "source_id", "target_id"]
    assert pair_rows[0][-2:] == ["1.00", "4.00"]


def test_as_json_is_json_with_decimals_as_strings(store: Store, holdout: Experiment) -> None:
    make_funnel(store)
    treatment, control = sides(holdout)
    arm_day(treatment, D1, "EUR", Cohort([money("10.00"), [], money("2.00")]))
    arm_day(control, D1, "EUR", Cohort([money("1.00"), []]))
    RollupRun.objects.create(store=store, finished_at=datetime(2026, 11, 5, 3, 0, tzinfo=UTC))

    data = json.loads(json.dumps(report.as_json(report.build(store, since=D1, until=D2))))
    assert data["store"] == {"id": store.pk, "name": "Test store", "currency": "EUR"}
    assert (data["since"], data["until"], data["as_of"]) == ("2026-11-02", "2026-11-03", "2026-11-05T03:00:00+00:00")
    up = data["uplift"][0]
    assert up["treatment"]["revenue"] == "12.0000" and up["treatment"]["cross_sell_rate"] == pytest.approx(2 / 3)
    assert up["revenue_per_customer"]["kind"] == "absolute" and isinstance(up["revenue_per_customer"]["low"], str)
    assert up["verdict"]["code"] == "not_enough_data" and up["daily"][0]["day"] == "2026-11-02"
    assert data["funnel"][0]["revenue"] == {"EUR": "10.00", "USD": "5"}
    assert set(data) == {"store", "since", "until", "as_of", "uplift", "arms", "funnel", "placements", "pairs"}


def test_a_handful_of_queries_whatever_the_rows(
    store: Store, holdout: Experiment, django_assert_max_num_queries: Any
) -> None:
    make_funnel(store)
    treatment, control = sides(holdout)
    split = Experiment.objects.create(store=store, name="Copy", kind="split", layer="copy")
    arms = [Arm.objects.create(experiment=split, name=f"arm-{n}") for n in range(4)]
    for offset in range(30):
        day = D1 + timedelta(days=offset)
        for currency in ("EUR", "USD"):
            for arm in (treatment, control, *arms):
                arm_day(arm, day, currency, Cohort([money("3.00"), []]))
    with django_assert_max_num_queries(8):
        built = report.build(store, since=D1, until=D1 + timedelta(days=29))
        report.tables(built)
        report.as_json(built)
    assert len(built.uplift[0].daily) == 30 and len(built.arms) == 8
