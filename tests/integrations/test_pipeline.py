"""The webhook pipeline's core half: events of every kind, deliveries processed once, replay, admin
retry, the registry's webhook URL, the JSON guard and the encryption of secrets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import responses
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crosssell_plugin import encryption, jsonbody
from crosssell_plugin.conf import validation_errors
from crosssell_plugin.deliveries import process_delivery, record_event
from crosssell_plugin.events import (
    CancelEvent,
    CatalogChangeEvent,
    Consent,
    ConsentEvent,
    CustomerData,
    CustomerRedactEvent,
    RefundEvent,
    StoreRef,
)
from crosssell_plugin.exceptions import ConfigurationError, InvalidEvent
from crosssell_plugin.models import Customer, CustomerConsent, Item, Order, Refund, Store, WebhookDelivery
from crosssell_plugin.platforms import get_platform, installed_platforms
from crosssell_plugin.signals import consent_withdrawn

from ..conftest import STORE_REF, catalog_item, purchase_event
from .stripe.conftest import SESSION_ID, body_of, mock_stripe_api, signature

AT = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def withdrawn() -> Iterator[list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []

    def receiver(sender: Any, customer: Any, channel: str, **kwargs: Any) -> None:
        calls.append((customer.email, channel))

    consent_withdrawn.connect(receiver)
    yield calls
    consent_withdrawn.disconnect(receiver)


# --- events of every kind ----------------------------------------------------------------------


def test_a_cancel_refunds_what_is_left_of_the_order_once(store: Store, record: Any) -> None:
    order = record(purchase_event("c-1"))
    cancel = CancelEvent(STORE_REF, "c-1", AT, reason="customer changed their mind")
    assert record_event(cancel) == "cancelled"
    assert record_event(cancel) == "same"
    refund = Refund.objects.for_store(store).get()
    assert (refund.external_id, refund.amount, refund.reason) == (
        "cancel:c-1",
        Decimal("59.99"),
        "cancelled: customer changed their mind",
    )
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_the_platforms_refund_after_a_cancel_replaces_that_much_of_the_cancel(store: Store, record: Any) -> None:
    order = record(purchase_event("c-2"))  # 59.99
    assert record_event(CancelEvent(STORE_REF, "c-2", AT)) == "cancelled"
    # the platform's own refund of the cancellation arrives afterwards: 50.00 of the 59.99
    refund = RefundEvent(STORE_REF, "c-2", "re-1", Decimal("50.00"), "EUR", AT)
    assert record_event(refund) == "refunded"
    amounts = dict(Refund.objects.for_store(store).values_list("external_id", "amount"))
    assert amounts == {"cancel:c-2": Decimal("9.99"), "re-1": Decimal("50.00")}
    order.refresh_from_db()
    assert (order.refunded_total, order.status) == (Decimal("59.99"), Order.Status.REFUNDED)
    # more than the cancel's share can give back is still refused, and nothing is changed
    with pytest.raises(InvalidEvent, match="more than its total"):
        record_event(RefundEvent(STORE_REF, "c-2", "re-2", Decimal("20.00"), "EUR", AT))
    assert dict(Refund.objects.for_store(store).values_list("external_id", "amount")) == amounts


def test_a_consent_event_records_consent_and_announces_a_withdrawal(
    store: Store, withdrawn: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    def event(granted: bool, at: datetime) -> ConsentEvent:
        consent = Consent(channel="email", granted=granted, source="storefront form", recorded_at=at)
        return ConsentEvent(STORE_REF, CustomerData(email="Ann@Example.com", consents=(consent,)), at)

    with django_capture_on_commit_callbacks(execute=True):
        record_event(event(True, AT))
    assert Customer.objects.for_store(store).get(email="ann@example.com").has_marketing_consent("email")
    assert withdrawn == []
    with django_capture_on_commit_callbacks(execute=True):
        record_event(event(False, AT + timedelta(hours=1)))
    assert not Customer.objects.get(email="ann@example.com").has_marketing_consent("email")
    assert withdrawn == [("ann@example.com", "email")]


def test_a_consent_event_needs_a_consent() -> None:
    with pytest.raises(InvalidEvent, match=r"customer.consents: a consent event needs at least one Consent"):
        ConsentEvent(STORE_REF, CustomerData(email="ann@example.com"), AT)


def test_a_catalog_change_adds_updates_and_removes_an_item(store: Store) -> None:
    assert record_event(CatalogChangeEvent(STORE_REF, AT, item=catalog_item("film-9"))) == "item created"
    changed = catalog_item("film-9", title="Film nine, restored")
    assert record_event(CatalogChangeEvent(STORE_REF, AT, item=changed)) == "item updated"
    assert record_event(CatalogChangeEvent(STORE_REF, AT, removed_external_id="film-9")) == "item removed"
    item = Item.objects.for_store(store).get(external_id="film-9")
    assert (item.title, item.available) == ("Film nine, restored", False)
    with pytest.raises(InvalidEvent, match="either the changed item or removed_external_id"):
        CatalogChangeEvent(STORE_REF, AT, item=changed, removed_external_id="film-9")


def test_a_redact_erases_the_customer_and_their_payloads(
    store: Store, record: Any, withdrawn: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    consent = Consent(channel="email", granted=True, source="checkout", recorded_at=AT)
    order = record(
        purchase_event("r-1", customer=CustomerData(email="ann@example.com", first_name="Ann", consents=(consent,)))
    )
    other = record(purchase_event("r-2", customer=CustomerData(email="bob@example.com", first_name="Bob")))
    delivery = WebhookDelivery.objects.create(
        store=store,
        platform="custom",
        topic="t",
        delivery_id="d-1",
        body_sha256="0" * 64,
        body='{"email": "ann@example.com"}',
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert record_event(CustomerRedactEvent(STORE_REF, "ANN@example.com", AT)) == "redacted 1"
    customer = Customer.objects.get(pk=order.customer_id)
    assert customer.email == f"redacted-{customer.pk}@redacted.invalid" and customer.first_name == ""
    assert customer.unsubscribed_at is not None and not CustomerConsent.objects.filter(customer=customer).exists()
    order.refresh_from_db()
    delivery.refresh_from_db()
    assert (order.raw, delivery.body) == ({}, "{}")
    assert Order.objects.get(pk=other.pk).raw == {"id": "r-2"}  # another customer's order keeps its payload
    assert withdrawn == [(customer.email, "all")]


# --- deliveries: processed once, failures kept, replay, admin retry -----------------------------


def test_a_redact_also_erases_progress_in_app_messages_account_ids_errors_and_id_only_payloads(
    store: Store, record: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from crosssell_plugin.models import Consumption, InAppMessage, ScheduledMessage
    from tests.followups_support import enable_default_path

    enable_default_path(store)  # so that the purchase plans follow-ups
    ann = CustomerData(email="ann@example.com", external_id="7001", first_name="Ann")
    order = record(purchase_event("r-3", customer=ann))
    Order.objects.filter(pk=order.pk).update(account_id="42")
    other = record(purchase_event("r-4", customer=CustomerData(email="bob@example.com", external_id="7002")))
    customer_pk = order.customer_id
    item = Item.objects.for_store(store).get(external_id="film-1")
    Consumption.objects.create(
        store=store, customer_id=customer_pk, item=item, progress=Decimal("0.5"), last_event_at=AT, raw={"n": "Ann"}
    )
    InAppMessage.objects.create(store=store, customer_id=customer_pk, title="Hello Ann", body="For you, Ann")
    ScheduledMessage.objects.for_store(store).filter(customer_id=customer_pk).update(
        last_error="550 no mailbox ann@example.com"
    )

    def delivery(n: int, body: str) -> WebhookDelivery:
        return WebhookDelivery.objects.create(
            store=store, platform="custom", topic="t", delivery_id=f"id-{n}", body_sha256="0" * 64, body=body
        )

    by_id = delivery(1, '{"customer": {"id": 7001, "email": null}}')
    by_id_string = delivery(2, '{"customer_id": "7001"}')
    someone_else = delivery(3, '{"customer": {"id": 7002}, "total": 70010}')
    with django_capture_on_commit_callbacks(execute=True):
        assert record_event(CustomerRedactEvent(STORE_REF, "ann@example.com", AT)) == "redacted 1"

    assert Consumption.objects.get(customer_id=customer_pk).raw == {}
    assert not InAppMessage.objects.filter(customer_id=customer_pk).exists()
    errors = list(ScheduledMessage.objects.filter(customer_id=customer_pk).values_list("last_error", flat=True))
    assert errors and set(errors) == {""}
    assert Order.objects.get(pk=order.pk).account_id == ""
    assert [WebhookDelivery.objects.get(pk=d.pk).body for d in (by_id, by_id_string, someone_else)] == [
        "{}",
        "{}",
        '{"customer": {"id": 7002}, "total": 70010}',
    ]
    assert Order.objects.get(pk=other.pk).raw != {}  # another customer's order keeps its payload


def _delivery(client: Client, store: Store, name: str = "event_checkout_session_completed") -> WebhookDelivery:
    body = body_of(name)
    url = reverse("crosssell:webhook", args=["stripe", store.external_id])
    response = client.post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body))
    assert response.status_code == 200
    return WebhookDelivery.objects.get()


def test_processing_a_delivery_twice_records_it_once(
    client: Client, stripe_store: Store, stripe_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = _delivery(client, stripe_store)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert process_delivery(delivery.pk) == "processed"
        assert process_delivery(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert (delivery.attempts, Order.objects.count()) == (1, 1)
    assert len(stripe_api.calls) == 1  # the second run did not even read the line items
    assert callbacks  # the purchase's signals were sent once, after commit
    assert process_delivery(delivery.pk, force=True) == "processed"
    assert Order.objects.get().revision == 1


def test_an_event_for_another_store_is_refused(stripe_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    other = StoreRef("stripe", "acct_other")
    adapter_class = type(get_platform("stripe"))
    monkeypatch.setattr(adapter_class, "parse_webhook", lambda self, d: [CancelEvent(other, "x", AT)])
    delivery = WebhookDelivery.objects.create(
        store=stripe_store, platform="stripe", topic="charge.refunded", delivery_id="evt_x", body_sha256="0", body="{}"
    )
    assert process_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "the delivery is for store stripe:acct_1Shop, the event for stripe:acct_other" in delivery.error


def test_replay_reprocesses_failed_deliveries(client: Client, stripe_store: Store) -> None:
    delivery = _delivery(client, stripe_store)
    with responses.RequestsMock():  # Stripe unreachable: every call fails
        assert process_delivery(delivery.pk) == "failed"
    out, err = StringIO(), StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        call_command("crosssell_replay", "--platform", "stripe", stdout=out, stderr=err)
    assert f"delivery {delivery.pk}: processed" in out.getvalue()
    assert "1 replayed: 1 processed" in out.getvalue()
    assert Order.objects.for_store(stripe_store).get().external_id == SESSION_ID
    out = StringIO()
    call_command("crosssell_replay", stdout=out)
    assert "No delivery to replay." in out.getvalue()


def test_the_admin_lists_deliveries_and_retries_failed_ones(client: Client, stripe_store: Store) -> None:
    delivery = _delivery(client, stripe_store)
    with responses.RequestsMock():
        process_delivery(delivery.pk)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    changelist = reverse("admin:crosssell_webhookdelivery_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and b"checkout.session.completed" in page.content and b"failed" in page.content
    detail = client.get(reverse("admin:crosssell_webhookdelivery_change", args=[delivery.pk]))
    assert detail.status_code == 200 and b"Connection refused by Responses" in detail.content
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        response = client.post(changelist, {"action": "retry", "_selected_action": [delivery.pk]}, follow=True)
    assert b"Retried 1 deliveries: 1 processed." in response.content
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("processed", 2)


# --- the registry and its webhook URL -----------------------------------------------------------


def test_the_registry_lists_the_installed_platforms_and_names_a_missing_one() -> None:
    assert installed_platforms() == ["oscar", "shopify", "stripe"]
    with pytest.raises(
        ConfigurationError,
        match=r"No crosssell integration for platform 'teachable'.*installed: oscar, shopify, stripe",
    ):
        get_platform("teachable")


@pytest.mark.parametrize("platform", ["oscar", "nowhere"])
def test_a_platform_without_webhooks_has_no_webhook_url(client: Client, store: Store, platform: str) -> None:
    url = reverse("crosssell:webhook", args=[platform, "default"])
    assert client.post(url, data=b"{}", content_type="application/json").status_code == 404
    assert not WebhookDelivery.objects.exists()


# --- the JSON guard -------------------------------------------------------------------------------


def test_the_json_guard_accepts_json_and_names_what_it_refuses() -> None:
    assert jsonbody.loads_object(b'{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    assert jsonbody.depth([[[]]]) == 3 and jsonbody.depth(7) == 0
    cases = {
        b"[" * 65 + b"]" * 65: (jsonbody.BodyTooDeep, 400),
        b"[" * 100_000 + b"]" * 100_000: (jsonbody.BodyTooDeep, 400),
        b"{oops": (jsonbody.MalformedBody, 400),
        b'{"x": Infinity}': (jsonbody.MalformedBody, 400),
        b"\xc3\x28": (jsonbody.MalformedBody, 400),
    }
    for body, (error, status) in cases.items():
        with pytest.raises(error) as caught:
            jsonbody.loads(body)
        assert caught.value.status == status
    assert jsonbody.depth(jsonbody.loads(b"[" * 64 + b"]" * 64)) == 64
    with pytest.raises(jsonbody.BodyTooLarge, match="The body is 2,048 bytes; the limit is 1,024") as caught:
        jsonbody.loads(b" " * 2048, max_bytes=1024)
    assert caught.value.status == 413


# --- secrets at rest ------------------------------------------------------------------------------


def test_secrets_survive_a_key_rotation(settings: Any) -> None:
    old, new = (encryption.Fernet.generate_key().decode() for _ in range(2))
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [old]}
    stored = encryption.encrypt("sk_live_secret")
    assert stored.startswith("fernet:") and "sk_live" not in stored
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [new, old]}
    assert encryption.decrypt(stored) == "sk_live_secret"
    rotated = encryption.reencrypt(stored)
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [new]}
    assert encryption.decrypt(rotated) == "sk_live_secret"
    with pytest.raises(ConfigurationError, match="No key decrypts a stored secret") as caught:
        encryption.decrypt(stored)
    assert "sk_live" not in str(caught.value)


@pytest.mark.django_db
def test_dumpdata_writes_secrets_encrypted_and_loaddata_reads_them_back(stripe_store: Store, tmp_path: Any) -> None:
    from django.core.management import call_command

    from integrations.stripe.models import StripeAccount

    StripeAccount.objects.update_or_create(
        store=stripe_store, defaults={"secret_key": "sk_live_dumped", "webhook_secret": "whsec_dumped"}
    )
    dump = tmp_path / "accounts.json"
    call_command("dumpdata", "crosssell_stripe.StripeAccount", output=str(dump))
    text = dump.read_text()
    assert "sk_live_dumped" not in text and "whsec_dumped" not in text and '"fernet:' in text
    StripeAccount.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)
    account = StripeAccount.objects.get(store=stripe_store)
    assert (account.secret_key, account.webhook_secret) == ("sk_live_dumped", "whsec_dumped")


def test_a_value_that_looks_encrypted_but_no_key_decrypts_is_a_validation_error() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="No key decrypts a stored secret"):
        encryption.EncryptedTextField().to_python("fernet:not-a-token")
    assert encryption.EncryptedTextField().to_python("sk_test_plain") == "sk_test_plain"


def test_without_keys_a_secret_key_rotation_keeps_secrets_readable(settings: Any) -> None:
    settings.CROSSSELL = {}
    stored = encryption.encrypt("whsec_1")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789-0123456789-0123456789"
    assert encryption.decrypt(stored) == "whsec_1"


def test_the_settings_checks_name_bad_encryption_keys_and_body_limits(settings: Any) -> None:
    settings.CROSSSELL = {"ENCRYPTION_KEYS": ["not-a-key"], "WEBHOOK_MAX_BYTES": 10}
    problems = {message for _, message, _ in validation_errors()}
    assert problems == {
        'CROSSSELL["ENCRYPTION_KEYS"][0] is not a Fernet key (32 url-safe base64-encoded bytes).',
        'CROSSSELL["WEBHOOK_MAX_BYTES"] must be between 1024 and 67108864, got 10.',
    }
