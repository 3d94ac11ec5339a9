"""Shoppers on the store's own pages: which store the site serves, and what a visitor's session may
ask the API about.

A page of the site (its thank-you page, an account page, an item page) may call the REST API with
the visitor's own session instead of an API key. Such a caller is a *shopper* of the site's store
(:func:`site_store`) and may see:

* what goes with an item, the catalogue, and send impression and click events (the tokens are
  the capability);
* recommendations after an order this browser placed (:func:`remember_order`, which an
  integration calls when the platform's checkout completes) or an order the signed-in account
  placed (``Order.account_id``, which an integration whose customers are the site's users fills);
* the next-order recommendations and in-app messages of a customer all of whose orders the
  signed-in account placed.

An email address alone proves nothing: Django (and the stores built on it) sign accounts up
without checking the address, so anyone may register with someone else's. Only when
``CROSSSELL["SHOPPER_EMAIL_VERIFIED"]`` says the account's email is verified (by default,
django-allauth's verified flag) does the account also see the orders and the customer with that
email.

Anything else is answered as if it did not exist (404), so a visitor cannot probe other
customers' orders or addresses.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Count, Q
from django.utils.module_loading import import_string

from . import platforms
from .conf import crosssell_settings
from .models import Customer, Order, Store
from .recommend import store_of

#: the session key holding the external ids of the orders this browser placed
SESSION_ORDERS = "crosssell_orders"
#: how many of them the session keeps (the latest)
SESSION_ORDERS_KEPT = 20


def site_store_ref() -> tuple[str, str] | None:
    """(platform, external id) of the store whose pages this site serves: ``CROSSSELL["SITE_STORE"]``
    (``"platform:external_id"``), else the store of an installed platform that runs inside the site
    (the django-oscar shop when ``integrations.oscar`` is installed), else None."""
    configured = crosssell_settings.SITE_STORE
    if configured:
        platform, _, external_id = configured.partition(":")
        return platform, external_id
    return platforms.site_store_ref()


def site_store() -> Store | None:
    """The Store of :func:`site_store_ref` (read at most every ``MODEL_CHECK_SECONDS``), or None."""
    ref = site_store_ref()
    return store_of(*ref) if ref is not None else None


def remember_order(session: Any, external_id: str) -> None:
    """Let this browser's session ask the API about an order it has just placed (a guest has no
    account that would prove it is theirs). The latest :data:`SESSION_ORDERS_KEPT` are kept."""
    external_id = str(external_id)
    kept = [value for value in session.get(SESSION_ORDERS, []) if value != external_id]
    session[SESSION_ORDERS] = [*kept, external_id][-SESSION_ORDERS_KEPT:]


# --- whose email is verified -------------------------------------------------------------


def allauth_email_verified(user: Any) -> bool:
    """The default ``SHOPPER_EMAIL_VERIFIED``: django-allauth's verified flag of the user's own
    address (an ``EmailAddress`` of this user with that email, verified); False when
    ``allauth.account`` is not installed, since nothing then checks the address."""
    email = (getattr(user, "email", "") or "").strip()
    if not email or not apps.is_installed("allauth.account"):
        return False
    addresses = apps.get_model("account", "EmailAddress")._default_manager
    return bool(addresses.filter(user=user, email__iexact=email, verified=True).exists())


def email_verified(user: Any) -> bool:
    """Whether ``user``'s email is theirs, as ``CROSSSELL["SHOPPER_EMAIL_VERIFIED"]`` says (only a
    plain True counts)."""
    check = import_string(crosssell_settings.SHOPPER_EMAIL_VERIFIED)
    return check(user) is True


# --- what a shopper may see --------------------------------------------------------------


def is_shopper(request: Any) -> bool:
    """The caller is a visitor of the site's pages (set by the API's ``HasStore``), not an API key
    or a staff user naming a store."""
    return bool(getattr(request, "crosssell_shopper", False))


def _account(request: Any) -> Any:
    """The signed-in user, or None."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated and user.pk is not None else None


def _verified_email_is(user: Any, email: str) -> bool:
    """``email`` is the account's address, and the account's address is verified."""
    own = (getattr(user, "email", "") or "").strip().lower()
    return bool(own) and own == email and email_verified(user)


def _placed_in_this_browser(request: Any, order: Order) -> bool:
    session = getattr(request, "session", None)
    return session is not None and order.external_id in session.get(SESSION_ORDERS, [])


def may_see_order(request: Any, order: Order) -> bool:
    """Any order of the caller's store for a key or staff; for a shopper, an order placed in this
    browser, or placed by the signed-in account, or of the account's email once it is verified."""
    if not is_shopper(request):
        return True
    if _placed_in_this_browser(request, order):
        return True
    user = _account(request)
    if user is None:
        return False
    if order.account_id and order.account_id == str(user.pk):
        return True
    return _verified_email_is(user, order.customer.email)


def may_see_customer(request: Any, customer: Customer) -> bool:
    """Any customer of the caller's store for a key or staff; for a shopper, the customer whose
    orders the signed-in account placed, every one of them (a customer is everyone who bought
    with one email: a guest order of the same address may be someone else's), or the customer of
    the account's email once it is verified."""
    if not is_shopper(request):
        return True
    user = _account(request)
    if user is None:
        return False
    if _verified_email_is(user, customer.email):
        return True
    orders = Order.objects.for_store(customer.store_id).filter(customer=customer).order_by()
    counted = orders.aggregate(everyone=Count("pk"), account=Count("pk", filter=Q(account_id=str(user.pk))))
    return bool(counted["account"]) and counted["account"] == counted["everyone"]
