"""The Stripe API calls crosssell makes, on a per-merchant ``StripeClient`` (never ``stripe.api_key``).

Each call returns plain dicts (the JSON Stripe documents) and turns the SDK's errors into
:class:`~crosssell_plugin.exceptions.PlatformAPIError` (with the HTTP status; 429 and 5xx are
retried by the webhook task). Lists are read to the end (``auto_paging_iter``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import stripe

from crosssell_plugin.exceptions import PlatformAPIError

from .models import StripeAccount

logger = logging.getLogger(__name__)

#: seconds before a Stripe call gives up (the worker retries later)
TIMEOUT = 20
#: the SDK's own retries of network errors and 409/429/5xx, with its backoff
NETWORK_RETRIES = 2

T = TypeVar("T")


def client_for(account: StripeAccount) -> stripe.StripeClient:
    """A client holding this merchant's key (and Connect account, if any), on its own HTTP session."""
    return stripe.StripeClient(
        account.secret_key,
        stripe_account=account.account_id or None,
        http_client=stripe.RequestsClient(timeout=TIMEOUT),
        max_network_retries=NETWORK_RETRIES,
    )


def _call(what: str, store_id: int, call: Callable[[], T]) -> T:
    try:
        return call()
    except stripe.StripeError as err:
        status = err.http_status
        logger.warning("Stripe %s failed for store %s: HTTP %s %s", what, store_id, status, err.user_message or "")
        raise PlatformAPIError(
            f"Stripe {what} failed: {err.user_message or type(err).__name__}",
            platform="Stripe",
            status_code=status,
            response_text=str(err.json_body or "")[:500],
        ) from err


def _dicts(listing: Any) -> Iterator[dict[str, Any]]:
    for obj in listing.auto_paging_iter():
        yield obj.to_dict()


def checkout_session(account: StripeAccount, session_id: str) -> dict[str, Any]:
    """``GET /v1/checkout/sessions/{id}``."""
    client = client_for(account)
    session = _call("session read", account.store_id, lambda: client.v1.checkout.sessions.retrieve(session_id))
    return session.to_dict()


def line_items(account: StripeAccount, session_id: str) -> list[dict[str, Any]]:
    """``GET /v1/checkout/sessions/{id}/line_items`` with ``price.product`` expanded, every page."""
    client = client_for(account)
    params: Any = {"limit": 100, "expand": ["data.price.product"]}
    return _call(
        "line items read",
        account.store_id,
        lambda: list(_dicts(client.v1.checkout.sessions.line_items.list(session_id, params=params))),
    )


def session_of_payment_intent(account: StripeAccount, payment_intent: str) -> dict[str, Any] | None:
    """The Checkout Session that created ``payment_intent`` (``GET /v1/checkout/sessions?payment_intent=``)."""
    client = client_for(account)
    params: Any = {"payment_intent": payment_intent, "limit": 1}
    found = _call("session lookup", account.store_id, lambda: client.v1.checkout.sessions.list(params=params))
    return found.data[0].to_dict() if found.data else None


def refunds_of_charge(account: StripeAccount, charge_id: str) -> list[dict[str, Any]]:
    """``GET /v1/refunds?charge=``, every page."""
    client = client_for(account)
    params: Any = {"charge": charge_id, "limit": 100}
    return _call("refunds read", account.store_id, lambda: list(_dicts(client.v1.refunds.list(params=params))))
