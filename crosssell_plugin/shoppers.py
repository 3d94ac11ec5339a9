"""Shoppers on the store's own pages: which store the site serves, and what a visitor's session may
ask the API about.

A page of the site (its thank-you page, an account page, an item page) may call the REST API with
the visitor's own session instead of an API key. Such a caller is a *shopper* of the site's store
(:func:`site_store`) and may see:

* what goes with an item, the catalogue, and send impression and click events (the tokens are
  the capability);
* recommendations after an order this browser placed (:func:`remember_order`, which the Oscar
  integration calls when Oscar's checkout completes) or an order of the signed-in user;
* the signed-in user's own next-order recommendations and in-app messages (by the account's email).

Anything else is answered as if it did not exist (404), so a visitor cannot probe other
customers' orders or addresses.
"""

from __future__ import annotations

from typing import Any

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
    (``"platform:external_id"``), else the Oscar store when ``integrations.oscar`` is installed, else
    None."""
    configured = crosssell_settings.SITE_STORE
    if configured:
        platform, _, external_id = configured.partition(":")
        return platform, external_id
    return platforms.site_store_ref()  # an in-process platform's store (a django-oscar shop), if installed


def oscar_store_external_id() -> str:
    """The external id of the django-oscar shop's Store (``PLATFORMS["oscar"]["STORE_EXTERNAL_ID"]``)."""
    return str(crosssell_settings.platform_overrides("oscar").get("STORE_EXTERNAL_ID", "default"))


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


def _account_email(request: Any) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    return (getattr(user, "email", "") or "").strip().lower()


def is_shopper(request: Any) -> bool:
    """The caller is a visitor of the site's pages (set by the API's ``HasStore``), not an API key
    or a staff user naming a store."""
    return bool(getattr(request, "crosssell_shopper", False))


def may_see_order(request: Any, order: Order) -> bool:
    """Any order of the caller's store for a key or staff; for a shopper, only an order placed in
    this browser or belonging to the signed-in user's email."""
    if not is_shopper(request):
        return True
    session = getattr(request, "session", None)
    if session is not None and order.external_id in session.get(SESSION_ORDERS, []):
        return True
    email = _account_email(request)
    return bool(email) and order.customer.email == email


def may_see_customer(request: Any, customer: Customer) -> bool:
    """Any customer of the caller's store for a key or staff; for a shopper, only the signed-in
    user (by the account's email)."""
    if not is_shopper(request):
        return True
    email = _account_email(request)
    return bool(email) and customer.email == email
