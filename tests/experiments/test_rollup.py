"""The daily rollup: hand-computed ArmDay, StepDay, PlacementDay and PairStat rows from real rows of
the real models (real database, nothing mocked), idempotency, the open days of a rerun, store
scoping, the command, and the Celery tasks (the nightly rollup and the bandits' shares)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from crosssell_plugin.experiments import assignment, rollup
from crosssell_plugin.experiments.tasks import rollup_all_stores_task, rollup_store_task, update_bandits_task
from crosssell_plugin.models import (
    HOLDOUT_LAYER,
    Arm,
    ArmDay,
    Assignment,
    Click,
    Conversion,
    Customer,
    Experiment,
    Impression,
    Item,
    Order,
    OrderLine,
    PairStat,
    Path,
    PlacementDay,
    RollupRun,
    ScheduledMessage,
    Step,
    StepDay,
    Store,
)

D1 = date(2026, 11, 2)
T1 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
TODAY = D1 + timedelta(days=20)
WINDOW = 10


def at(days: float, hours: float = 0) -> datetime:
    return T1 + timedelta(days=days, hours=hours)


def money(value: str | int) -> Decimal:
    return Decimal(str(value))


@pytest.fixture
def short_windows(settings: Any) -> None:
    """Refunds stop changing a cohort when its window closes; clicks and conversions within 7 days."""
    settings.CROSSSELL = {**getattr(settings, "CROSSSELL", {}), "ROLLUP_REFUND_DAYS": 0, "ATTRIBUTION_WINDOW_DAYS": 7}


class Shop:
    """Builders of one store's rows with the real models."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def customer(self, name: str) -> Customer:
        return Customer.objects.create(store=self.store, email=f"{name}@example.com", first_name=name)

    def item(self, ref: str, price: str = "10") -> Item:
        return Item.objects.create(
            store=self.store, external_id=ref, kind="film", title=ref, price=money(price), currency=self.store.currency
        )

    def order(
        self,
        customer: Customer,
        placed_at: datetime,
        total: str | int,
        *,
        currency: str | None = None,
        refunded: str | int = 0,
        lines: tuple[tuple[Item, int, str], ...] = (),
    ) -> Order:
        order = Order.objects.create(
            store=self.store,
            customer=customer,
            external_id=f"o-{self._next()}",
            placed_at=placed_at,
            currency=currency or self.store.currency,
            total=money(total),
            refunded_total=money(refunded),
        )
        for position, (item, quantity, price) in enumerate(lines, start=1):
            OrderLine.objects.create(
                order=order, position=position, item=item, quantity=quantity, unit_price=money(price)
            )
        return order

    def assign(self, arm: Arm, customer: Customer, order: Order | None, assigned_at: datetime | None = None) -> None:
        Assignment.objects.create(
            store=self.store,
            experiment=arm.experiment,
            arm=arm,
            customer=customer,
            trigger_order=order,
            assigned_at=assigned_at or (order.placed_at if order else T1),
        )

    def impression(
        self,
        customer: Customer,
        item: Item,
        created_at: datetime,
        *,
        order: Order | None = None,
        placement: str = "thank_you",
        message: ScheduledMessage | None = None,
    ) -> Impression:
        return Impression.objects.create(
            store=self.store,
            customer=customer,
            item=item,
            order=order,
            placement=placement,
            rank=1,
            score=1.0,
            message=message,
            created_at=created_at,
        )

    def conversion(self, impression: Impression, order: Order, amount: str) -> Conversion:
        return Conversion.objects.create(
            impression=impression, order=order, item=impression.item, amount=money(amount), currency=order.currency
        )

    def message(self, step: Step, order: Order, status: str) -> ScheduledMessage:
        return ScheduledMessage.objects.create(
            store=self.store,
            customer=order.customer,
            order=order,
            path=step.path,
            step=step,
            idempotency_key=f"m-{self._next()}",
            channel="email",
            due_at=order.placed_at + step.delay,
            status=status,
            sent_at=order.placed_at + step.delay if status == ScheduledMessage.Status.SENT else None,
        )


