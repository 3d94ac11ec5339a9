"""Real Oscar checkouts through Django's test client, recorded by crosssell (or not, but never breaking)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from typing import Any

import kombu.exceptions
import pytest
from django.core.management import call_command
from django.urls import reverse
from oscar.core.loading import get_model

from crosssell_plugin.models import Customer, Order
from crosssell_plugin.signals import purchase_recorded
from integrations.base import get_adapter
from integrations.oscar.tasks import record_oscar_order
from tests.conftest import celery_configured

OscarOrder = get_model("order", "Order")
Basket = get_model("basket", "Basket")

pytestmark = pytest.mark.django_db

GUEST = "agnes@example.com"


@pytest.fixture
def recorded() -> Iterator[list[dict[str, Any]]]:
    """Every purchase_recorded signal sent during the test, through a real connected receiver."""
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append({"sender": sender, **kwargs})

    purchase_recorded.connect(receiver, dispatch_uid="test-oscar-checkout-recorded")
    try:
        yield calls
    finally:
        purchase_recorded.disconnect(dispatch_uid="test-oscar-checkout-recorded")


def guest_checkout(checkout: Any, product: Any, captured: Any, quantity: int = 1) -> Any:
    """A guest buys ``product``; returns the Oscar order. ``captured`` runs the on_commit callbacks."""
    checkout.add_to_basket(product, quantity)
    checkout.start_as_guest(GUEST)
    checkout.choose_method_and_pay()
    with captured(execute=True):
        response = checkout.place_order()
    assert response.status_code == 302, response.content[:4000]
    assert response["Location"] == reverse("checkout:thank-you")
    assert checkout.client.get(response["Location"]).status_code == 200
    return OscarOrder.objects.get()


def test_guest_checkout_of_a_digital_film_is_recorded_once(
    catalogue: Any, checkout: Any, recorded: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    film = catalogue.product("film", "Cléo from 5 to 7", upc="FILM-CLEO", price="7.50", director="Agnès Varda")

    oscar_order = guest_checkout(checkout, film, django_capture_on_commit_callbacks, quantity=2)

    assert oscar_order.user is None
    assert oscar_order.guest_email == GUEST
    assert oscar_order.shipping_address is None
    order = Order.objects.get()
    assert order.external_id == oscar_order.number
    assert (order.store.platform, order.store.external_id) == ("oscar", "default")
    assert order.customer.email == GUEST
    assert order.customer.external_id == ""
    assert order.currency == "EUR"
    assert order.total == Decimal("15.00")
    lines = list(order.lines.select_related("item"))
    assert [(line.item.external_id, line.quantity, line.unit_price) for line in lines] == [
        (str(film.pk), 2, Decimal("7.50"))
    ]
    assert isinstance(lines[0].unit_price, Decimal)
    assert lines[0].item.currency == "EUR"
    assert lines[0].item.kind == "film"
    assert lines[0].item.people == {"director": ["Agnès Varda"]}
    assert len(recorded) == 1
    assert recorded[0]["order"].pk == order.pk
    assert recorded[0]["event"].order_id == oscar_order.number


def test_logged_in_checkout_of_merch_records_the_user_and_shipping_country(
    catalogue: Any,
    checkout: Any,
    shipping_country: Any,
    shopper: Any,
    client: Any,
    recorded: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    shirt = catalogue.product("merch", "Cléo T-shirt", upc="MERCH-CLEO", price="25.00", stock=10, tags="cotton")
    client.force_login(shopper)

    checkout.add_to_basket(shirt)
    checkout.start_logged_in()
    checkout.ship_to(first_name="Claire", last_name="Denis", line1="12 rue de Rivoli", line4="Paris", postcode="75001")
    checkout.choose_method_and_pay()
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout.place_order()
    assert response.status_code == 302, response.content[:4000]
    assert client.get(response["Location"]).status_code == 200

    oscar_order = OscarOrder.objects.get()
    assert oscar_order.user == shopper
    assert oscar_order.shipping_address.country_id == "FR"
    order = Order.objects.get(external_id=oscar_order.number)
    customer = order.customer
    assert customer.email == shopper.email
    assert customer.external_id == str(shopper.pk)
    assert customer.country == "FR"
    assert (customer.first_name, customer.last_name) == ("Claire", "Denis")
    line = order.lines.get()
    assert (line.item.external_id, line.item.kind, line.quantity, line.unit_price) == (
        str(shirt.pk),
        "merch",
        1,
        Decimal("25.00"),
    )
    assert len(recorded) == 1


def _oscar_log_errors(caplog: Any) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and (r.name == "integrations.oscar" or r.name.startswith("integrations.oscar."))
    ]


def test_a_failing_recording_never_breaks_checkout_and_the_sync_recovers_it(
    catalogue: Any,
    checkout: Any,
    settings: Any,
    caplog: Any,
    recorded: list[dict[str, Any]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    original = settings.CROSSSELL
    assert "oscar" in original["PLATFORMS"]
    settings.CROSSSELL = {"MAX_EVENT_BYTES": 1024, "PLATFORMS": original["PLATFORMS"]}
    film = catalogue.product("film", "Sans toit ni loi", upc="FILM-VAGABOND", price="8.00", description="Long. " * 400)
    caplog.set_level(logging.INFO)

    oscar_order = guest_checkout(checkout, film, django_capture_on_commit_callbacks)

    basket = Basket._default_manager.get(pk=oscar_order.basket_id)
    assert basket.status == Basket.SUBMITTED
    assert not Order.objects.exists()
    assert recorded == []
    errors = _oscar_log_errors(caplog)
    assert len(errors) == 1
    assert oscar_order.number in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert type(errors[0].exc_info[1]).__name__ == "PayloadTooLarge"

    # Nothing is lost: once the limit is back, the backfill records the order.
    settings.CROSSSELL = original
    out = StringIO()
    call_command("crosssell_oscar_sync", "--orders", stdout=out, stderr=StringIO())
    assert "1 recorded" in out.getvalue()
    order = Order.objects.get(external_id=oscar_order.number)
    assert order.customer.email == GUEST
    assert [(line.item.external_id, line.quantity, line.unit_price) for line in order.lines.all()] == [
        (str(film.pk), 1, Decimal("8.00"))
    ]


@pytest.fixture
def unreachable_broker() -> Iterator[Any]:
    """Tasks go to a Redis broker on port 1, where nothing listens, with every retry turned off."""
    with celery_configured(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:1/0",
        broker_connection_retry=False,
        broker_connection_timeout=1,
        broker_transport_options={"max_retries": 0},
        # Without this, publishing retries 3 times (about 1 s in all) before giving up.
        task_publish_retry=False,
    ) as app:
        yield app


def test_an_unreachable_broker_never_breaks_checkout(
    catalogue: Any,
    checkout: Any,
    unreachable_broker: Any,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    film = catalogue.product("film", "Le Bonheur", upc="FILM-BONHEUR", price="6.00")
    get_adapter("oscar").store()  # the shop's Store exists, as after its first sync

    oscar_order = guest_checkout(checkout, film, django_capture_on_commit_callbacks)

    assert Basket._default_manager.get(pk=oscar_order.basket_id).status == Basket.SUBMITTED
    # the recording task could not be queued, so the checkout's request recorded the order itself
    # (crosssell_plugin.queueing): nothing is lost while the broker is down, and nothing failed
    assert Order.objects.get().external_id == oscar_order.number
    assert _oscar_log_errors(caplog) == []
    [warning] = [
        r.getMessage()
        for r in caplog.records
        if r.name == "crosssell_plugin.queueing" and "crosssell.oscar.record_order" in r.getMessage()
    ]
    assert f"({oscar_order.pk}) (the broker: {kombu.exceptions.OperationalError.__name__}: " in warning
    assert "127.0.0.1:1" in warning and warning.endswith("running it here")


def test_the_same_order_delivered_twice_is_recorded_once(
    catalogue: Any, checkout: Any, recorded: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    film = catalogue.product("film", "Daguerréotypes", upc="FILM-DAGUERRE", price="5.00")
    oscar_order = guest_checkout(checkout, film, django_capture_on_commit_callbacks)
    assert len(recorded) == 1
    first = Order.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        state = record_oscar_order(oscar_order.pk)

    assert state == "unchanged"
    assert Order.objects.get().pk == first.pk
    assert Order.objects.get().revision == 1
    assert Customer.objects.count() == 1
    assert len(recorded) == 1


def test_the_backfill_skips_an_order_it_cannot_record_and_records_the_ones_after_it(
    catalogue: Any, checkout: Any, shopper: Any, client: Any
) -> None:
    """A customer who deleted their account leaves orders without an email; later orders must still arrive."""
    film = catalogue.product("film", "Ulysse", upc="FILM-ULYSSE", price="3.00")
    # Neither checkout runs its on_commit callbacks: crosssell misses both orders, as when a worker is down.
    client.force_login(shopper)
    checkout.add_to_basket(film)
    checkout.start_logged_in()
    checkout.choose_method_and_pay()
    assert checkout.place_order().status_code == 302
    orphaned = OscarOrder.objects.get()
    client.logout()
    shopper.delete()  # Oscar keeps the order with user=None and no guest email
    orphaned.refresh_from_db()
    assert (orphaned.user, orphaned.email) == (None, "")
    checkout.add_to_basket(film)
    checkout.start_as_guest(GUEST)
    checkout.choose_method_and_pay()
    assert checkout.place_order().status_code == 302
    later = OscarOrder.objects.exclude(pk=orphaned.pk).get()
    assert later.date_placed >= orphaned.date_placed

    out, err = StringIO(), StringIO()
    call_command("crosssell_oscar_sync", "--orders", stdout=out, stderr=err)

    assert list(Order.objects.values_list("external_id", flat=True)) == [later.number]
    assert "1 recorded, 0 updated, 0 unchanged, 1 failed" in out.getvalue()
    assert f"order {orphaned.number}: customer.email" in err.getvalue()
