"""``{% crosssell_stripe_block %}``: the block of a Checkout Session's order on the success page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import responses
from django.template import Context, Template
from django.test import RequestFactory

from crosssell_plugin.events import CustomerData, PurchaseLine, StoreRef
from crosssell_plugin.models import Order, Store
from crosssell_plugin.shoppers import SESSION_ORDERS

from ...conftest import catalog_item, purchase_event
from .conftest import SESSION_ID, make_store

TAG = "{% load crosssell_stripe %}{% crosssell_stripe_block session_id %}"


def render(session_id: Any, request: Any = None, template: str = TAG) -> str:
    return Template(template).render(Context({"session_id": session_id, "request": request}))


@pytest.fixture
def seeded(stripe_store: Store, record: Any) -> Store:
    """Other customers' orders in the merchant's store (the block recommends from them)."""
    ref = StoreRef("stripe", stripe_store.external_id)
    for n in range(3):
        record(purchase_event(f"cs_test_seedorder{n:04d}", store=ref, customer=CustomerData(email=f"s{n}@example.com")))
    return stripe_store


def test_a_session_the_webhook_has_not_delivered_yet_is_read_from_stripe_and_recorded(
    seeded: Store, stripe_api: responses.RequestsMock, isolated_models: None, django_capture_on_commit_callbacks: Any
) -> None:
    request = RequestFactory().get("/thanks")
    request.session = {}
    with django_capture_on_commit_callbacks(execute=True):
        page = render(SESSION_ID, request)
    order = Order.objects.for_store(seeded).get(external_id=SESSION_ID)
    assert order.customer.email == "agnes@example.com"
    assert 'class="crosssell-block"' in page
    assert request.session[SESSION_ORDERS] == [SESSION_ID]  # this browser may ask the API about it


def test_a_recorded_session_needs_no_stripe_call(seeded: Store, record: Any, isolated_models: None) -> None:
    ref = StoreRef("stripe", seeded.external_id)
    lines = (PurchaseLine(catalog_item("prod_bought"), 1, Decimal("9.99")),)
    record(purchase_event(SESSION_ID, store=ref, lines=lines, customer=CustomerData(email="agnes@example.com")))
    with responses.RequestsMock() as rsps:  # no Stripe answer registered
        page = render(SESSION_ID)
        assert len(rsps.calls) == 0
    assert 'class="crosssell-block"' in page


def test_stripe_down_renders_nothing_and_breaks_nothing(seeded: Store, caplog: pytest.LogCaptureFixture) -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"https://api.stripe.com/v1/checkout/sessions/{SESSION_ID}", status=500, json={"error": {}})
        assert render(SESSION_ID) == ""
    assert "could not be read" in caplog.text and not Order.objects.filter(external_id=SESSION_ID).exists()


@pytest.mark.parametrize("session_id", ["", None, "cs_test_<script>", "../../etc", 42])
def test_anything_but_a_session_id_renders_nothing(stripe_store: Store, session_id: Any) -> None:
    with responses.RequestsMock():
        assert render(session_id) == ""


def test_with_two_stripe_stores_the_tag_needs_to_be_told_which(
    stripe_store: Store, stripe_api: responses.RequestsMock
) -> None:
    make_store("acct_2Other")
    assert render(SESSION_ID) == ""
    assert not Order.objects.exists()
    page = render(
        SESSION_ID, template="{% load crosssell_stripe %}{% crosssell_stripe_block session_id store='acct_1Shop' %}"
    )
    assert Order.objects.for_store(stripe_store).filter(external_id=SESSION_ID).exists()
    assert isinstance(page, str)
