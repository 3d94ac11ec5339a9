"""The admin of experiments and of what a customer went through: experiments with their arms,
started and stopped from the list (one running per layer), the store's holdout that cannot be
deleted or turned into something else, read-only assignments; a customer's timeline (orders,
refunds, impressions, clicks, follow-ups, conversions, arms) in time order, from their store only,
in a bounded number of queries; conversions listed with their amount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crosssell_plugin.admin.customers import customer_timeline
from crosssell_plugin.models import (
    HOLDOUT_LAYER,
    Arm,
    Assignment,
    Click,
    Conversion,
    Customer,
    Experiment,
    Impression,
    Item,
    Order,
    Path,
    Refund,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.money import format_price

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _experiment(store: Store, name: str = "Button test", *, layer: str = "default", **kwargs: Any) -> Experiment:
    experiment = Experiment.objects.create(store=store, name=name, layer=layer, **kwargs)
    Arm.objects.create(experiment=experiment, name="A", weight=Decimal(1))
    Arm.objects.create(experiment=experiment, name="B", weight=Decimal(1), share=Decimal("0.2345"))
    return experiment


def _holdout(store: Store) -> Experiment:
    experiment = Experiment.objects.create(
        store=store, name="Holdout", kind=Experiment.Kind.HOLDOUT, layer=HOLDOUT_LAYER, status="running"
    )
    Arm.objects.create(experiment=experiment, name="holdout", weight=Decimal("0.1"), holdout=True)
    Arm.objects.create(experiment=experiment, name="treatment", weight=Decimal("0.9"))
    return experiment


def _customer(store: Store, email: str = "ann@example.com") -> Customer:
    return Customer.objects.create(store=store, email=email, first_name="Ann")


def _assign(experiment: Experiment, arm_name: str, customer: Customer, at: datetime = T0) -> Assignment:
    arm = experiment.arms.get(name=arm_name)
    return Assignment.objects.create(
        store=experiment.store, experiment=experiment, arm=arm, customer=customer, assigned_at=at
    )


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _action(admin_client: Any, action: str, *experiments: Experiment, **extra: Any) -> Any:
    url = reverse("admin:crosssell_experiment_changelist")
    data = {"action": action, "_selected_action": [str(e.pk) for e in experiments], **extra}
    return admin_client.post(url, data, follow=True)


# --- experiments and arms --------------------------------------------------------------------------


def test_experiment_pages_load_and_the_list_counts_customers_per_arm(admin_client: Any, store: Store) -> None:
    experiment = _experiment(store)
    ann, bob, cy = (_customer(store, f"{n}@example.com") for n in ("ann", "bob", "cy"))
    _assign(experiment, "A", ann)
    _assign(experiment, "A", bob)
    _assign(experiment, "B", cy)

    changelist = reverse("admin:crosssell_experiment_changelist")
    page = admin_client.get(changelist, {"store__id__exact": store.pk, "q": "Button"})
    assert page.status_code == 200
    assert "A: 2, B: 1" in page.content.decode()
    assert admin_client.get(changelist, {"status__exact": "draft", "kind__exact": "split"}).status_code == 200
    assert admin_client.get(reverse("admin:crosssell_experiment_add")).status_code == 200

    change = admin_client.get(reverse("admin:crosssell_experiment_change", args=[experiment.pk]))
    body = change.content.decode()
    assert change.status_code == 200
    assert "23.4 %" in body and "by weight" in body  # B's bandit share, A by weight
    assert experiment.salt in body and 'name="salt"' not in body  # shown, never editable
    assert 'name="arms-0-weight"' in body and 'name="arms-0-share"' not in body


def _add_data(store: Store, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "store": store.pk,
        "name": "Subject lines",
        "kind": "split",
        "layer": "copy",
        "metric": "conversion",
        "exploration_floor": "0.05",
        "window_days": "30",
        "arms-TOTAL_FORMS": "2",
        "arms-INITIAL_FORMS": "0",
        "arms-MIN_NUM_FORMS": "0",
        "arms-MAX_NUM_FORMS": "1000",
    }
    for n, name in enumerate(["short", "long"]):
        data.update(
            {
                f"arms-{n}-name": name,
                f"arms-{n}-weight": "1",
                f"arms-{n}-strategy": "model",
                f"arms-{n}-channel": "",
                f"arms-{n}-delay_scale": "1",
                f"arms-{n}-offers": "on",
                f"arms-{n}-copy_variant": "",
            }
        )
    data.update(overrides)
    return data


def test_an_experiment_is_added_with_its_arms_as_a_draft(admin_client: Any, store: Store) -> None:
    response = admin_client.post(reverse("admin:crosssell_experiment_add"), _add_data(store))
    assert response.status_code == 302, response.context["adminform"].form.errors
    experiment = Experiment.objects.for_store(store).get(name="Subject lines")
    assert experiment.status == "draft" and len(experiment.salt) == 32
    assert list(experiment.arms.values_list("name", flat=True)) == ["short", "long"]


def test_the_models_checks_are_form_errors(admin_client: Any, store: Store) -> None:
    url = reverse("admin:crosssell_experiment_add")
    wrong_layer = admin_client.post(url, _add_data(store, kind="holdout", layer="copy"))
    assert wrong_layer.status_code == 200
    assert "A holdout runs on the layer" in " ".join(wrong_layer.context["adminform"].form.errors["layer"])
    taken = admin_client.post(url, _add_data(store, layer=HOLDOUT_LAYER))
    assert "is the store's holdout's" in " ".join(taken.context["adminform"].form.errors["layer"])
    _holdout(store)
    second = admin_client.post(url, _add_data(store, kind="holdout", layer=HOLDOUT_LAYER))
    assert "already has its holdout experiment" in " ".join(second.context["adminform"].form.errors["kind"])
    negative = admin_client.post(url, _add_data(store, **{"arms-1-weight": "-1"}))
    assert negative.status_code == 200 and not Experiment.objects.filter(name="Subject lines").exists()


def test_start_and_stop_one_running_experiment_per_layer(admin_client: Any, store: Store) -> None:
    first, second = _experiment(store, "First"), _experiment(store, "Second")
    other_layer = _experiment(store, "Elsewhere", layer="cadence")

    started = _action(admin_client, "start", first)
    first.refresh_from_db()
    assert first.status == "running" and first.started_at is not None
    assert "Started “First”." in _messages(started)

    refused = _action(admin_client, "start", second)
    second.refresh_from_db()
    assert second.status == "draft"
    assert any("“First” is already running on the layer “default”" in m for m in _messages(refused))

    _action(admin_client, "start", other_layer)  # another layer: independent
    other_layer.refresh_from_db()
    assert other_layer.status == "running"

    stopped = _action(admin_client, "stop", first, second)
    first.refresh_from_db()
    assert first.status == "stopped" and first.stopped_at is not None
    assert any(m.startswith("Stopped First") for m in _messages(stopped))
    assert "Not running, so not stopped: Second." in _messages(stopped)

    again = _action(admin_client, "start", first)
    first.refresh_from_db()
    assert first.status == "stopped" and any("does not start again" in m for m in _messages(again))
    _action(admin_client, "start", second)  # the layer is free now
    second.refresh_from_db()
    assert second.status == "running"


def test_an_experiment_without_weight_does_not_start(admin_client: Any, store: Store) -> None:
    empty = Experiment.objects.create(store=store, name="Empty")
    response = _action(admin_client, "start", empty)
    empty.refresh_from_db()
    assert empty.status == "draft" and any("no arm with a positive weight" in m for m in _messages(response))


def test_the_stores_holdout_cannot_be_deleted_nor_its_kind_or_layer_changed(admin_client: Any, store: Store) -> None:
    holdout = _holdout(store)
    other = _experiment(store)
    assert admin_client.get(reverse("admin:crosssell_experiment_delete", args=[holdout.pk])).status_code == 403
    assert admin_client.post(reverse("admin:crosssell_experiment_delete", args=[holdout.pk])).status_code == 403

    refused = _action(admin_client, "delete_selected", holdout, other, post="yes")
    assert Experiment.objects.filter(pk__in=[holdout.pk, other.pk]).count() == 2
    assert any("Nothing deleted" in m and "Holdout" in m for m in _messages(refused))
    _action(admin_client, "delete_selected", other, post="yes")  # any other experiment may go
    assert not Experiment.objects.filter(pk=other.pk).exists()

    url = reverse("admin:crosssell_experiment_change", args=[holdout.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="kind"' not in page and 'name="layer"' not in page and 'name="name"' in page
    arms = list(holdout.arms.order_by("pk"))
    data = {
        "name": "Holdout (10 %)",
        "kind": "split",
        "layer": "default",
        "metric": "conversion",
        "exploration_floor": "0.05",
        "window_days": "30",
        "arms-TOTAL_FORMS": "2",
        "arms-INITIAL_FORMS": "2",
        "arms-MIN_NUM_FORMS": "0",
        "arms-MAX_NUM_FORMS": "1000",
    }
    for n, arm in enumerate(arms):
        data.update(
            {
                f"arms-{n}-id": str(arm.pk),
                f"arms-{n}-experiment": str(holdout.pk),
                f"arms-{n}-name": arm.name,
                f"arms-{n}-weight": str(arm.weight),
                f"arms-{n}-strategy": "model",
                f"arms-{n}-delay_scale": "1",
                f"arms-{n}-offers": "on",
                **({f"arms-{n}-holdout": "on"} if arm.holdout else {}),
            }
        )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    holdout.refresh_from_db()
    assert (holdout.name, holdout.kind, holdout.layer) == ("Holdout (10 %)", "holdout", HOLDOUT_LAYER)

    # an arm with customers assigned is not deleted with the inline
    _assign(holdout, "holdout", _customer(store))
    response = admin_client.post(url, {**data, "arms-0-DELETE": "on"})
    assert response.status_code == 200 and holdout.arms.count() == 2
    assert "has 1 customer(s) assigned" in response.content.decode()


# --- assignments ------------------------------------------------------------------------------------


def test_assignments_are_read_only_filtered_by_experiment_and_arm_and_searched_by_customer(
    admin_client: Any, store: Store
) -> None:
    experiment, holdout = _experiment(store), _holdout(store)
    ann, bob = _customer(store, "ann@example.com"), _customer(store, "bob@example.com")
    row = _assign(experiment, "A", ann)
    _assign(experiment, "B", bob)
    _assign(holdout, "treatment", ann)
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    _assign(_holdout(other), "holdout", _customer(other, "zed@example.com"))

    url = reverse("admin:crosssell_assignment_changelist")
    assert admin_client.get(url).context["cl"].result_count == 4
    by_experiment = admin_client.get(url, {"experiment__id__exact": experiment.pk})
    assert by_experiment.context["cl"].result_count == 2
    by_arm = admin_client.get(url, {"arm__id__exact": experiment.arms.get(name="B").pk})
    assert [a.customer.email for a in by_arm.context["cl"].result_list] == ["bob@example.com"]
    assert admin_client.get(url, {"q": "ann@example"}).context["cl"].result_count == 2
    scoped = admin_client.get(url, {"store__id__exact": store.pk}).content.decode()
    assert "Test store: Holdout" in scoped and "Other: Holdout" not in scoped  # the filter's choices

    assert admin_client.get(reverse("admin:crosssell_assignment_change", args=[row.pk])).status_code == 200
    assert admin_client.get(reverse("admin:crosssell_assignment_add")).status_code == 403
    change = reverse("admin:crosssell_assignment_change", args=[row.pk])
    assert admin_client.post(change, {"arm": experiment.arms.get(name="B").pk}).status_code == 403
    assert admin_client.post(reverse("admin:crosssell_assignment_delete", args=[row.pk])).status_code == 403
    row.refresh_from_db()
    assert row.arm.name == "A"


# --- the customer's timeline and conversions ----------------------------------------------------


def _item(store: Store, external_id: str, title: str) -> Item:
    return Item.objects.create(
        store=store, external_id=external_id, kind="film", title=title, price=Decimal("9.99"), currency="EUR"
    )


def _order(store: Store, customer: Customer, external_id: str, at: datetime, total: str) -> Order:
    return Order.objects.create(
        store=store,
        customer=customer,
        external_id=external_id,
        placed_at=at,
        currency="EUR",
        total=Decimal(total),
        lines_fingerprint=external_id,
    )


@pytest.fixture
def history(store: Store) -> dict[str, Any]:
    """Ann's story: bought, was shown a film, got a follow-up, clicked, bought it, refunded part."""
    ann = _customer(store)
    holdout = _holdout(store)
    assigned = _assign(holdout, "treatment", ann, at=T0)
    first = _order(store, ann, "1001", T0, "25.00")
    film = _item(store, "film-2", "Cléo de 5 à 7")
    path = Path.objects.create(store=store, name="After a film")
    step = Step.objects.create(path=path, position=1, name="Bundle", delay=timedelta(hours=24), template="bundle")
    message = ScheduledMessage.objects.create(
        store=store,
        customer=ann,
        order=first,
        path=path,
        step=step,
        idempotency_key="k-1",
        channel="email",
        sent_channel="email",
        due_at=T0 + timedelta(hours=24),
        sent_at=T0 + timedelta(hours=24, minutes=1),
        status="sent",
    )
    skipped = ScheduledMessage.objects.create(
        store=store,
        customer=ann,
        order=first,
        path=path,
        step=Step.objects.create(path=path, position=2, name="Loyalty", delay=timedelta(days=7), template="loyalty"),
        idempotency_key="k-2",
        channel="sms",
        due_at=T0 + timedelta(days=7),
        status="skipped",
        skip_reason="no SMS consent",
    )
    shown = Impression.objects.create(
        store=store,
        customer=ann,
        order=first,
        item=film,
        placement="email",
        rank=1,
        score=0.9,
        variant="short",
        message=message,
        created_at=T0 + timedelta(hours=24, minutes=1),
    )
    Click.objects.create(impression=shown, created_at=T0 + timedelta(hours=30))
    second = _order(store, ann, "1002", T0 + timedelta(days=2), "9.99")
    second.refunded_total, second.status = Decimal("4.00"), "partially_refunded"
    second.save()
    conversion = Conversion.objects.create(
        impression=shown,
        order=second,
        item=film,
        amount=Decimal("9.99"),
        currency="EUR",
        created_at=T0 + timedelta(days=2),
    )
    Refund.objects.create(
        store=store, order=second, external_id="r-1", amount=Decimal("4.00"), currency="EUR",
        occurred_at=T0 + timedelta(days=3), reason="damaged",
    )  # fmt: skip
    return {"ann": ann, "assigned": assigned, "skipped": skipped, "conversion": conversion, "first": first}