def holdout_experiment(store: Store, window: int = WINDOW) -> tuple[Experiment, Arm, Arm]:
    experiment = assignment.ensure_holdout(store)
    experiment.window_days = window
    experiment.save()
    arms = {arm.name: arm for arm in experiment.arms.all()}
    return experiment, arms["treatment"], arms["holdout"]


@dataclass
class Scenario:
    shop: Shop
    treatment: Arm
    holdout: Arm
    customers: dict[str, Customer]
    items: dict[str, Item]
    steps: tuple[Step, Step]


@pytest.fixture
def scenario(store: Store, short_windows: None) -> Scenario:
    """A EUR store, its holdout (window 10 days), and on D1:

    - ann (treatment, EUR 50 trigger of B 2x15 + A 20): further EUR 30 (10 refunded) on D1+3, EUR 40 on
      D1+5 (buys X, shown by email on D1+1 and clicked: a conversion of 40), USD 15 on D1+4, and EUR 99
      on D1+12 (outside the window, shown X again on D1+15: outside too);
    - bob (treatment, EUR 20 trigger of C 10 + A 10): no further order, shown Y on the thank-you page;
    - cat (holdout, EUR 25 trigger): further EUR 60 on D1+2;
    - dan (treatment, USD 30 trigger): further USD 45 on D1+1 (buys X shown on D1 + 1: 45 USD) and EUR 10.
    """
    shop = Shop(store)
    _, treatment, holdout = holdout_experiment(store)
    items = {ref: shop.item(ref) for ref in ("A", "B", "C", "X", "Y")}
    ann, bob, cat, dan = (shop.customer(name) for name in ("ann", "bob", "cat", "dan"))
    o_ann = shop.order(ann, at(0), 50, lines=((items["A"], 1, "20"), (items["B"], 2, "15")))
    o_bob = shop.order(bob, at(0, 1), 20, lines=((items["C"], 1, "10"), (items["A"], 1, "10")))
    o_cat = shop.order(cat, at(0, 2), 25)
    o_dan = shop.order(dan, at(0, 3), 30, currency="USD", lines=((items["C"], 1, "30"),))
    shop.assign(treatment, ann, o_ann)
    shop.assign(treatment, bob, o_bob)
    shop.assign(holdout, cat, o_cat)
    shop.assign(treatment, dan, o_dan)
    shop.order(ann, at(3), 30, refunded=10)
    ann_x = shop.order(ann, at(5), 40)
    shop.order(ann, at(4), 15, currency="USD")
    late = shop.order(ann, at(12), 99, lines=((items["A"], 1, "99"),))
    shop.order(cat, at(2), 60)
    dan_x = shop.order(dan, at(1), 45, currency="USD")
    shop.order(dan, at(1, 2), 10)

    path = Path.objects.create(store=store, name="Rollup path")
    first = Step.objects.create(path=path, position=1, name="One", delay=timedelta(hours=1), template="t")
    second = Step.objects.create(path=path, position=2, name="Two", delay=timedelta(days=3), template="t")
    sent_ann = shop.message(first, o_ann, ScheduledMessage.Status.SENT)
    shop.message(first, o_bob, ScheduledMessage.Status.SENT)
    shop.message(first, o_cat, ScheduledMessage.Status.SKIPPED)
    shop.message(first, o_dan, ScheduledMessage.Status.CANCELLED)
    shop.message(second, o_ann, ScheduledMessage.Status.PLANNED)
    shop.message(second, o_bob, ScheduledMessage.Status.CLAIMED)
    shop.message(second, o_cat, ScheduledMessage.Status.FAILED)

    shown = shop.impression(ann, items["X"], at(1), order=o_ann, placement="email", message=sent_ann)
    Click.objects.create(impression=shown)
    Click.objects.create(impression=shown)
    shop.conversion(shown, ann_x, "40")
    shop.impression(bob, items["Y"], at(0, 1.1), order=o_bob)
    shop.impression(ann, items["X"], at(15), order=late)
    shown_dan = shop.impression(dan, items["X"], at(0, 5), order=o_dan)
    Click.objects.create(impression=shown_dan)
    shop.conversion(shown_dan, dan_x, "45")
    return Scenario(shop, treatment, holdout, {"ann": ann, "bob": bob, "cat": cat, "dan": dan}, items, (first, second))


