"""Follow-up paths: planning after a purchase, the cadence, quiet hours, matching, the union rule,
the guards and the cancellations; real database, the in-app and SMS channels, nothing mocked."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from crosssell_plugin.events import PurchaseLine, RefundEvent
from crosssell_plugin.followups import auto
from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
from crosssell_plugin.followups.dispatch import dispatch_due
from crosssell_plugin.followups.planning import plan_order
from crosssell_plugin.followups.timing import out_of_quiet_hours
from crosssell_plugin.ingest import record_refund
from crosssell_plugin.models import (
    Click,
    Conversion,
    Customer,
    Impression,
    InAppMessage,
    Item,
    Order,
    Path,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.signals import consent_withdrawn

from .conftest import STORE_REF, catalog_item, purchase_event
from .followups_support import T0, customer, enable_default_path, event, seed_popular

Status = ScheduledMessage.Status
UTCZ = zoneinfo.ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _isolated(isolated_models: None, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": {"START": "21:00", "END": "09:00"}}


@pytest.fixture
def shop(store: Store, record: Callable[..., Order]) -> Store:
    seed_popular(record)
    enable_default_path(store)
    return store


def rows(order: Order) -> list[ScheduledMessage]:
    return list(ScheduledMessage.objects.for_store(order.store_id).filter(order=order).order_by("due_at"))


# --- the default path, the cadence, quiet hours ---------------------------------------------------


def test_a_new_store_gets_the_default_path_disabled(store: Store) -> None:
    path = Path.objects.for_store(store).get()
    assert path.name == DEFAULT_PATH_NAME and not path.enabled
    assert [(s.position, s.delay, s.template, s.channel) for s in path.steps.all()] == [
        (1, timedelta(hours=1), "soft_upsell", "email"),
        (2, timedelta(hours=24), "bundle", "email"),
        (3, timedelta(days=7), "loyalty", "email"),
    ]


def test_a_disabled_path_plans_nothing(store: Store, record: Callable[..., Order]) -> None:
    assert rows(record(event("o-1"))) == []


def test_a_purchase_plans_three_messages_at_1h_24h_7d(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("o-1"))
    planned = rows(order)
    assert [m.due_at for m in planned] == [T0 + timedelta(hours=1), T0 + timedelta(hours=24), T0 + timedelta(days=7)]
    assert [m.idempotency_key for m in planned] == [f"{order.customer_id}:{order.pk}:{m.step_id}" for m in planned]
    assert all(m.status == Status.PLANNED and m.channel == "in_app" for m in planned)
    snapshot = planned[0].recommendation_snapshot
    assert snapshot and {"item", "score", "reasons"} <= set(snapshot[0])
    # a re-delivery (or a second planning) plans nothing twice
    plan_order(order)
    record(event("o-1"))
    assert len(rows(order)) == 3


def test_the_messages_go_out_at_their_times_with_a_moving_clock(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("o-1"))
    with time_machine.travel(T0 + timedelta(minutes=59), tick=False):
        assert dispatch_due().claimed == 0
    for offset, expected in ((timedelta(hours=1), 1), (timedelta(hours=24), 2), (timedelta(days=7), 3)):
        with time_machine.travel(T0 + offset + timedelta(seconds=1), tick=False):
            report = dispatch_due()
            assert (report.claimed, report.sent) == (1, 1), report
        assert InAppMessage.objects.for_store(shop).filter(customer=order.customer).count() == expected
    sent = rows(order)
    assert [m.status for m in sent] == [Status.SENT] * 3
    assert all(m.sent_channel == "in_app" and m.sent_items and m.provider_message_id for m in sent)
    assert Impression.objects.for_store(shop).filter(placement="in_app").count() == sum(len(m.sent_items) for m in sent)


def test_quiet_hours_push_a_night_message_to_9_local(shop: Store, record: Callable[..., Order]) -> None:
    # 01:30 UTC is 20:30 in New York (EST): +1 h falls at 21:30 local, inside 21:00-09:00
    night = datetime(2026, 11, 4, 1, 30, tzinfo=UTC)
    order = record(event("o-ny", at=night, who=customer(timezone="America/New_York")))
    due = [m.due_at for m in rows(order)]
    ny = zoneinfo.ZoneInfo("America/New_York")
    assert due[0] == datetime(2026, 11, 4, 9, 0, tzinfo=ny)  # next morning, not skipped
    assert due[1] == night + timedelta(hours=24)  # 20:30 local: before the quiet hours
    assert due[2] == night + timedelta(days=7)


def test_the_store_timezone_applies_when_the_customer_has_none(shop: Store, record: Callable[..., Order]) -> None:
    shop.timezone = "Asia/Tokyo"  # 12:30 UTC + 1 h = 22:30 in Tokyo
    shop.save()
    order = record(event("o-tokyo"))
    assert rows(order)[0].due_at == datetime(2026, 11, 4, 9, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize(
    ("local", "window", "expected"),
    [
        ("22:00", {"START": "21:00", "END": "09:00"}, "next 09:00"),
        ("03:00", {"START": "21:00", "END": "09:00"}, "same 09:00"),
        ("09:00", {"START": "21:00", "END": "09:00"}, "unchanged"),
        ("20:59", {"START": "21:00", "END": "09:00"}, "unchanged"),
        ("12:30", {"START": "12:00", "END": "14:00"}, "same 14:00"),
        ("03:00", None, "unchanged"),
    ],
)
def test_out_of_quiet_hours(settings: Any, local: str, window: Any, expected: str) -> None:
    settings.CROSSSELL = {"QUIET_HOURS": window}
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    hours, minutes = map(int, local.split(":"))
    when = datetime(2026, 6, 10, hours, minutes, tzinfo=paris)
    moved = out_of_quiet_hours(when, paris)
    if expected == "unchanged":
        assert moved == when
    else:
        day = when.date() + timedelta(days=1 if expected.startswith("next") else 0)
        h, m = map(int, expected.split()[1].split(":"))
        assert moved == datetime(day.year, day.month, day.day, h, m, tzinfo=paris)
    assert moved.tzinfo == UTC


# --- matching and the union rule ------------------------------------------------------------------


def _path(
    store: Store,
    name: str,
    *,
    steps: tuple[tuple[int, str, str], ...] = ((1, "soft_upsell", "in_app"),),
    **trigger: Any,
) -> Path:
    path = Path.objects.create(store=store, name=name, enabled=True, **trigger)
    for position, (hours, template, channel) in enumerate(steps, start=1):
        Step.objects.create(
            path=path,
            position=position,
            name=template,
            delay=timedelta(hours=hours),
            template=template,
            channel=channel,
        )
    return path


@pytest.mark.parametrize(
    ("trigger", "matches"),
    [
        ({}, True),
        ({"platform": "custom"}, True),
        ({"platform": "shopify"}, False),
        ({"item_kinds": ["FILM"]}, True),
        ({"item_kinds": ["course"]}, False),
        ({"categories": ["drama"]}, True),  # the item's genre is "Drama"
        ({"categories": ["Comedy"]}, False),
        ({"categories": ["staff-pick"]}, True),  # a tag
        ({"min_order_value": Decimal("9.99"), "min_order_currency": "EUR"}, True),
        ({"min_order_value": Decimal("10.00"), "min_order_currency": "EUR"}, False),
        ({"min_order_value": Decimal("5.00")}, True),  # no currency: the store's
        ({"min_order_value": Decimal("5.00"), "min_order_currency": "USD"}, False),  # never converted
        ({"buyers": "first"}, True),
        ({"buyers": "repeat"}, False),
    ],
)
def test_trigger_matching(store: Store, record: Callable[..., Order], trigger: dict[str, Any], matches: bool) -> None:
    _path(store, "rule", **trigger)
    line = PurchaseLine(catalog_item("film-9", tags=("Staff-Pick",)), 1, Decimal("9.99"))
    order = record(purchase_event("m-1", occurred_at=T0, customer=customer(), lines=(line,)))
    assert bool(rows(order)) is matches


def test_first_and_repeat_purchases(store: Store, record: Callable[..., Order]) -> None:
    _path(store, "first", buyers="first", steps=((1, "welcome", "in_app"),))
    _path(store, "repeat", buyers="repeat", steps=((1, "again", "in_app"),))
    first = record(event("r-1"))
    second = record(event("r-2", at=T0 + timedelta(days=1)))
    assert [m.step.template for m in rows(first)] == ["welcome"]
    assert [m.step.template for m in rows(second)] == ["again"]


def test_two_paths_give_the_union_without_duplicates(store: Store, record: Callable[..., Order]) -> None:
    a = _path(store, "a", steps=((1, "soft_upsell", "in_app"), (24, "bundle", "in_app")))
    b = _path(
        store,
        "b",
        steps=((1, "soft_upsell", "in_app"), (1, "soft_upsell", "sms"), (72, "bundle", "in_app")),
    )
    order = record(event("u-1"))
    planned = [(m.path_id, m.step.template, m.channel, m.due_at - T0) for m in rows(order)]
    assert planned == [
        (a.pk, "soft_upsell", "in_app", timedelta(hours=1)),  # b's identical step is the same message
        (b.pk, "soft_upsell", "sms", timedelta(hours=1)),  # another channel: another message
        (a.pk, "bundle", "in_app", timedelta(hours=24)),
        (b.pk, "bundle", "in_app", timedelta(hours=72)),  # same template, days apart: both
    ]


def test_steps_of_one_path_are_never_merged(store: Store, record: Callable[..., Order]) -> None:
    _path(store, "twice", steps=((1, "soft_upsell", "in_app"), (1, "soft_upsell", "in_app")))
    assert len(rows(record(event("t-1")))) == 2


# --- guards at send time --------------------------------------------------------------------------


def _dispatch_at(when: datetime) -> Any:
    with time_machine.travel(when, tick=False):
        return dispatch_due()


def test_a_transactional_only_customer_gets_nothing(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("c-1", who=customer(channels=())))
    report = _dispatch_at(T0 + timedelta(days=8))
    assert report.sent == 0 and report.skipped == 3
    assert {m.skip_reason for m in rows(order)} == {"no marketing consent on in_app"}
    assert not InAppMessage.objects.exists()


def test_auto_sends_on_a_consented_channel_only(shop: Store, record: Callable[..., Order]) -> None:
    Step.objects.filter(path__store=shop).update(channel="auto")
    order = record(event("a-1", who=customer(channels=("in_app",))))
    assert _dispatch_at(T0 + timedelta(hours=2)).sent == 1
    assert rows(order)[0].sent_channel == "in_app"


def test_auto_prefers_the_channel_with_the_best_response(shop: Store, record: Callable[..., Order]) -> None:
    assert auto.choose_channel(["sms", "email", "in_app"], auto.channel_scores(shop.pk)) == "email"  # prior
    order = record(event("a-2"))
    item = Item.objects.for_store(shop).first()
    for n in range(30):  # SMS follow-ups that were clicked every time
        ScheduledMessage.objects.create(
            store=shop,
            customer=order.customer,
            order=order,
            path=rows(order)[0].path,
            step=rows(order)[0].step,
            idempotency_key=f"old-{n}",
            channel="sms",
            sent_channel="sms",
            status=Status.SENT,
            due_at=T0,
            sent_at=T0,
        )
        impression = Impression.objects.create(store=shop, item=item, placement="sms", rank=1, score=1.0)
        Click.objects.create(impression=impression)
    scores = auto.channel_scores(shop.pk)
    assert scores["sms"] > scores["email"] > scores["in_app"] or scores["sms"] > scores["email"]
    assert auto.choose_channel(["sms", "email"], scores) == "sms"
    assert auto.choose_channel(["email"], scores) == "email"
    assert auto.choose_channel([], scores) is None


def test_frequency_cap_postpones_then_skips(shop: Store, record: Callable[..., Order], settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "FREQUENCY_CAP": 2}
    first = record(event("f-1"))
    second = record(event("f-2", at=T0 + timedelta(minutes=5)))
    report = _dispatch_at(T0 + timedelta(hours=2))
    assert report.sent == 2  # the two soft upsells
    report = _dispatch_at(T0 + timedelta(hours=25))  # two bundles due, the cap (2 per 7 days) is reached
    assert (report.sent, report.postponed) == (0, 2)
    bundle = ScheduledMessage.objects.get(order=first, step__position=2)
    # waits until the first send leaves the window, then the morning rule (10:30 is daytime in UTC)
    assert bundle.status == Status.PLANNED and bundle.due_at > T0 + timedelta(days=7, hours=1)
    assert bundle.due_at <= T0 + timedelta(days=7, hours=2, seconds=2)
    # a message already more than a window late when a slot would free up is skipped, not sent late
    Order.objects.filter(pk=first.pk).update(placed_at=T0 - timedelta(days=10))
    ScheduledMessage.objects.filter(pk=bundle.pk).update(due_at=T0 + timedelta(hours=26))
    _dispatch_at(T0 + timedelta(hours=26, seconds=1))
    bundle.refresh_from_db()
    assert bundle.status == Status.SKIPPED and bundle.skip_reason == "frequency cap"
    assert rows(second)[0].status == Status.SENT


def test_a_message_due_during_quiet_hours_waits_for_the_morning(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("q-1"))
    late = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)  # the dispatcher was down until 23:00 UTC (store tz UTC)
    report = _dispatch_at(late)
    assert report.postponed == 1
    assert rows(order)[0].due_at == datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def test_consent_withdrawn_cancels_pending_messages_at_once(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("w-1"))
    Step.objects.filter(path__store=shop, position=3).update(channel="sms")
    ScheduledMessage.objects.filter(order=order, step__position=3).update(channel="sms")
    consent_withdrawn.send(sender=None, customer=order.customer, channel="sms", source="test")
    assert [m.status for m in rows(order)] == [Status.PLANNED, Status.PLANNED, Status.CANCELLED]
    consent_withdrawn.send(sender=None, customer=order.customer, channel="all", source="unsubscribe link")
    assert {(m.status, m.skip_reason) for m in rows(order)} >= {(Status.CANCELLED, "consent withdrawn")}
    assert {m.status for m in rows(order)} == {Status.CANCELLED}


def test_an_unsubscribed_customer_is_skipped_at_send_time(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("u-2"))
    Customer.objects.filter(pk=order.customer_id).update(unsubscribed_at=T0)
    _dispatch_at(T0 + timedelta(hours=2))
    assert rows(order)[0].skip_reason == "customer unsubscribed"


def test_a_refund_cancels_the_steps_that_say_so(
    shop: Store, record: Callable[..., Order], django_capture_on_commit_callbacks: Any
) -> None:
    order = record(event("rf-1"))
    Step.objects.filter(path__store=shop, position=3).update(skip_if_refunded=False)
    refund = RefundEvent(
        store=STORE_REF,
        order_id="rf-1",
        refund_id="rf-1-a",
        occurred_at=T0 + timedelta(minutes=10),
        amount=Decimal("9.99"),
        currency="EUR",
        raw={},
    )
    with django_capture_on_commit_callbacks(execute=True):
        record_refund(refund)
    assert [(m.status, m.skip_reason) for m in rows(order)] == [
        (Status.CANCELLED, "order refunded"),
        (Status.CANCELLED, "order refunded"),
        (Status.PLANNED, ""),
    ]


def test_a_conversion_cancels_the_steps_that_say_so(shop: Store, record: Callable[..., Order]) -> None:
    Step.objects.filter(path__store=shop).update(cancel_on_conversion=True)
    first = record(event("cv-1"))
    assert _dispatch_at(T0 + timedelta(hours=2)).sent == 1
    shown = Impression.objects.for_store(shop).filter(customer=first.customer).first()
    assert shown is not None
    # the customer buys the item the follow-up recommended: attribution records a Conversion
    bought = Item.objects.get(pk=shown.item_id)
    second = record(event("cv-2", at=T0 + timedelta(hours=3), items=(bought.external_id,)))
    assert Conversion.objects.for_store(shop).filter(order=second).exists()
    assert [(m.status, m.skip_reason) for m in rows(first)][1:] == [
        (Status.CANCELLED, "customer bought a recommended item")
    ] * 2


# --- re-ranking at send time ------------------------------------------------------------------------


def test_an_item_bought_since_is_not_sent(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("rr-1"))
    planned = [entry["item"] for entry in rows(order)[0].recommendation_snapshot]
    top = Item.objects.get(pk=planned[0])
    record(event("rr-2", at=T0 + timedelta(minutes=30), items=(top.external_id,)))
    _dispatch_at(T0 + timedelta(hours=1, seconds=1))
    first = rows(order)[0]
    assert first.status == Status.SENT and top.pk not in first.sent_items and first.sent_items


def test_nothing_left_to_recommend_skips_with_a_reason(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("rr-3"))
    Item.objects.for_store(shop).exclude(order_lines__order=order).update(available=False)
    _dispatch_at(T0 + timedelta(hours=1, seconds=1))
    assert rows(order)[0].skip_reason == "nothing left to recommend"


# --- admin ----------------------------------------------------------------------------------------


def test_a_paused_path_holds_its_pending_messages_until_resumed(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("p-1"))
    Path.objects.for_store(shop).filter(name=DEFAULT_PATH_NAME).update(enabled=False)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert dispatch_due().claimed == 0
    assert [m.status for m in rows(order)] == [Status.PLANNED] * 3
    Path.objects.for_store(shop).filter(name=DEFAULT_PATH_NAME).update(enabled=True)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert (dispatch_due().sent, [m.status for m in rows(order)]) == (1, [Status.SENT, *[Status.PLANNED] * 2])


def test_an_inactive_store_sends_nothing_until_it_is_active_again(shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("ina-1"))
    Store.objects.filter(pk=shop.pk).update(is_active=False)  # an uninstalled shop, say
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert dispatch_due().claimed == 0
    assert [m.status for m in rows(order)] == [Status.PLANNED] * 3
    Store.objects.filter(pk=shop.pk).update(is_active=True)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert dispatch_due().sent == 1


def test_admin_pause_resume_and_the_customer_timeline(
    admin_client: Any, shop: Store, record: Callable[..., Order]
) -> None:
    order = record(event("adm-1", who=customer(channels=())))
    _dispatch_at(T0 + timedelta(hours=2))  # skipped: no consent
    path = Path.objects.for_store(shop).get(name=DEFAULT_PATH_NAME)
    url = "/admin/crosssell/path/"
    assert admin_client.get(url, {"enabled__exact": "1"}).status_code == 200
    assert admin_client.get(f"{url}{path.pk}/change/").status_code == 200
    admin_client.post(url, {"action": "pause", "_selected_action": [path.pk]})
    path.refresh_from_db()
    assert not path.enabled
    admin_client.post(url, {"action": "resume", "_selected_action": [path.pk]})
    path.refresh_from_db()
    assert path.enabled
    customer_page = admin_client.get(f"/admin/crosssell/customer/{order.customer_id}/change/").content.decode()
    assert f"?customer__id__exact={order.customer_id}" in customer_page and "Timeline (3 follow-ups)" in customer_page
    timeline = admin_client.get("/admin/crosssell/scheduledmessage/", {"customer__id__exact": order.customer_id})
    assert timeline.status_code == 200 and b"no marketing consent on in_app" in timeline.content
    assert admin_client.get("/admin/crosssell/scheduledmessage/", {"status__exact": "skipped"}).status_code == 200
