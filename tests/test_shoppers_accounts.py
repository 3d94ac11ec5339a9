"""Which orders and customers a signed-in shopper sees through the REST API: those their account
placed (``Order.account_id``), those placed in their browser, and those of their email only once
``CROSSSELL["SHOPPER_EMAIL_VERIFIED"]`` says the email is theirs. Django and Oscar sign accounts
up without checking the address, so an account that merely claims a guest's email sees nothing of
the guest's. Orders are placed through Oscar's real checkout."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse
from oscar.core.loading import get_model

from crosssell_plugin.checks import check_email_verified
from crosssell_plugin.conf import SETTINGS
from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Customer, InAppMessage, Order, Store
from crosssell_plugin.shoppers import allauth_email_verified, email_verified
from integrations.base import get_adapter
from tests.integrations.oscar.conftest import Checkout

from .conftest import purchase_event
from .shoppers_support import EMAIL_VERIFIED, verify_email
from .test_api import API
from .test_recommend import T0
from .test_surfaces import oscar_shop  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

OscarOrder = get_model("order", "Order")
VICTIM = "agnes@example.com"


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Fresh model storage, no cached model or block, no throttle history (tests/conftest.py)."""


def signed_in(user: Any) -> Client:
    """A browser of its own (nothing in its session) where ``user`` is signed in."""
    client = Client()
    client.force_login(user)
    return client


def buy_signed_in(client: Client, product: Any, capture_on_commit: Any) -> Any:
    """Oscar's checkout of one digital product by the user signed in on ``client``."""
    checkout = Checkout(client)
    checkout.add_to_basket(product)
    checkout.start_logged_in()
    checkout.choose_method_and_pay()
    with capture_on_commit(execute=True):
        response = checkout.place_order()
    assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you")
    return OscarOrder.objects.order_by("-pk").first()


def guest_order(client: Client, product: Any, email: str, capture_on_commit: Any, store: Store) -> Order:
    number = Checkout(client).buy_as_guest(product, email, capture_on_commit).number
    return Order.objects.for_store(store).get(external_id=number)


def customer_statuses(client: Client, email: str, message: InAppMessage) -> dict[str, int]:
    """What the customer's own endpoints answer this browser."""
    return {
        "recommendations": client.get(API + f"recommendations/customer/{email}/").status_code,
        "messages": client.get(API + f"customers/{email}/messages/").status_code,
        "read": client.post(API + f"customers/{email}/messages/{message.pk}/read/").status_code,
    }


def order_status(client: Client, order: Order) -> int:
    return client.get(API + f"recommendations/order/{order.external_id}/").status_code