FIGURES = (
    "customers",
    "converted",
    "exposed",
    "attributed",
    "orders",
    "revenue",
    "refunded",
    "revenue_squares",
    "order_value_squares",
    "attributed_revenue",
    "impressions",
    "clicks",
    "complete",
)


def arm_rows(store: Store) -> dict[tuple[str, date, str], dict[str, Any]]:
    return {
        (row.arm.name, row.day, row.currency): {name: getattr(row, name) for name in FIGURES}
        for row in ArmDay.objects.for_store(store).select_related("arm")
    }


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row of the store without its pk and update time."""

    def rows(queryset: Any) -> list[tuple[Any, ...]]:
        fields = [f.attname for f in queryset.model._meta.concrete_fields if f.attname not in ("id", "updated_at")]
        return sorted(tuple(str(v) for v in row) for row in queryset.values_list(*fields))

    return {
        "arms": rows(ArmDay.objects.for_store(store)),
        "steps": rows(StepDay.objects.for_store(store)),
        "placements": rows(PlacementDay.objects.for_store(store)),
        "pairs": rows(PairStat.objects.for_store(store)),
    }


def revenue(mapping: dict[str, str]) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in mapping.items()}


# --- ArmDay ---------------------------------------------------------------------------------------


def test_cohorts_by_arm_and_currency_net_of_refunds_within_the_window(scenario: Scenario) -> None:
    run = rollup.run(scenario.shop.store, full=True, today=TODAY)
    assert run.error == "" and run.finished_at is not None
    assert run.first_day == D1 and run.last_day == TODAY
    rows = arm_rows(scenario.shop.store)
    assert set(rows) == {("treatment", D1, "EUR"), ("treatment", D1, "USD"), ("holdout", D1, "EUR")}
    # ann: further EUR orders 30 (10 refunded: net 20) and 40, her USD 15 converts but adds no EUR, her
    # trigger (50) and the late 99 do not count; bob: a customer who adds 0
    assert rows[("treatment", D1, "EUR")] == {
        "customers": 2,
        "converted": 1,
        "exposed": 2,  # ann by email on D1+1, bob on his thank-you page
        "attributed": 1,
        "orders": 2,
        "revenue": money(60),
        "refunded": money(10),
        "revenue_squares": 60.0**2,
        "order_value_squares": 20.0**2 + 40.0**2,
        "attributed_revenue": money(40),
        "impressions": 2,  # not ann's on D1+15: outside her window
        "clicks": 2,
        "complete": True,
    }
    # dan's USD cohort: his EUR 10 converts but is not USD revenue; the USD conversion is his
    assert rows[("treatment", D1, "USD")] == {
        "customers": 1,
        "converted": 1,
        "exposed": 1,
        "attributed": 1,
        "orders": 1,
        "revenue": money(45),
        "refunded": money(0),
        "revenue_squares": 45.0**2,
        "order_value_squares": 45.0**2,
        "attributed_revenue": money(45),
        "impressions": 1,
        "clicks": 1,
        "complete": True,
    }
    assert rows[("holdout", D1, "EUR")] == {
        "customers": 1,
        "converted": 1,
        "exposed": 0,
        "attributed": 0,
        "orders": 1,
        "revenue": money(60),
        "refunded": money(0),
        "revenue_squares": 3600.0,
        "order_value_squares": 3600.0,
        "attributed_revenue": money(0),
        "impressions": 0,
        "clicks": 0,
        "complete": True,
    }
    assert RollupRun.objects.for_store(scenario.shop.store).get() == run
    assert run.rows == ArmDay.objects.count() + StepDay.objects.count() + PlacementDay.objects.count() + (
        PairStat.objects.count()
    )


def test_a_cohort_whose_window_is_open_is_not_complete(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=D1 + timedelta(days=WINDOW))
    rows = arm_rows(scenario.shop.store)
    assert {key: row["complete"] for key, row in rows.items()} == dict.fromkeys(rows, False)
    rollup.run(scenario.shop.store, full=True, today=D1 + timedelta(days=WINDOW + 1))
    assert all(row["complete"] for row in arm_rows(scenario.shop.store).values())


def test_an_assignment_without_a_trigger_order_counts_from_its_time_in_the_store_currency(
    store: Store, short_windows: None
) -> None:
    shop = Shop(store)
    _, treatment, _ = holdout_experiment(store)
    eve = shop.customer("eve")
    shop.order(eve, at(0, -1), 70)  # before the assignment: not counted
    shop.assign(treatment, eve, None, assigned_at=at(0))
    shop.order(eve, at(0, 1), 12, currency="USD")
    rollup.run(store, full=True, today=TODAY)
    row = ArmDay.objects.for_store(store).get()
    assert (row.currency, row.customers, row.converted, row.orders, row.revenue) == ("EUR", 1, 1, 0, money(0))


# --- StepDay, PlacementDay, PairStat --------------------------------------------------------------


def test_step_days_count_the_funnel_of_the_orders_of_a_day(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    first, second = scenario.steps
    rows = {row.step_id: row for row in StepDay.objects.for_store(scenario.shop.store).filter(step__in=[first, second])}
    one, two = rows[first.pk], rows[second.pk]
    assert (one.day, one.path_id) == (D1, first.path_id)
    assert (one.planned, one.sent, one.skipped, one.cancelled, one.failed, one.pending) == (4, 2, 1, 1, 0, 0)
    assert (one.clicked, one.converted, revenue(one.revenue)) == (1, 1, {"EUR": money(40)})
    assert (two.planned, two.sent, two.skipped, two.cancelled, two.failed, two.pending) == (3, 0, 0, 0, 1, 2)
    assert (two.clicked, two.converted, two.revenue) == (0, 0, {})


def test_placement_days_keep_each_currency_apart(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    rows = {
        (row.day, row.placement): (row.impressions, row.clicks, row.conversions, revenue(row.revenue))
        for row in PlacementDay.objects.for_store(scenario.shop.store)
    }
    assert rows == {
        (D1, "thank_you"): (2, 1, 1, {"USD": money(45)}),
        (D1 + timedelta(days=1), "email"): (1, 2, 1, {"EUR": money(40)}),
        (D1 + timedelta(days=15), "thank_you"): (1, 0, 0, {}),
    }


def test_pairs_start_at_the_order_line_with_the_highest_total(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    items = {item.pk: item.external_id for item in Item.objects.for_store(scenario.shop.store)}
    rows = {
        (items[row.source_id], items[row.target_id]): (
            row.impressions,
            row.clicks,
            row.conversions,
            revenue(row.revenue),
        )
        for row in PairStat.objects.for_store(scenario.shop.store)
    }
    # ann's trigger: B 2 x 15 = 30 beats A 20; bob's: C and A tie at 10, C is line 1; dan's: C
    assert rows == {
        ("B", "X"): (1, 2, 1, {"EUR": money(40)}),
        ("C", "Y"): (1, 0, 0, {}),
        ("A", "X"): (1, 0, 0, {}),
        ("C", "X"): (1, 1, 1, {"USD": money(45)}),
    }
    assert {row.since for row in PairStat.objects.for_store(scenario.shop.store)} == {TODAY - timedelta(days=90)}


# --- reruns ---------------------------------------------------------------------------------------


def test_running_twice_gives_the_same_rows(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    first = snapshot(scenario.shop.store)
    assert all(first.values())
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    assert snapshot(scenario.shop.store) == first
    rollup.run(scenario.shop.store, today=TODAY)
    assert snapshot(scenario.shop.store) == first
    assert RollupRun.objects.for_store(scenario.shop.store).count() == 3


def test_a_rerun_updates_the_open_days_and_leaves_closed_days_alone(scenario: Scenario) -> None:
    shop = scenario.shop
    fay = shop.customer("fay")
    recent = TODAY - timedelta(days=2)
    trigger = shop.order(fay, at(18), 35)
    shop.assign(scenario.treatment, fay, trigger)
    rollup.run(shop.store, full=True, today=TODAY)
    closed = ArmDay.objects.for_store(shop.store).get(arm=scenario.treatment, day=D1, currency="EUR")
    assert ArmDay.objects.for_store(shop.store).get(arm=scenario.treatment, day=recent).orders == 0

    shop.order(fay, at(19), 25)  # a further order of the open cohort
    shop.order(scenario.customers["bob"], at(6), 80)  # late data for a closed cohort (its window and refunds are over)
    run = rollup.run(shop.store, today=TODAY)
    assert run.first_day == D1  # the funnel's: follow-ups of D1's orders are still pending
    open_row = ArmDay.objects.for_store(shop.store).get(arm=scenario.treatment, day=recent)
    assert (open_row.orders, open_row.revenue, open_row.complete) == (1, money(25), False)
    unchanged = ArmDay.objects.for_store(shop.store).get(arm=scenario.treatment, day=D1, currency="EUR")
    assert (unchanged.pk, unchanged.updated_at, unchanged.orders) == (closed.pk, closed.updated_at, 2)

    rollup.run(shop.store, full=True, today=TODAY)  # a full run takes the late order in
    assert ArmDay.objects.for_store(shop.store).get(arm=scenario.treatment, day=D1, currency="EUR").orders == 3


def test_the_refund_window_keeps_a_closed_cohort_open(scenario: Scenario, settings: Any) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    order = Order.objects.for_store(scenario.shop.store).get(customer=scenario.customers["cat"], total=60)
    order.refunded_total = money(60)
    order.save()
    rollup.run(scenario.shop.store, today=TODAY)  # ROLLUP_REFUND_DAYS 0: the cohort of D1 is final
    assert ArmDay.objects.for_store(scenario.shop.store).get(arm=scenario.holdout).revenue == money(60)
    settings.CROSSSELL = {**settings.CROSSSELL, "ROLLUP_REFUND_DAYS": 60}
    run = rollup.run(scenario.shop.store, today=TODAY)
    assert run.first_day == D1  # no data before the store's first day
    row = ArmDay.objects.for_store(scenario.shop.store).get(arm=scenario.holdout)
    assert (row.revenue, row.refunded, row.revenue_squares, row.orders, row.converted) == (money(0), money(60), 0, 1, 1)


def test_a_failed_run_records_its_error_and_keeps_the_rows(scenario: Scenario) -> None:
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    before = snapshot(scenario.shop.store)
    Order.objects.for_store(scenario.shop.store).filter(total=40).update(refunded_total=money(40))

    def broken(done: int, total: int, message: str) -> None:
        if done == total:
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="the disk is full"):
        rollup.run(scenario.shop.store, full=True, today=TODAY, progress=broken)
    failed = RollupRun.objects.for_store(scenario.shop.store).order_by("-pk").first()
    assert failed is not None and failed.error == "RuntimeError: the disk is full" and failed.finished_at
    assert snapshot(scenario.shop.store) == before


def test_bad_input_is_named(store: Store) -> None:
    with pytest.raises(TypeError, match="today must be a date"):
        rollup.run(store, today="2026-11-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a Store"):
        rollup.run(store.pk)  # type: ignore[arg-type]


def test_each_store_has_its_own_rows(scenario: Scenario) -> None:
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="USD")
    shop = Shop(other)
    _, treatment, _ = holdout_experiment(other)
    gus = shop.customer("gus")
    shop.assign(treatment, gus, shop.order(gus, at(0), 10))
    shop.order(gus, at(1), 33)
    rollup.run(scenario.shop.store, full=True, today=TODAY)
    assert not ArmDay.objects.for_store(other).exists() and not RollupRun.objects.for_store(other).exists()
    mine = snapshot(scenario.shop.store)
    rollup.run(other, full=True, today=TODAY)
    row = ArmDay.objects.for_store(other).get()
    assert (row.arm_id, row.customers, row.orders, row.revenue, row.currency) == (treatment.pk, 1, 1, money(33), "USD")
    assert snapshot(scenario.shop.store) == mine
    assert ArmDay.objects.for_store(scenario.shop.store).filter(arm__experiment__store=other).count() == 0


def test_run_all_skips_inactive_stores(scenario: Scenario) -> None:
    other = Store.objects.create(
        platform="custom", external_id="closed", name="Closed", currency="EUR", is_active=False
    )
    seen: list[tuple[int, int, int]] = []
    runs = rollup.run_all(
        progress=lambda store, done, total, message: seen.append((store.pk, done, total)), today=TODAY
    )
    assert [run.store_id for run in runs] == [scenario.shop.store.pk]
    assert not RollupRun.objects.for_store(other).exists()
    assert seen and seen[-1][1] == seen[-1][2] and {pk for pk, _, _ in seen} == {scenario.shop.store.pk}


# --- the command ----------------------------------------------------------------------------------


def test_the_command_prints_days_rows_and_seconds(scenario: Scenario) -> None:
    out = io.StringIO()
    store = scenario.shop.store
    call_command("crosssell_rollup", "--store", str(store.pk), "--full", "--today", TODAY.isoformat(), stdout=out)
    text = out.getvalue()
    total = (TODAY - D1).days + 2  # the cohort days and the funnel/placements/pairs step
    run = RollupRun.objects.for_store(store).get()
    assert f"{total}/{total} days" in text and "7/" in text
    assert f"{run.rows:,} rows written for {D1} to {TODAY}" in text
    assert "1 of 1 stores rolled up in" in text
    out = io.StringIO()
    call_command("crosssell_rollup", "--store", f"{store.platform}:{store.external_id}", stdout=out)
    assert "rows written" in out.getvalue() and RollupRun.objects.for_store(store).count() == 2


def test_the_command_names_bad_arguments(store: Store) -> None:
    with pytest.raises(CommandError, match="not a date like 2026-11-30"):
        call_command("crosssell_rollup", "--today", "30/11/2026")
    with pytest.raises(CommandError, match="No store '9999'"):
        call_command("crosssell_rollup", "--store", "9999")
    with pytest.raises(CommandError, match="give a store id or"):
        call_command("crosssell_rollup", "--store", "nope")


# --- the tasks and the bandits --------------------------------------------------------------------


def bandit_shop(store: Store) -> tuple[Experiment, Arm, Arm, Arm]:
    """A running bandit (floor 0.1) with a holdout arm, assigned three days ago: arm good converts
    60 of 200, arm poor 10 of 200."""
    shop = Shop(store)
    assigned = timezone.now() - timedelta(days=3)
    experiment = Experiment.objects.create(
        store=store,
        name="Bandit",
        kind=Experiment.Kind.BANDIT,
        layer="strategy",
        status=Experiment.Status.RUNNING,
        exploration_floor=Decimal("0.1"),
        window_days=7,
    )
    good = Arm.objects.create(experiment=experiment, name="good", weight=Decimal("0.45"))
    poor = Arm.objects.create(experiment=experiment, name="poor", weight=Decimal("0.45"))
    held = Arm.objects.create(experiment=experiment, name="held", weight=Decimal("0.1"), holdout=True)
    customers = Customer.objects.bulk_create([Customer(store=store, email=f"b{i}@example.com") for i in range(420)])
    Assignment.objects.bulk_create(
        [
            Assignment(
                store=store,
                experiment=experiment,
                arm=good if i < 200 else poor if i < 400 else held,
                customer=c,
                assigned_at=assigned,
            )
            for i, c in enumerate(customers)
        ]
    )
    buyers = customers[:60] + customers[200:210] + customers[400:420]
    Order.objects.bulk_create(
        [
            Order(
                store=store,
                customer=c,
                external_id=f"b-{c.pk}",
                placed_at=assigned + timedelta(days=1),
                currency="EUR",
                total=money(20),
            )
            for c in buyers
        ]
    )
    assert shop.store == store
    return experiment, good, poor, held


def test_the_nightly_task_rolls_up_and_moves_the_bandit_toward_the_better_arm(
    store: Store, short_windows: None, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    experiment, good, poor, held = bandit_shop(store)
    before = {arm.name: arm.share for arm in assignment.running(store)[0].arms}
    assert before == {"good": 0.45, "poor": 0.45, "held": 0.1}  # by weight until the bandit learns
    rollup_all_stores_task.delay()
    rows = {
        row.arm.name: (row.customers, row.converted) for row in ArmDay.objects.for_store(store).select_related("arm")
    }
    assert rows == {"good": (200, 60), "poor": (200, 10), "held": (20, 20)}
    good.refresh_from_db()
    poor.refresh_from_db()
    held.refresh_from_db()
    # P(good is best) ~ 1: good gets (1 - floor) of the bandit's 0.9, poor its floor; the holdout keeps 0.1
    assert good.share > Decimal("0.8") and poor.share >= Decimal("0.09") and poor.share < Decimal("0.1")
    assert good.share + poor.share == Decimal("0.9000")
    assert held.share is None and held.weight == Decimal("0.1") and held.share_updated_at is None
    assert good.share_updated_at is not None
    after = {arm.name: arm.share for arm in assignment.running(store)[0].arms}  # the cache was cleared
    assert after == {"good": float(good.share), "poor": float(poor.share), "held": 0.1}
    assert experiment.pk == good.experiment_id


def test_update_bandits_with_the_revenue_metric_and_without_data(store: Store, short_windows: None) -> None:
    experiment, good, poor, _ = bandit_shop(store)
    assert update_bandits_task() == 0  # no rollup yet: the starting weights stay
    good.refresh_from_db()
    assert good.share is None
    rollup_store_task(store.pk)
    experiment.metric = Experiment.Metric.REVENUE
    experiment.save()
    assert rollup.update_bandits(rng=np.random.default_rng(7)) == 1
    good.refresh_from_db()
    poor.refresh_from_db()
    assert good.share > poor.share >= Decimal("0.09")


def test_a_stopped_or_split_experiment_keeps_its_shares(store: Store, short_windows: None) -> None:
    experiment, good, _, _ = bandit_shop(store)
    experiment.status = Experiment.Status.STOPPED
    experiment.save()
    rollup.run(store, full=True, today=TODAY)
    assert rollup.update_bandits() == 0
    good.refresh_from_db()
    assert good.share is None


def test_the_store_task_reports_a_missing_store(db: Any) -> None:
    assert rollup_store_task(987654) == {"store": 987654, "status": "missing"}


def test_the_holdout_layer_is_rolled_up_like_any_experiment(scenario: Scenario) -> None:
    rollup_store_task(scenario.shop.store.pk, full=True)
    experiment = Experiment.objects.for_store(scenario.shop.store).get(layer=HOLDOUT_LAYER)
    assert set(ArmDay.objects.for_store(scenario.shop.store).values_list("experiment_id", flat=True)) == {experiment.pk}
