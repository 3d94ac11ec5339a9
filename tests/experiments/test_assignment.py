"""Experiment assignment: balance and independence of the salted hash, sticky recorded arms, the
store's holdout getting nothing on any surface or follow-up, and what an arm changes. Real
database, the real purchase pipeline, nothing mocked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from scipy import stats

from crosssell_plugin import recommend
from crosssell_plugin.experiments.assignment import bucket, pick, treatment_for
from crosssell_plugin.models import (
    HOLDOUT_LAYER,
    Arm,
    Assignment,
    Experiment,
    ModelVersion,
    Order,
    ScheduledMessage,
    Store,
)
from crosssell_plugin.surfaces import blocks, serve
from crosssell_plugin.training import train_store

from ..followups_support import T0, customer, enable_default_path, event, seed_popular

# --- the hash (no database) --------------------------------------------------------------------


def test_assignment_is_balanced_over_100k_customers() -> None:
    shares = [(1, 0.1), (2, 0.45), (3, 0.45)]
    counts = Counter(pick(shares, bucket("salt-a", key)) for key in range(100_000))
    observed = [counts[arm] for arm, _ in shares]
    expected = [share * 100_000 for _, share in shares]
    assert stats.chisquare(observed, expected).pvalue > 0.001, observed
    # the same salt and key always give the same arm; another salt reshuffles
    assert [pick(shares, bucket("salt-a", k)) for k in range(50)] == [
        pick(shares, bucket("salt-a", k)) for k in range(50)
    ]
    assert [pick(shares, bucket("salt-a", k)) for k in range(50)] != [
        pick(shares, bucket("salt-b", k)) for k in range(50)
    ]


def test_two_layers_assign_independently() -> None:
    halves = [(1, 0.5), (2, 0.5)]
    table = Counter((pick(halves, bucket("layer-1", k)), pick(halves, bucket("layer-2", k))) for k in range(40_000))
    contingency = [[table[(1, 1)], table[(1, 2)]], [table[(2, 1)], table[(2, 2)]]]
    assert stats.chi2_contingency(contingency).pvalue > 0.001, contingency


def test_pick_refuses_arms_without_weight() -> None:
    with pytest.raises(ValueError, match="no arm has a positive weight"):
        pick([(1, 0.0), (2, 0.0)], 0.3)


# --- the holdout, end to end ---------------------------------------------------------------------


@pytest.fixture
def shop(store: Store, record: Callable[..., Order], settings: Any, isolated_models: None) -> Store:
    settings.CROSSSELL = {**settings.CROSSSELL, "HOLDOUT_SHARE": 0.5, "QUIET_HOURS": None}
    seed_popular(record)
    enable_default_path(store)
    return store


def _buyers(record: Callable[..., Order], n: int) -> list[Order]:
    return [record(event(f"b-{i}", who=customer(f"buyer{i}@example.com"), items=("film-1",))) for i in range(n)]


def test_the_holdout_gets_no_block_no_answer_and_no_follow_up(shop: Store, record: Callable[..., Order]) -> None:
    orders = _buyers(record, 30)
    holdout = Experiment.objects.for_store(shop).get(layer=HOLDOUT_LAYER)
    assert holdout.status == Experiment.Status.RUNNING and holdout.kind == Experiment.Kind.HOLDOUT
    assert sorted((a.name, a.weight, a.holdout) for a in holdout.arms.all()) == [
        ("holdout", Decimal("0.5"), True),
        ("treatment", Decimal("0.5"), False),
    ]
    held = set(Assignment.objects.for_store(shop).filter(arm__holdout=True).values_list("customer_id", flat=True))
    assert 0 < len(held) < 30  # both arms have customers (a fixed salt would make this certain)
    for order in orders:
        planned = ScheduledMessage.objects.for_store(shop).filter(order=order).count()
        if order.customer_id in held:
            assert serve.for_order(order) == []
            assert serve.for_customer(order.customer) == []
            assert blocks.order_block(None, order) == ""
            assert planned == 0
        else:
            assert serve.for_order(order)
            assert blocks.order_block(None, order) != ""
            assert planned == 3
    # every buyer was assigned once, with their order as the trigger
    assignments = Assignment.objects.for_store(shop).filter(experiment=holdout)
    assert assignments.count() == 30 + 6  # the buyers and the seeded customers
    assert {a.trigger_order_id for a in assignments.filter(customer__in=[o.customer_id for o in orders])} == {
        o.pk for o in orders
    }


def test_an_assignment_is_sticky_when_the_weights_change(shop: Store, record: Callable[..., Order]) -> None:
    orders = _buyers(record, 12)
    before = dict(Assignment.objects.for_store(shop).values_list("customer_id", "arm__name"))
    Arm.objects.filter(experiment__store=shop, name="holdout").update(weight=Decimal(0))
    Arm.objects.filter(experiment__store=shop, name="treatment").update(weight=Decimal(1))
    for order in orders:
        assert treatment_for(shop, order.customer).held_out == (before[order.customer_id] == "holdout")
    assert dict(Assignment.objects.for_store(shop).values_list("customer_id", "arm__name")) == before


def test_a_message_planned_before_the_holdout_is_skipped_when_due(
    store: Store, record: Callable[..., Order], settings: Any, isolated_models: None
) -> None:
    from crosssell_plugin.followups.dispatch import dispatch_due

    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None}
    seed_popular(record)
    enable_default_path(store)
    order = record(event("early", who=customer("early@example.com")))
    assert ScheduledMessage.objects.for_store(store).filter(order=order).count() == 3
    holdout = Experiment.objects.for_store(store).get(layer=HOLDOUT_LAYER)
    everyone = holdout.arms.get(name="holdout")
    Assignment.objects.filter(customer=order.customer).update(arm=everyone)
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        report = dispatch_due()
    assert report.skip_reasons == {"customer is in the holdout": 1}
    assert ScheduledMessage.objects.for_store(store).filter(order=order, status="sent").count() == 0


# --- what an arm changes --------------------------------------------------------------------------


def test_an_arm_sets_channel_cadence_offer_variant_and_strategy(
    store: Store, record: Callable[..., Order], settings: Any, isolated_models: None
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None}
    seed_popular(record)
    path = enable_default_path(store)
    path.steps.update(offer_code="THANKS10", offer_percent=Decimal(10))
    test = Experiment.objects.create(store=store, name="Later, by SMS", layer="cadence", status="running")
    Arm.objects.create(
        experiment=test,
        name="sms-late",
        channel="sms",
        delay_scale=Decimal(2),
        offers=False,
        copy_variant="B",
        strategy=Arm.Strategy.POPULAR,
    )
    order = record(event("arm-1", who=customer("arm@example.com"), items=("pop-2",)))
    planned = list(ScheduledMessage.objects.for_store(store).filter(order=order).order_by("due_at"))
    assert [m.due_at - T0 for m in planned] == [timedelta(hours=2), timedelta(hours=48), timedelta(days=14)]
    assert {(m.channel, m.with_offer, m.variant) for m in planned} == {("sms", False, "B")}
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    # the model would explain its own picks; the arm's strategy shows popular items only
    assert any(r.reasons[0].signal != "popular" for r in recommend.for_order(order))
    recs = serve.for_order(order)
    assert recs and all(r.reasons[0].signal == "popular" for r in recs)
    shown = serve.show(store, recs, "thank_you", order=order, customer=order.customer)
    assert {i.variant for i in shown} == {"B"}
