"""Stripe Checkout webhooks: the shared contract, then what each handled event records."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse

from crosssell_plugin.deliveries import process_delivery
from crosssell_plugin.models import Customer, CustomerConsent, Item, Order, Refund, Store, WebhookDelivery
from crosssell_plugin.platforms import RetryLater
from integrations.stripe.models import StripeAccount

from ..contract import WebhookContract
from .conftest import ASYNC_SESSION_ID, SESSION_ID, body_of, signature

URL_NAME = "crosssell:webhook"


class TestStripeWebhookContract(WebhookContract):
    platform_id = "stripe"

    @pytest.fixture
    def installed_store(self, stripe_store: Store) -> Store:
        return stripe_store

    @pytest.fixture
    def uninstall(self) -> Callable[[Store], None]:
        return lambda store: StripeAccount.objects.filter(store=store).delete()

    def sign(self, store: Store, body: bytes) -> dict[str, str]:
        return {"HTTP_STRIPE_SIGNATURE": signature(body)}

    def good_body(self, store: Store) -> bytes:
        return body_of("event_checkout_session_completed")

    def unknown_topic_body(self, store: Store) -> bytes:
        return body_of("event_customer_created")


def post(client: Client, store: Store, body: bytes, **headers: str) -> Any:
    headers = headers or {"HTTP_STRIPE_SIGNATURE": signature(body)}
    url = reverse(URL_NAME, args=["stripe", store.external_id])
    return client.post(url, data=body, content_type="application/json", **headers)


def receive(client: Client, store: Store, name: str, capture: Any) -> WebhookDelivery:
    """POST the event fixture ``name``, run what the commit enqueues (eager Celery): the delivery."""
    body = body_of(name)
    with capture(execute=True):
        assert post(client, store, body).status_code == 200
    return WebhookDelivery.objects.get(delivery_id=json.loads(body)["id"])


# --- signatures ----------------------------------------------------------------------------------


def test_a_stale_signature_is_refused(client: Client, stripe_store: Store) -> None:
    body = body_of("event_checkout_session_completed")
    stale = signature(body, timestamp=int(time.time()) - 301)
    assert post(client, stripe_store, body, HTTP_STRIPE_SIGNATURE=stale).status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_secret_being_rolled_signs_with_two_v1_and_either_passes(client: Client, stripe_store: Store) -> None:
    body = body_of("event_checkout_session_completed")
    old = signature(body, secret="whsec_old_secret")
    good = signature(body).split(",")[1]
    assert post(client, stripe_store, body, HTTP_STRIPE_SIGNATURE=f"{old},{good}").status_code == 200


def test_another_stores_secret_does_not_sign_for_this_store(client: Client, stripe_store: Store) -> None:
    body = body_of("event_checkout_session_completed")
    forged = signature(body, secret="whsec_of_another_merchant")
    assert post(client, stripe_store, body, HTTP_STRIPE_SIGNATURE=forged).status_code == 400


def test_the_signing_secret_and_key_are_encrypted_at_rest(stripe_store: Store) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key, webhook_secret FROM crosssell_stripe_stripeaccount")
        stored = cursor.fetchone()
    assert all(value.startswith("fernet:") and "test" not in value for value in stored)
    account = StripeAccount.objects.get(store=stripe_store)
    assert account.webhook_secret.startswith("whsec_test_")


# --- processing ----------------------------------------------------------------------------------


def test_a_paid_checkout_becomes_a_purchase_with_its_line_items_and_consent(
    client: Client, stripe_store: Store, stripe_api: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = receive(client, stripe_store, "event_checkout_session_completed", django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.events, delivery.attempts) == ("processed", 1, 1)
    order = Order.objects.for_store(stripe_store).get(external_id=SESSION_ID)
    assert (order.total, order.currency) == (Decimal("44.98"), "EUR")
    lines = [(line.item.external_id, line.item.kind, line.quantity, line.unit_price) for line in order.lines.all()]
    assert lines == [
        ("prod_RfCleo5to7", "film", 1, Decimal("19.99")),
        ("prod_RfCleoPoster", "merch", 1, Decimal("24.99")),
    ]
    assert Item.objects.for_store(stripe_store).get(external_id="prod_RfCleo5to7").title == "Cléo from 5 to 7"
    customer = order.customer
    assert (customer.email, customer.first_name, customer.last_name, customer.country, customer.external_id) == (
        "agnes@example.com",
        "Agnès",
        "Varda",
        "FR",
        "cus_TQm4bW8sXe2Lk1",
    )
    consent = CustomerConsent.objects.get(customer=customer)
    assert (consent.channel, consent.granted, consent.source) == ("email", True, "stripe checkout")
    assert customer.has_marketing_consent("email")
    assert order.raw["payment_intent"] == "pi_3QmR2uLkdIwHu7ix0v1nZ3cD" and "customer_details" not in order.raw


def test_an_opt_out_at_checkout_is_recorded_as_withdrawn_consent(
    client: Client, stripe_store: Store, stripe_api: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    event = json.loads(body_of("event_checkout_session_completed"))
    event["data"]["object"]["consent"]["promotions"] = "opt_out"
    body = json.dumps(event).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, stripe_store, body).status_code == 200
    customer = Customer.objects.for_store(stripe_store).get()
    assert not customer.has_marketing_consent("email")
    assert CustomerConsent.objects.get(customer=customer).granted is False


def test_a_delayed_payment_waits_for_async_payment_succeeded(
    client: Client, stripe_store: Store, stripe_api: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    pending = receive(client, stripe_store, "event_checkout_session_completed_unpaid", capture)
    assert (pending.status, pending.events) == ("ignored", 0)
    assert not Order.objects.exists()
    paid = receive(client, stripe_store, "event_checkout_session_async_payment_succeeded", capture)
    assert paid.status == "processed"
    assert Order.objects.for_store(stripe_store).get().external_id == ASYNC_SESSION_ID


def test_a_refunded_charge_records_its_succeeded_refunds_once(
    client: Client, stripe_store: Store, stripe_api: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    receive(client, stripe_store, "event_checkout_session_completed", django_capture_on_commit_callbacks)
    delivery = receive(client, stripe_store, "event_charge_refunded", django_capture_on_commit_callbacks)
    assert (delivery.status, delivery.events) == ("processed", 1)  # the failed refund is not money returned
    refund = Refund.objects.for_store(stripe_store).get()
    assert (refund.external_id, refund.amount, refund.reason) == (
        "re_3QmR2uLkdIwHu7ix0Fq7Zx1W",
        Decimal("24.99"),
        "requested_by_customer",
    )
    order = refund.order
    assert (order.external_id, order.status) == (SESSION_ID, "partially_refunded")
    assert order.refunded_total == Decimal("24.99")
    # Processing it again (a replay) records nothing twice.
    assert process_delivery(delivery.pk, force=True) == "processed"
    assert Refund.objects.count() == 1


def test_a_refund_before_its_purchase_stays_pending_for_a_retry(
    stripe_store: Store, stripe_api: responses.RequestsMock, client: Client
) -> None:
    body = body_of("event_charge_refunded")
    assert post(client, stripe_store, body).status_code == 200  # not processed: nothing was committed
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(RetryLater):
        process_delivery(delivery.pk, retry_transient=True)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "not recorded yet" in delivery.error
    assert process_delivery(delivery.pk) == "failed"  # the last attempt gives up and says why


def test_stripe_down_is_a_transient_failure(client: Client, stripe_store: Store) -> None:
    body = body_of("event_checkout_session_completed")
    assert post(client, stripe_store, body).status_code == 200
    delivery = WebhookDelivery.objects.get()
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"https://api.stripe.com/v1/checkout/sessions/{SESSION_ID}/line_items",
            status=503,
            json={"error": {"message": "Service unavailable", "type": "api_error"}},
        )
        assert process_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "HTTP 503" in delivery.error and not Order.objects.exists()