def test_the_timeline_lists_everything_in_time_order(history: dict[str, Any]) -> None:
    timeline = customer_timeline(history["ann"])
    kinds = [e.kind for e in timeline.events]
    assert kinds == [
        "order",
        "assignment",  # at the first purchase
        "message",
        "impression",  # shown in the message, the same minute
        "click",
        "order",
        "conversion",
        "refund",
        "message",  # the skipped SMS, due after a week
    ]
    assert [e.at for e in timeline.events] == sorted(e.at for e in timeline.events)
    assert not timeline.truncated and [a.arm.name for a in timeline.assignments] == ["treatment"]
    details = {e.kind: e.details for e in timeline.events}
    assert format_price(Decimal("25.00"), "EUR") in timeline.events[0].details
    assert "refunded " + format_price(Decimal("4.00"), "EUR") in timeline.events[5].details
    assert "Cléo de 5 à 7 at email (#1), variant short, in the follow-up “Bundle”" in details["impression"]
    assert "Cléo de 5 à 7 for " + format_price(Decimal("9.99"), "EUR") in details["conversion"]
    assert "damaged" in details["refund"]
    assert "Step 2 “Loyalty”" in timeline.events[-1].details and "skipped" in timeline.events[-1].details
    assert "no SMS consent" in timeline.events[-1].details
    assert "sent 2026-11-04 12:01 UTC" in timeline.events[2].details