def test_an_account_claiming_a_guests_email_sees_nothing_of_the_guest(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, _gleaners, store = oscar_shop
    order = guest_order(client, cleo, VICTIM, django_capture_on_commit_callbacks, store)
    assert order.account_id == ""  # a guest's order is no account's
    message = InAppMessage.objects.create(store=store, customer=order.customer, title="For you", payload={})
    # anyone may sign up with the guest's address: Django does not check it (no allauth here)
    impostor = get_user_model().objects.create_user("mallory", "Agnes@Example.com", "pw")

    browser = signed_in(impostor)
    assert order_status(browser, order) == 404
    assert customer_statuses(browser, VICTIM, message) == {"recommendations": 404, "messages": 404, "read": 404}
    message.refresh_from_db()
    assert message.read_at is None

    # the guest's own browser still sees the order it placed (the session's list), and nothing more
    assert order_status(client, order) == 200
    assert customer_statuses(client, VICTIM, message)["recommendations"] == 404


def test_an_account_sees_the_orders_it_placed_and_not_the_other_orders_of_its_email(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, gleaners, store = oscar_shop
    guests = guest_order(client, cleo, VICTIM, django_capture_on_commit_callbacks, store)
    message = InAppMessage.objects.create(store=store, customer=guests.customer, title="For you", payload={})
    impostor = get_user_model().objects.create_user("mallory", "Agnes@Example.com", "pw")
    placed = buy_signed_in(signed_in(impostor), gleaners, django_capture_on_commit_callbacks)

    own = Order.objects.for_store(store).get(external_id=placed.number)
    assert own.account_id == str(impostor.pk)  # the Oscar integration names the account
    assert own.customer == guests.customer  # one customer per email: the guest's purchases are in it

    phone = signed_in(impostor)  # another browser: only the account speaks for it
    assert order_status(phone, own) == 200
    assert order_status(phone, guests) == 404
    # the customer's recommendations and messages come from the guest's purchases too
    assert customer_statuses(phone, VICTIM, message) == {"recommendations": 404, "messages": 404, "read": 404}

    other = get_user_model().objects.create_user("someone", "other@example.com", "pw")
    assert order_status(signed_in(other), own) == 404
    assert order_status(Client(), own) == 404


def test_an_account_that_placed_every_order_of_its_customer_sees_that_customer(
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, _gleaners, store = oscar_shop
    claire = get_user_model().objects.create_user("claire", "claire@example.com", "pw")
    placed = buy_signed_in(signed_in(claire), cleo, django_capture_on_commit_callbacks)
    customer = Customer.objects.for_store(store).get(email="claire@example.com")
    message = InAppMessage.objects.create(store=store, customer=customer, title="For you", payload={})

    phone = signed_in(claire)
    recommendations = phone.get(API + "recommendations/customer/claire@example.com/")
    assert recommendations.status_code == 200 and recommendations.json()["results"]
    inbox = phone.get(API + "customers/claire@example.com/messages/")
    assert inbox.status_code == 200 and inbox.json()["unread"] == 1

    # an order of the same address that no account placed (a guest's, say) may be someone else's
    ref = StoreRef("oscar", store.external_id)
    snap = get_adapter("oscar").product_to_item(cleo)
    record_purchase(
        PurchaseEvent(
            ref, "elsewhere-1", T0, "EUR", CustomerData("claire@example.com"), (PurchaseLine(snap, 1, snap.price),)
        )
    )
    assert customer_statuses(phone, "claire@example.com", message) == {
        "recommendations": 404,
        "messages": 404,
        "read": 404,
    }
    assert order_status(phone, Order.objects.for_store(store).get(external_id=placed.number)) == 200


def test_a_verified_email_sees_the_orders_and_the_customer_of_that_email(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "SHOPPER_EMAIL_VERIFIED": EMAIL_VERIFIED}
    cleo, _gleaners, store = oscar_shop
    guests = guest_order(client, cleo, VICTIM, django_capture_on_commit_callbacks, store)
    message = InAppMessage.objects.create(store=store, customer=guests.customer, title="For you", payload={})
    agnes = get_user_model().objects.create_user("agnes", "Agnes@Example.com", "pw")
    browser = signed_in(agnes)
    assert order_status(browser, guests) == 404  # not verified yet

    verify_email(agnes)

    assert order_status(browser, guests) == 200
    assert customer_statuses(browser, VICTIM, message) == {"recommendations": 200, "messages": 200, "read": 200}
    # a verified address is no key to anyone else's
    assert order_status(browser, Order.objects.for_store(store).get(external_id="past-0")) == 404
    assert browser.get(API + "recommendations/customer/c0@example.com/").status_code == 404
    nobody = get_user_model().objects.create_user("nobody", "", "pw")
    verify_email(nobody)
    assert order_status(signed_in(nobody), guests) == 404


def test_only_a_plain_true_is_a_verified_email(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, _gleaners, store = oscar_shop
    guests = guest_order(client, cleo, VICTIM, django_capture_on_commit_callbacks, store)
    agnes = get_user_model().objects.create_user("agnes", VICTIM, "pw")
    settings.CROSSSELL = {**settings.CROSSSELL, "SHOPPER_EMAIL_VERIFIED": "tests.shoppers_support.says_yes"}
    assert email_verified(agnes) is False
    assert order_status(signed_in(agnes), guests) == 404


def test_by_default_an_email_is_verified_only_by_allauth(settings: Any) -> None:
    assert SETTINGS["SHOPPER_EMAIL_VERIFIED"].default == "crosssell_plugin.shoppers.allauth_email_verified"
    user = get_user_model().objects.create_user("agnes", VICTIM, "pw")
    assert "allauth.account" not in settings.INSTALLED_APPS
    assert allauth_email_verified(user) is False  # nothing checked the address
    assert email_verified(user) is False


def test_a_staff_session_naming_the_store_and_an_api_key_see_every_order(
    client: Client,
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.contrib.auth.models import Permission

    from crosssell_plugin.models import ApiKey

    cleo, _gleaners, store = oscar_shop
    guests = guest_order(client, cleo, VICTIM, django_capture_on_commit_callbacks, store)
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename="view_store"))
    path = API + f"recommendations/order/{guests.external_id}/"
    assert signed_in(staff).get(path, {"store": store.pk}).status_code == 200
    _key, raw = ApiKey.create_key(store, "backend")
    assert Client().get(path, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


# --- the setting's system check ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.shoppers_support.no_such_function", "cannot be imported"),
        ("tests.no_such_module.email_verified", "cannot be imported"),
        ("tests.shoppers_support.NOT_CALLABLE", "is a int, not a function"),
    ],
)
def test_a_verification_function_that_cannot_be_called_fails_the_checks(settings: Any, path: str, problem: str) -> None:
    settings.CROSSSELL = {"SHOPPER_EMAIL_VERIFIED": path}
    [error] = check_email_verified()
    assert error.id == "crosssell.E004" and error.level == checks.ERROR
    assert path in error.msg and problem in error.msg and '"SHOPPER_EMAIL_VERIFIED"' in error.hint
    with pytest.raises(SystemCheckError, match=r"crosssell\.E004"):
        call_command("check")


def test_the_verification_setting_checks_pass_for_the_default_and_a_function(settings: Any) -> None:
    settings.CROSSSELL = {}
    assert check_email_verified() == []
    settings.CROSSSELL = {"SHOPPER_EMAIL_VERIFIED": EMAIL_VERIFIED}
    assert check_email_verified() == []
    settings.CROSSSELL = {"SHOPPER_EMAIL_VERIFIED": "not a path"}
    assert check_email_verified() == []  # crosssell.E003 reports it
    with pytest.raises(SystemCheckError, match=r"crosssell\.E003.*SHOPPER_EMAIL_VERIFIED"):
        call_command("check")


# --- the account on the event and the order ----------------------------------------------------


def test_a_purchase_event_carries_the_account_through_its_dict() -> None:
    event = purchase_event(account_id="  42 ")
    assert event.account_id == "42"
    data = event.to_dict()
    assert data["account_id"] == "42"
    assert PurchaseEvent.from_dict(data) == event
    del data["account_id"]  # a dict written before accounts were recorded
    assert PurchaseEvent.from_dict(data).account_id == ""
    assert purchase_event().account_id == ""


@pytest.mark.parametrize(
    ("account_id", "message"),
    [(42, "must be text, got int"), ("x" * 256, "the limit is 255"), ("4\x002", "control character")],
)
def test_a_bad_account_id_is_refused_by_name(account_id: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        purchase_event(account_id=account_id)
    assert raised.value.field == "account_id" and message in str(raised.value)
    with pytest.raises(InvalidEvent) as raised:
        PurchaseEvent.from_dict({**purchase_event().to_dict(), "account_id": account_id})
    assert raised.value.field == "account_id"


def test_an_order_keeps_the_account_that_placed_it(store: Store) -> None:
    assert record_purchase(purchase_event("a-1", account_id="7")).order.account_id == "7"
    # recorded before accounts were: a re-delivery (a backfill) names it
    assert record_purchase(purchase_event("a-2")).order.account_id == ""
    assert record_purchase(purchase_event("a-2", account_id="7")).order.account_id == "7"
    # once recorded, no delivery hands the order to another account
    assert record_purchase(purchase_event("a-2", account_id="8")).order.account_id == "7"
    assert record_purchase(purchase_event("a-2")).order.account_id == "7"
    assert dict(Order.objects.for_store(store).values_list("external_id", "account_id")) == {"a-1": "7", "a-2": "7"}


def test_a_backfill_names_the_account_of_oscar_orders_recorded_before_accounts_were(
    oscar_shop: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, _gleaners, store = oscar_shop
    claire = get_user_model().objects.create_user("claire", "claire@example.com", "pw")
    placed = buy_signed_in(signed_in(claire), cleo, django_capture_on_commit_callbacks)
    Order.objects.for_store(store).filter(external_id=placed.number).update(account_id="")  # an older order
    phone = signed_in(claire)
    order = Order.objects.for_store(store).get(external_id=placed.number)
    assert order_status(phone, order) == 404

    call_command("crosssell_sync", "--store", f"oscar:{store.external_id}", "--orders", stdout=StringIO())

    order.refresh_from_db()
    assert order.account_id == str(claire.pk) and order_status(phone, order) == 200


def test_the_admin_shows_the_account_of_an_order_read_only(admin_client: Client, store: Store) -> None:
    order = record_purchase(purchase_event("a-1", account_id="account-7")).order
    page = admin_client.get(reverse("admin:crosssell_order_change", args=[order.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and "account-7" in body and 'name="account_id"' not in body
