"""Shopify webhooks: the shared contract (with Shopify's 401 and 200), signatures, duplicates,
stale deliveries, unknown and uninstalled shops, and what each topic does end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from crosssell_plugin.deliveries import process_delivery
from crosssell_plugin.models import Customer, Item, Order, ScheduledMessage, Store, WebhookDelivery
from integrations.shopify.auth import revoke
from integrations.shopify.models import ShopifyShop

from ...followups_support import enable_default_path
from ..contract import NOTHING, WebhookContract, nothing_written
from .conftest import OLD_SECRET, T0, app_options, install_shop
from .webhook_support import OTHER_SHOP, SHOP, body_of, deliver, headers, hmac_of, post, url

pytestmark = pytest.mark.usefixtures("shopify_app", "clock")

#: a body of a topic the adapter does not handle (shop/update: the shop resource)
UNKNOWN_TOPIC_BODY = b'{"id": 70001, "name": "Demo merch", "myshopify_domain": "demo-merch.myshopify.com"}'


@pytest.fixture
def shop(db: Any) -> ShopifyShop:
    return install_shop(SHOP)


class TestShopifyWebhookContract(WebhookContract):
    platform_id = "shopify"

    @pytest.fixture
    def installed_store(self, shop: ShopifyShop) -> Store:
        return shop.store

    @pytest.fixture
    def uninstall(self) -> Callable[[Store], None]:
        return lambda store: revoke(store.external_id)

    def sign(self, store: Store, body: bytes) -> dict[str, str]:
        topic = "shop/update" if body == UNKNOWN_TOPIC_BODY else "orders/paid"
        return headers(topic, body, shop=store.external_id)

    def good_body(self, store: Store) -> bytes:
        return body_of("orders_paid")

    def unknown_topic_body(self, store: Store) -> bytes:
        return UNKNOWN_TOPIC_BODY

    # Shopify's rules instead of the base view's 400 and 404:

    def test_a_bad_signature_is_refused_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        response = self.post(client, installed_store, body, self.sign(installed_store, body + b" "))
        assert response.status_code == 401
        assert nothing_written() == NOTHING

    def test_a_missing_signature_is_refused_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        signed = self.sign(installed_store, body)
        del signed["HTTP_X_SHOPIFY_HMAC_SHA256"]
        assert self.post(client, installed_store, body, signed).status_code == 401
        assert self.post(client, installed_store, body, headers={}).status_code == 401
        assert nothing_written() == NOTHING

    def test_an_unknown_store_gets_404_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        """Shopify: an unknown shop is answered 200 (no retries), nothing stored."""
        body = self.good_body(installed_store)
        response = post(client, "orders/paid", body, shop="never-installed.myshopify.com")
        assert response.status_code == 200
        assert nothing_written() == NOTHING

    def test_an_uninstalled_store_gets_404_and_nothing_is_stored(
        self, client: Client, installed_store: Store, uninstall: Callable[[Store], None]
    ) -> None:
        """Shopify: a shop that uninstalled is answered 200, nothing stored."""
        body = self.good_body(installed_store)
        signed = self.sign(installed_store, body)
        uninstall(installed_store)
        assert self.post(client, installed_store, body, signed).status_code == 200
        assert nothing_written() == NOTHING


# --- signatures ----------------------------------------------------------------------------------


def test_the_app_level_url_takes_the_shop_from_its_header(client: Client, shop: ShopifyShop) -> None:
    assert post(client, "orders/paid", body_of("orders_paid")).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.store_id, delivery.topic) == (shop.store_id, "orders/paid")
    assert delivery.headers["X-Shopify-Shop-Domain"] == SHOP
    assert "X-Shopify-Hmac-Sha256" not in delivery.headers


def test_a_re_serialised_body_fails_the_hmac(client: Client, shop: ShopifyShop) -> None:
    raw = body_of("orders_paid")
    reserialised = json.dumps(json.loads(raw)).encode()
    assert reserialised != raw
    response = client.post(url(), data=reserialised, content_type="application/json", **headers("orders/paid", raw))
    assert response.status_code == 401
    assert nothing_written() == NOTHING


def test_another_secret_does_not_sign_and_a_bad_signature_is_401_for_an_unknown_shop_too(
    client: Client, shop: ShopifyShop
) -> None:
    body = body_of("orders_paid")
    assert post(client, "orders/paid", body, secret="shpss_of_another_app_0000000000000000").status_code == 401
    assert post(client, "orders/paid", body, signature="not base64 at all").status_code == 401
    forged = post(client, "orders/paid", body, shop="nobody.myshopify.com", signature=hmac_of(body, "x" * 32))
    assert forged.status_code == 401
    assert nothing_written() == NOTHING


def test_the_old_secret_is_accepted_while_the_secret_is_rotated(
    client: Client, shop: ShopifyShop, settings: Any
) -> None:
    body = body_of("orders_paid")
    assert post(client, "orders/paid", body, secret=OLD_SECRET).status_code == 401
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(OLD_API_SECRET=OLD_SECRET)}}
    assert post(client, "orders/paid", body, secret=OLD_SECRET).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_a_url_naming_another_shop_stores_nothing(client: Client, shop: ShopifyShop) -> None:
    install_shop(OTHER_SHOP)
    assert post(client, "orders/paid", body_of("orders_paid"), key=OTHER_SHOP).status_code == 200
    assert WebhookDelivery.objects.count() == 0
    assert post(client, "orders/paid", body_of("orders_paid"), key=SHOP).status_code == 200
    assert WebhookDelivery.objects.get().store_id == shop.store_id


def test_a_delivery_without_its_required_headers_is_400(client: Client, shop: ShopifyShop) -> None:
    body = body_of("orders_paid")
    signed = headers("orders/paid", body)
    del signed["HTTP_X_SHOPIFY_WEBHOOK_ID"]
    response = client.post(url(), data=body, content_type="application/json", **signed)
    assert response.status_code == 400
    assert b"X-Shopify-Webhook-Id" in response.content
    assert nothing_written() == NOTHING


# --- duplicates and staleness -------------------------------------------------------------------


def test_the_same_webhook_id_is_one_row(client: Client, shop: ShopifyShop) -> None:
    body = body_of("orders_paid")
    for _ in range(3):
        assert post(client, "orders/paid", body, webhook_id="wh-1", event_id=None).status_code == 200
    assert WebhookDelivery.objects.get().delivery_id == f"{SHOP}/wh-1"


def test_the_same_event_and_topic_under_a_new_webhook_id_is_one_row(client: Client, shop: ShopifyShop) -> None:
    body = body_of("orders_paid")
    assert post(client, "orders/paid", body, webhook_id="wh-1", event_id="ev-9").status_code == 200
    assert post(client, "orders/paid", body, webhook_id="wh-2", event_id="ev-9").status_code == 200
    assert WebhookDelivery.objects.get().delivery_id == f"{SHOP}/orders/paid/ev-9"
    # The same event under another topic (two subscriptions) is another delivery.
    assert post(client, "orders/create", body, webhook_id="wh-3", event_id="ev-9").status_code == 200
    assert WebhookDelivery.objects.count() == 2


def test_an_older_order_after_a_newer_one_is_ignored(
    client: Client, shop: ShopifyShop, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    newer = body_of("orders_paid", updated_at="2026-03-02T09:00:00+00:00", note="newer")
    first = deliver(client, capture, "orders/paid", newer)
    assert first is not None and first.status == "processed"
    older = deliver(client, capture, "orders/paid", body_of("orders_paid"))
    assert older is not None and (older.status, older.events) == ("ignored", 0)
    order = Order.objects.for_store(shop.store).get()
    assert order.source_updated_at.isoformat() == "2026-03-02T09:00:00+00:00"


def test_an_older_product_after_a_newer_one_is_ignored(
    client: Client, shop: ShopifyShop, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    newer = body_of("products_update", updated_at="2026-03-06T10:00:00+00:00", title="Logo tee, new cut")
    assert deliver(client, capture, "products/update", newer).status == "processed"
    older = deliver(client, capture, "products/update", body_of("products_update"))
    assert older is not None and older.status == "ignored"
    assert Item.objects.for_store(shop.store).get(external_id="7001").title == "Logo tee, new cut"


def test_a_collection_change_is_stored_and_ignored(
    client: Client, shop: ShopifyShop, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = deliver(client, django_capture_on_commit_callbacks, "collections/update", body_of("collections_update"))
    assert delivery is not None and (delivery.status, delivery.events) == ("ignored", 0)


# --- unknown and uninstalled shops --------------------------------------------------------------


def test_unknown_and_uninstalled_shops_are_answered_200_and_nothing_is_stored(
    client: Client, shop: ShopifyShop
) -> None:
    body = body_of("orders_paid")
    assert post(client, "orders/paid", body, shop="never-installed.myshopify.com").status_code == 200
    assert post(client, "orders/paid", body, shop="not a domain").status_code == 200
    revoke(shop)
    assert post(client, "orders/paid", body).status_code == 200
    assert post(client, "app/uninstalled", body_of("app_uninstalled")).status_code == 200
    assert nothing_written() == NOTHING


# --- orders end to end ---------------------------------------------------------------------------


@pytest.fixture
def with_path(shop: ShopifyShop) -> Any:
    return enable_default_path(shop.store, "email")


def test_orders_paid_records_the_purchase_and_plans_the_follow_ups(
    client: Client, shop: ShopifyShop, with_path: Any, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = deliver(client, django_capture_on_commit_callbacks, "orders/paid", body_of("orders_paid"))
    assert delivery is not None and (delivery.status, delivery.events, delivery.attempts) == ("processed", 1, 1)
    order = Order.objects.for_store(shop.store).get(external_id="5001001001")
    assert (order.total, order.currency) == (Decimal("85.83"), "USD")
    assert order.customer.email == "ada.lovelace@example.com"
    planned = ScheduledMessage.objects.for_store(shop.store).filter(order=order, status="planned")
    assert planned.count() == with_path.steps.count() > 0
    # Processing it again (a replay) records nothing twice.
    assert process_delivery(delivery.pk, force=True) == "processed"
    assert Order.objects.count() == 1
    assert ScheduledMessage.objects.count() == planned.count()


@pytest.mark.parametrize(
    ("topic", "fixture_name"), [("refunds/create", "refunds_create"), ("orders/cancelled", "orders_cancelled")]
)
def test_a_refund_or_a_cancellation_cancels_the_pending_follow_ups(
    client: Client,
    shop: ShopifyShop,
    with_path: Any,
    django_capture_on_commit_callbacks: Any,
    topic: str,
    fixture_name: str,
) -> None:
    capture = django_capture_on_commit_callbacks
    deliver(client, capture, "orders/paid", body_of("orders_paid"))
    assert ScheduledMessage.objects.filter(status="planned").exists()
    delivery = deliver(client, capture, topic, body_of(fixture_name))
    assert delivery is not None and delivery.status == "processed"
    statuses = set(ScheduledMessage.objects.for_store(shop.store).values_list("status", "skip_reason"))
    assert statuses == {("cancelled", "order refunded")}


# --- app/uninstalled -----------------------------------------------------------------------------


def test_uninstall_revokes_the_tokens_and_cancels_the_pending_follow_ups(
    client: Client, shop: ShopifyShop, with_path: Any, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    other = install_shop(OTHER_SHOP)
    enable_default_path(other.store, "email")
    deliver(client, capture, "orders/paid", body_of("orders_paid"))
    deliver(client, capture, "orders/paid", body_of("orders_paid"), shop=OTHER_SHOP)
    delivery = deliver(client, capture, "app/uninstalled", body_of("app_uninstalled"))
    assert delivery is not None and delivery.status == "ignored"
    shop.refresh_from_db()
    assert (shop.access_token, shop.refresh_token, shop.is_installed) == ("", "", False)
    assert shop.uninstalled_at is not None
    assert not Store.objects.get(pk=shop.store_id).is_active
    mine = set(ScheduledMessage.objects.for_store(shop.store).values_list("status", "skip_reason"))
    assert mine == {("cancelled", "app uninstalled")}
    # The other shop is untouched.
    assert set(ScheduledMessage.objects.for_store(other.store).values_list("status", flat=True)) == {"planned"}
    assert ShopifyShop.objects.get(pk=other.pk).is_installed


def test_an_uninstall_older_than_the_latest_install_changes_nothing(
    client: Client, shop: ShopifyShop, django_capture_on_commit_callbacks: Any
) -> None:
    before = T0 - timedelta(days=1)
    deliver(
        client, django_capture_on_commit_callbacks, "app/uninstalled", body_of("app_uninstalled"), triggered_at=before
    )
    shop.refresh_from_db()
    assert shop.is_installed and shop.uninstalled_at is None


# --- two shops in one process ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_shops_in_threads_never_see_each_others_data() -> None:
    shops = [install_shop(SHOP), install_shop(OTHER_SHOP)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(shops))

    def receive(domain: str) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            for n in range(3):
                body = body_of("orders_paid", id=5001001001 + n)
                assert post(client, "orders/paid", body, shop=domain).status_code == 200
        except BaseException as err:  # reported by the main thread
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=receive, args=(s.domain,)) for s in shops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for found in shops:
        store = found.store
        deliveries = WebhookDelivery.objects.for_store(store)
        assert deliveries.count() == 3
        assert all(d.headers["X-Shopify-Shop-Domain"] == found.domain for d in deliveries)
        orders = Order.objects.for_store(store)
        assert sorted(orders.values_list("external_id", flat=True)) == ["5001001001", "5001001002", "5001001003"]
        assert {o.customer.store_id for o in orders} == {store.pk}
        assert Customer.objects.for_store(store).count() == 1
    # The same Shopify order ids in two shops are two orders, one per store.
    assert Order.objects.filter(external_id="5001001001").count() == 2
