"""The REST API called from the store's own pages with the visitor's session (no API key): a guest
after Oscar's real checkout, a signed-in customer, a staff user. A visitor sees their own orders,
their own account and any item; anything else is a 404. (Accounts that only claim an email:
tests/test_shoppers_accounts.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Customer, Impression, InAppMessage, Order, Store
from crosssell_plugin.shoppers import SESSION_ORDERS, SESSION_ORDERS_KEPT, remember_order
from integrations.base import get_adapter
from tests.integrations.oscar.conftest import Checkout

from .conftest import STORE_REF
from .shoppers_support import EMAIL_VERIFIED, verify_email
from .test_api import API
from .test_recommend import T0, add_catalog, seed_history
from .test_surfaces import oscar_shop  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Fresh model storage, no cached model or block, no throttle history (tests/conftest.py)."""


def test_a_guest_asks_about_the_order_placed_in_this_browser_and_nothing_else(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, gleaners, store = oscar_shop
    number = Checkout(client).buy_as_guest(cleo, "agnes@example.com", django_capture_on_commit_callbacks).number
    order = Order.objects.for_store(store).get(external_id=number)
    assert client.session[SESSION_ORDERS] == [order.external_id]

    mine = client.get(API + f"recommendations/order/{order.external_id}/", {"placement": "thank_you_app"})
    assert mine.status_code == 200, mine.content
    assert mine.json()["results"][0]["item"]["external_id"] == str(gleaners.pk)
    shown = Impression.objects.filter(order=order, placement="thank_you_app")
    assert shown.count() == len(mine.json()["results"])

    # another customer's order, the same guest's account by email, another browser: as if they did not exist
    earlier = Order.objects.for_store(store).get(external_id="past-0")
    for path in (f"recommendations/order/{earlier.external_id}/", "customers/agnes@example.com/messages/"):
        response = client.get(API + path)
        assert response.status_code == 404, path
    assert client.get(API + "recommendations/customer/agnes@example.com/").status_code == 404
    assert Client().get(API + f"recommendations/order/{order.external_id}/").status_code == 404

    # items, the catalogue and events are for any visitor of the site
    item = client.get(API + f"recommendations/item/{cleo.pk}/", {"record_impressions": "false"})
    assert item.status_code == 200 and item.json()["results"]
    assert client.get(API + "catalog/items/").json()["count"] == 3
    tokens = [r["token"] for r in item.json()["results"]]
    reported = Client().post(API + "events/impressions/", {"tokens": tokens}, content_type="application/json")
    assert reported.status_code == 201 and len(reported.json()["impressions"]) == len(tokens)
    clicked = Client().post(API + "events/click/", {"token": tokens[0]}, content_type="application/json")
    assert clicked.status_code == 201


def test_a_signed_in_customer_with_a_verified_email_sees_their_own_account_and_orders(
    oscar_shop: Any,  # noqa: F811
    settings: Any,
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "SHOPPER_EMAIL_VERIFIED": EMAIL_VERIFIED}
    cleo, _gleaners, store = oscar_shop
    ref = StoreRef("oscar", store.external_id)
    snap = get_adapter("oscar").product_to_item(cleo)
    line = PurchaseLine(snap, 1, snap.price)
    record_purchase(
        PurchaseEvent(ref, "claire-1", T0 + timedelta(days=9), "EUR", CustomerData("claire@example.com"), (line,))
    )
    claire = Customer.objects.for_store(store).get(email="claire@example.com")
    InAppMessage.objects.create(store=store, customer=claire, title="For you", payload={"recommendations": []})
    user = get_user_model().objects.create_user("claire", "Claire@Example.com", "s3cret-pass")
    verify_email(user)
    client = Client()
    client.force_login(user)

    assert client.get(API + "recommendations/order/claire-1/").status_code == 200  # hers, placed elsewhere
    assert client.get(API + "recommendations/customer/claire@example.com/").status_code == 200
    inbox = client.get(API + "customers/claire@example.com/messages/")
    assert inbox.status_code == 200 and inbox.json()["unread"] == 1
    message = InAppMessage.objects.get()
    read = client.post(API + f"customers/claire@example.com/messages/{message.pk}/read/")
    assert read.status_code == 200 and read.json()["read_at"]

    for path in (
        "recommendations/order/past-1/",
        "recommendations/customer/c1@example.com/",
        "customers/c1@example.com/messages/",
    ):
        assert client.get(API + path).status_code == 404, path  # c1 exists, but is not her


def test_staff_naming_no_store_are_shoppers_too(oscar_shop: Any) -> None:  # noqa: F811
    _cleo, _gleaners, store = oscar_shop
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(API + "recommendations/customer/c1@example.com/").status_code == 404
    named = client.get(API + "recommendations/customer/c1@example.com/", {"store": store.pk})
    assert named.status_code == 403  # being staff is not a permission for the store
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename="view_store"))
    client.force_login(get_user_model().objects.get(pk=staff.pk))
    named = client.get(API + "recommendations/customer/c1@example.com/", {"store": store.pk})
    assert named.status_code == 200  # with the permission and ?store= a staff user sees the whole store


def test_site_store_names_the_store_of_a_custom_site(store: Store, settings: Any) -> None:
    add_catalog(store)
    seed_history(STORE_REF)
    settings.CROSSSELL = {**settings.CROSSSELL, "SITE_STORE": f"{STORE_REF.platform}:{STORE_REF.external_id}"}
    response = Client().get(API + "recommendations/item/inception/")
    assert response.status_code == 200 and response.json()["results"]
    assert {i.store_id for i in Impression.objects.all()} == {store.pk}

    settings.CROSSSELL = {**settings.CROSSSELL, "SITE_STORE": "custom:no-such-store"}
    anonymous = Client().get(API + "recommendations/item/inception/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    client = Client()
    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    signed_in = client.get(API + "recommendations/item/inception/")
    assert signed_in.status_code == 403 and "SITE_STORE" in signed_in.json()["detail"]


def test_a_session_keeps_the_latest_orders_it_placed() -> None:
    session: dict[str, Any] = {}
    for n in range(SESSION_ORDERS_KEPT + 5):
        remember_order(session, f"o-{n}")
    remember_order(session, "o-10")  # again: moved to the end, not kept twice
    kept = session[SESSION_ORDERS]
    assert len(kept) == SESSION_ORDERS_KEPT and kept[-1] == "o-10" and kept.count("o-10") == 1
    assert "o-0" not in kept and "o-24" in kept