def test_the_customer_page_shows_the_timeline_in_a_few_queries(
    admin_client: Any, history: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    ann = history["ann"]
    url = reverse("admin:crosssell_customer_change", args=[ann.pk])
    with django_assert_max_num_queries(25):
        response = admin_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="crosssell-timeline"' in body
    assert "Order #1001" in body and "Bought a recommendation" in body and "no SMS consent" in body
    assert "Holdout: arm <strong>treatment</strong>" in body
    assert reverse("admin:crosssell_conversion_change", args=[history["conversion"].pk]) in body

    # ten times the events: the same number of queries (none per event)
    film = Item.objects.for_store(ann.store_id).get(external_id="film-2")
    for n in range(30):
        shown = Impression.objects.create(
            store=ann.store, customer=ann, item=film, placement="thank_you", rank=n + 1, score=0.5,
            created_at=T0 + timedelta(days=10, minutes=n),
        )  # fmt: skip
        Click.objects.create(impression=shown, created_at=T0 + timedelta(days=10, minutes=n, seconds=5))
    with django_assert_max_num_queries(25):
        assert admin_client.get(url).status_code == 200


def test_the_timeline_keeps_the_most_recent_events_and_says_so(history: dict[str, Any], admin_client: Any) -> None:
    timeline = customer_timeline(history["ann"], limit=4)
    assert timeline.truncated and len(timeline.events) == 4
    assert [e.kind for e in timeline.events] == ["order", "conversion", "refund", "message"]
    page = admin_client.get(reverse("admin:crosssell_customer_change", args=[history["ann"].pk]))
    assert "most recent events are shown" not in page.content.decode()  # 9 events: under the limit


def test_the_timeline_is_the_customers_store_only(history: dict[str, Any], admin_client: Any) -> None:
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    namesake = _customer(other, "ann@example.com")
    _order(other, namesake, "9999", T0, "500.00")
    _assign(_holdout(other), "holdout", namesake)
    ours = admin_client.get(reverse("admin:crosssell_customer_change", args=[history["ann"].pk])).content.decode()
    assert "Order #9999" not in ours and "arm <strong>holdout</strong>" not in ours
    theirs = customer_timeline(namesake)
    assert [e.kind for e in theirs.events] == ["order", "assignment"]
    assert (
        "Order #1001"
        not in admin_client.get(reverse("admin:crosssell_customer_change", args=[namesake.pk])).content.decode()
    )


def test_conversions_are_listed_with_their_amount_and_order(admin_client: Any, history: dict[str, Any]) -> None:
    conversion = history["conversion"]
    Conversion.objects.filter(pk=conversion.pk).update(amount=Decimal("1234.50"))
    page = admin_client.get(reverse("admin:crosssell_conversion_changelist"))
    body = page.content.decode()
    assert page.status_code == 200
    assert format_price(Decimal("1234.50"), "EUR") in body and "Order 1002" in body
    sorted_page = admin_client.get(reverse("admin:crosssell_conversion_changelist"), {"o": "3"})
    assert sorted_page.status_code == 200
    detail = admin_client.get(reverse("admin:crosssell_conversion_change", args=[conversion.pk])).content.decode()
    assert format_price(Decimal("1234.50"), "EUR") in detail
