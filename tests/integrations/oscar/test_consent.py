"""The marketing opt-in of Oscar's checkout (integrations/oscar/consent.py), through Oscar's real
checkout: a guest who ticks it is recorded as consenting, with the source and the time, and gets
the first follow-up of the demo's path a minute later with the fast cadence; without the tick
nothing is sent."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import mail
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from oscar.core.loading import get_model

from crosssell_plugin.events import Consent, CustomerData
from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
from crosssell_plugin.ingest import upsert_customer
from crosssell_plugin.models import Customer, CustomerConsent, Order, Path, ScheduledMessage, Store
from integrations.base import get_adapter
from integrations.oscar.consent import FIELD, SESSION_KEY, consent_given, note_consent

pytestmark = pytest.mark.django_db

OscarOrder = get_model("order", "Order")
GUEST = "agnes@example.com"
FIRST_SUBJECT = "Picked for you after your order"  # the classic path's first step


@pytest.fixture
def shop(catalogue: Any, settings: Any) -> tuple[Store, list[Any]]:
    """The demo's follow-up set-up: the fast cadence at any hour, the classic path on, a few films
    synced as items (something to recommend)."""
    settings.CROSSSELL = {**settings.CROSSSELL, "FAST_CADENCE": True, "QUIET_HOURS": None}
    films = [
        catalogue.product("film", title, upc=f"FILM-{n}", price="7.50", director="Agnès Varda")
        for n, title in enumerate(("Cléo from 5 to 7", "The Gleaners and I", "Vagabond", "Le Bonheur"))
    ]
    store = get_adapter("oscar").store()
    call_command("crosssell_oscar_sync", "--catalog", stdout=StringIO())
    Path.objects.for_store(store).filter(name=DEFAULT_PATH_NAME).update(enabled=True)  # as seed_demo does
    return store, films


def buy(checkout: Any, film: Any, capture: Any, **fields: str) -> Any:
    """A guest's checkout of ``film``, the preview page's form posted with ``fields``."""
    checkout.add_to_basket(film)
    checkout.start_as_guest(GUEST)
    checkout.choose_method_and_pay()
    with capture(execute=True):
        response = checkout.place_order(**fields)
    assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you")
    return OscarOrder.objects.get()


def followups_to(email: str) -> list[Any]:
    return [m for m in mail.outbox if m.to == [email] and m.subject == FIRST_SUBJECT]


def dispatch_at(when: Any) -> str:
    out = StringIO()
    with time_machine.travel(when, tick=False):
        call_command("crosssell_dispatch", stdout=out)  # what the demo's dispatcher runs
    return out.getvalue()


def test_the_preview_page_offers_an_unticked_opt_in_box_in_the_place_order_form(
    shop: Any, checkout: Any, client: Any
) -> None:
    _store, films = shop
    checkout.add_to_basket(films[0])
    checkout.start_as_guest(GUEST)
    checkout.choose_method_and_pay()

    html = client.get(reverse("checkout:preview")).content.decode()

    box = html[html.index(f'name="{FIELD}"') - 80 : html.index(f'name="{FIELD}"') + 120]
    assert 'type="checkbox"' in box and 'form="place_order_form"' in box and "checked" not in box
    assert 'id="place_order_form"' in html  # the form the box belongs to
    assert "Email me recommendations and offers from Reel &amp; Learn." in html


def test_a_guest_who_ticks_the_opt_in_gets_the_first_followup_a_minute_later(
    shop: Any, checkout: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    store, films = shop
    before = timezone.now()

    oscar_order = buy(checkout, films[0], django_capture_on_commit_callbacks, **{FIELD: "on"})

    customer = Customer.objects.for_store(store).get(email=GUEST)
    consent = CustomerConsent.objects.get(customer=customer)
    assert (consent.channel, consent.granted) == ("email", True)
    assert consent.source == f"oscar checkout, order {oscar_order.number}"
    assert before <= consent.recorded_at <= timezone.now()
    assert customer.has_marketing_consent("email")
    order = Order.objects.for_store(store).get(external_id=oscar_order.number)
    planned = list(ScheduledMessage.objects.for_store(store).filter(order=order).order_by("due_at"))
    # the fast cadence: the classic 1 hour, 24 hours and 7 days in minutes
    assert [m.due_at - order.placed_at for m in planned] == [timedelta(minutes=m) for m in (1, 24, 168)]

    dispatch_at(order.placed_at + timedelta(seconds=59))
    assert followups_to(GUEST) == []

    dispatch_at(order.placed_at + timedelta(minutes=1, seconds=1))
    [email] = followups_to(GUEST)
    text = email.body
    assert "http://127.0.0.1:8000/crosssell/r/" in text  # tracked links to the demo's address
    assert any(film.title in text for film in films[1:])
    assert email.extra_headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/crosssell/u/")
    first = ScheduledMessage.objects.get(pk=planned[0].pk)
    assert (first.status, first.sent_channel) == (ScheduledMessage.Status.SENT, "email")
    assert [ScheduledMessage.objects.get(pk=m.pk).status for m in planned[1:]] == ["planned", "planned"]


def test_without_the_tick_nothing_is_recorded_and_nothing_is_sent(
    shop: Any, checkout: Any, django_capture_on_commit_callbacks: Any
) -> None:
    store, films = shop

    oscar_order = buy(checkout, films[0], django_capture_on_commit_callbacks)

    customer = Customer.objects.for_store(store).get(email=GUEST)
    assert not CustomerConsent.objects.filter(customer=customer).exists()
    order = Order.objects.for_store(store).get(external_id=oscar_order.number)
    dispatch_at(order.placed_at + timedelta(minutes=1, seconds=1))
    assert followups_to(GUEST) == []
    first = ScheduledMessage.objects.for_store(store).filter(order=order).order_by("due_at").first()
    assert (first.status, first.skip_reason) == (ScheduledMessage.Status.SKIPPED, "no marketing consent on email")
    assert not [m for m in mail.outbox if m.to == [GUEST] and "order" not in m.subject.lower()]


def test_an_unticked_box_leaves_an_earlier_consent_as_it_was(
    shop: Any, checkout: Any, django_capture_on_commit_callbacks: Any
) -> None:
    store, films = shop
    earlier = timezone.now() - timedelta(days=3)
    upsert_customer(store, CustomerData(GUEST, consents=(Consent("email", True, "newsletter form", earlier),)))

    buy(checkout, films[0], django_capture_on_commit_callbacks)

    consent = CustomerConsent.objects.get(customer__email=GUEST)
    assert (consent.granted, consent.source, consent.recorded_at) == (True, "newsletter form", earlier)


def test_a_consent_noted_on_an_earlier_page_is_recorded_with_the_order(
    shop: Any, checkout: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The hook for a box on another checkout page: note_consent keeps the answer in the session."""
    _store, films = shop
    checkout.add_to_basket(films[0])
    checkout.start_as_guest(GUEST)
    checkout.choose_method_and_pay()
    request = RequestFactory().post("/checkout/shipping-address/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.session = client.session  # the shopper's own session
    note_consent(request, granted=True)
    request.session.save()
    noted = consent_given(request)
    assert noted is not None

    with django_capture_on_commit_callbacks(execute=True):
        assert checkout.place_order().status_code == 302  # no box on this page

    consent = CustomerConsent.objects.get(customer__email=GUEST)
    assert consent.granted and consent.recorded_at == noted
    assert SESSION_KEY not in client.session  # used once


def test_a_logged_in_customer_who_ticks_the_box_consents_under_their_account_email(
    shop: Any, checkout: Any, client: Any, shopper: Any, django_capture_on_commit_callbacks: Any
) -> None:
    store, films = shop
    client.force_login(shopper)
    checkout.add_to_basket(films[1])
    checkout.start_logged_in()
    checkout.choose_method_and_pay()
    with django_capture_on_commit_callbacks(execute=True):
        assert checkout.place_order(**{FIELD: "on"}).status_code == 302

    customer = Customer.objects.for_store(store).get(email=shopper.email)
    assert customer.has_marketing_consent("email") and customer.external_id == str(shopper.pk)
