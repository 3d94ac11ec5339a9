"""Shopify's privacy webhooks end to end: a customer's data export (and its download from the admin),
a customer's erasure, a shop's erasure; each for one shop only, another shop with the same customer
left as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from crosssell_plugin.models import (
    Click,
    Customer,
    Impression,
    InAppMessage,
    Item,
    Order,
    ScheduledMessage,
    Store,
    WebhookDelivery,
)
from integrations.shopify.auth import revoke
from integrations.shopify.models import ShopifyDataRequest, ShopifyShop

from ...followups_support import enable_default_path
from .conftest import install_shop
from .webhook_support import OTHER_SHOP, SHOP, body_of, deliver, post

pytestmark = pytest.mark.usefixtures("shopify_app", "clock")

ADA = "ada.lovelace@example.com"


@pytest.fixture
def shops(db: Any, django_capture_on_commit_callbacks: Any) -> tuple[ShopifyShop, ShopifyShop]:
    """Two installed shops, each with a follow-up path and Ada's order (the same Shopify ids), an
    impression of it, a click and an in-app message."""
    found = []
    client = Client()
    for domain in (SHOP, OTHER_SHOP):
        shop = install_shop(domain)
        enable_default_path(shop.store, "email")
        deliver(client, django_capture_on_commit_callbacks, "orders/paid", body_of("orders_paid"), shop=domain)
        order = Order.objects.for_store(shop.store).get()
        item = Item.objects.for_store(shop.store).first()
        assert item is not None
        impression = Impression.objects.create(
            store=shop.store, order=order, customer=order.customer, item=item, placement="thank_you", rank=1, score=0.5
        )
        Click.objects.create(impression=impression)
        InAppMessage.objects.create(store=shop.store, customer=order.customer, title="Hello Ada", body="More for you")
        found.append(shop)
    assert ScheduledMessage.objects.filter(status="planned").count() > 0
    return found[0], found[1]


def counts(store: Store) -> dict[str, int]:
    return {
        "orders": Order.objects.for_store(store).count(),
        "customers": Customer.objects.for_store(store).count(),
        "items": Item.objects.for_store(store).count(),
        "messages": ScheduledMessage.objects.for_store(store).count(),
        "in_app": InAppMessage.objects.filter(store=store).count(),
        "impressions": Impression.objects.filter(store=store).count(),
        "deliveries": WebhookDelivery.objects.for_store(store).count(),
    }


# --- customers/data_request ---------------------------------------------------------------------


def test_a_data_request_compiles_everything_held_on_the_customer_in_that_shop(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    mine, other = shops
    delivery = deliver(
        client, django_capture_on_commit_callbacks, "customers/data_request", body_of("customers_data_request")
    )
    assert delivery is not None and delivery.status == "ignored"
    request = ShopifyDataRequest.objects.get()
    assert (request.store_id, request.shop_id, request.status) == (mine.store_id, mine.pk, "ready")
    assert (request.email, request.customer_id) == (ADA, "6201")
    export = request.export
    assert export["store"] == {"platform": "shopify", "shop": SHOP}
    [held] = export["customers"]
    customer = Customer.objects.for_store(mine.store).get()
    assert held["customer"]["email"] == ADA and held["customer"]["id"] == customer.pk
    order = Order.objects.for_store(mine.store).get()
    assert [o["external_id"] for o in held["orders"]] == ["5001001001"]
    assert len(held["orders"][0]["lines"]) == order.lines.count() > 0
    assert held["orders"][0]["total"] == str(order.total)
    assert {c["channel"] for c in held["consents"]} >= {"email"}
    planned = ScheduledMessage.objects.for_store(mine.store).filter(customer=customer)
    assert sorted(m["id"] for m in held["scheduled_messages"]) == sorted(planned.values_list("pk", flat=True))
    assert [m["title"] for m in held["in_app_messages"]] == ["Hello Ada"]
    assert len(held["impressions"]) == 1 and len(held["clicks"]) == 1
    # Nothing of the other shop, where the same customer bought the same order.
    other_orders = set(Order.objects.for_store(other.store).values_list("pk", flat=True))
    other_messages = set(ScheduledMessage.objects.for_store(other.store).values_list("pk", flat=True))
    assert {o["id"] for o in held["orders"]}.isdisjoint(other_orders)
    assert {m["id"] for m in held["scheduled_messages"]}.isdisjoint(other_messages)
    assert {m["order_id"] for m in held["scheduled_messages"]} == {order.pk}


def test_the_same_data_request_again_is_one_export(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    body = body_of("customers_data_request")
    deliver(client, django_capture_on_commit_callbacks, "customers/data_request", body, webhook_id="a", event_id="1")
    deliver(client, django_capture_on_commit_callbacks, "customers/data_request", body, webhook_id="b", event_id="2")
    assert WebhookDelivery.objects.filter(topic="customers/data_request").count() == 2
    assert ShopifyDataRequest.objects.count() == 1


def test_the_merchant_downloads_the_export_as_a_json_file(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    deliver(client, django_capture_on_commit_callbacks, "customers/data_request", body_of("customers_data_request"))
    request = ShopifyDataRequest.objects.get()
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    listing = admin.get(reverse("admin:crosssell_shopify_shopifydatarequest_changelist"))
    assert listing.status_code == 200 and b"Download (.json)" in listing.content
    download_url = reverse("admin:crosssell_shopify_shopifydatarequest_download", args=[request.pk])
    response = admin.get(download_url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="crosssell-data-request-{SHOP}-9999.json"'
    assert json.loads(response.content) == request.export
    request.refresh_from_db()
    assert request.status == "downloaded" and request.downloaded_at is not None
    # Someone without the admin's view permission gets nothing.
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True))
    assert staff.get(download_url).status_code == 403
    assert Client().get(download_url).status_code == 302  # to the admin's login


# --- customers/redact ---------------------------------------------------------------------------


def test_a_customer_redact_erases_the_customer_in_that_shop_only(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    mine, other = shops
    capture = django_capture_on_commit_callbacks
    deliver(client, capture, "customers/data_request", body_of("customers_data_request"))
    delivery = deliver(client, capture, "customers/redact", body_of("customers_redact"))
    assert delivery is not None and delivery.status == "processed"
    customer = Customer.objects.for_store(mine.store).get()
    assert customer.email.startswith("redacted-") and customer.email.endswith("@redacted.invalid")
    assert (customer.external_id, customer.first_name, customer.last_name, customer.phone) == ("", "", "", "")
    assert not customer.consents.exists()
    statuses = set(ScheduledMessage.objects.for_store(mine.store).values_list("status", flat=True))
    assert statuses == {"cancelled"}
    assert Order.objects.for_store(mine.store).get().raw == {}
    assert not ShopifyDataRequest.objects.filter(store=mine.store).exists()
    assert not WebhookDelivery.objects.for_store(mine.store).filter(body__icontains="lovelace").exists()
    # The other shop's Ada is untouched.
    theirs = Customer.objects.for_store(other.store).get()
    assert theirs.email == ADA and theirs.consents.exists()
    assert set(ScheduledMessage.objects.for_store(other.store).values_list("status", flat=True)) == {"planned"}
    assert WebhookDelivery.objects.for_store(other.store).filter(body__icontains="lovelace").exists()


# --- shop/redact --------------------------------------------------------------------------------


def test_shop_redact_after_the_uninstall_deletes_everything_of_that_shop(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    mine, other = shops
    capture = django_capture_on_commit_callbacks
    deliver(client, capture, "customers/data_request", body_of("customers_data_request"))
    deliver(client, capture, "app/uninstalled", body_of("app_uninstalled"))
    assert not ShopifyShop.objects.get(pk=mine.pk).is_installed
    before_other = counts(other.store)
    delivery = deliver(client, capture, "shop/redact", body_of("shop_redact"))
    assert delivery is not None and delivery.status == "ignored"
    store = Store.objects.get(pk=mine.store_id)
    assert counts(store) == {
        "orders": 0,
        "customers": 0,
        "items": 0,
        "messages": 0,
        "in_app": 0,
        "impressions": 0,
        "deliveries": 1,  # the shop/redact itself: its shop id and domain
    }
    assert WebhookDelivery.objects.for_store(store).get().topic == "shop/redact"
    assert not ShopifyShop.objects.filter(domain=SHOP).exists()
    assert not ShopifyDataRequest.objects.filter(store=store).exists()
    assert (store.is_active, store.name) == (False, SHOP)
    assert counts(other.store) == before_other
    assert ShopifyShop.objects.get(pk=other.pk).is_installed
    # Shopify sending it again finds no shop: answered 200, nothing stored.
    assert post(client, "shop/redact", body_of("shop_redact"), webhook_id="again", event_id="again").status_code == 200
    assert WebhookDelivery.objects.for_store(store).count() == 1


def test_a_privacy_body_naming_another_shop_fails_and_changes_nothing(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop], django_capture_on_commit_callbacks: Any
) -> None:
    mine, _ = shops
    before = counts(mine.store)
    forged = body_of("shop_redact", shop_domain=OTHER_SHOP)
    delivery = deliver(client, django_capture_on_commit_callbacks, "shop/redact", forged)
    assert delivery is not None and delivery.status == "failed"
    assert "shop_domain" in delivery.error and OTHER_SHOP in delivery.error
    assert counts(mine.store) == {**before, "deliveries": before["deliveries"] + 1}
    assert ShopifyShop.objects.filter(pk=mine.pk).exists()


def test_privacy_topics_are_heard_from_an_uninstalled_shop_and_orders_are_not(
    client: Client, shops: tuple[ShopifyShop, ShopifyShop]
) -> None:
    mine, _ = shops
    revoke(mine)
    before = WebhookDelivery.objects.for_store(mine.store).count()
    assert post(client, "orders/paid", body_of("orders_paid", id=1)).status_code == 200
    assert WebhookDelivery.objects.for_store(mine.store).count() == before
    for topic, name in [("customers/redact", "customers_redact"), ("customers/data_request", "customers_data_request")]:
        assert post(client, topic, body_of(name)).status_code == 200
    assert WebhookDelivery.objects.for_store(mine.store).count() == before + 2
