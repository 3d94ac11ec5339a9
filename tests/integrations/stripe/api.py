"""Stripe's side, faked: the fixtures (shaped as Stripe documents them, tests/fixtures/stripe/),
signatures computed as Stripe documents them, and ``responses`` answers for every API call the
adapter makes. No Django models here: a worker's settings module may import it."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import responses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
API = "https://api.stripe.com"
SECRET_KEY = "sk_test_51Shop0000000000000000000000000000"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef0123456789abcdef"
SESSION_ID = "cs_test_a1Jq7XHx3Tq5VnWq2vG8LrY6sPd0bNcE4fKzM9uRt"
ASYNC_SESSION_ID = "cs_test_b2Kr8YIy4Ur6WoXr3wH9MsZ7tQe1cOdF5gLaN0vSu"
PAYMENT_INTENT = "pi_3QmR2uLkdIwHu7ix0v1nZ3cD"
CHARGE_ID = "ch_3QmR2uLkdIwHu7ix0qWb4nTe"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def body_of(name: str, **changes: Any) -> bytes:
    """The JSON body of the event fixture ``name``, with top-level ``changes``."""
    event = fixture(name)
    event.update(changes)
    return json.dumps(event).encode()


def signature(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header computed as Stripe documents it (HMAC-SHA256 of "t.body")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def mock_stripe_api(rsps: responses.RequestsMock) -> None:
    """Stripe's answers to every call the adapter makes for the fixtures' session and charge."""
    line_items = fixture("line_items")
    auth = responses.matchers.header_matcher({"Authorization": f"Bearer {SECRET_KEY}"})
    for session_id in (SESSION_ID, ASYNC_SESSION_ID):
        items = copy.deepcopy(line_items)
        items["url"] = f"/v1/checkout/sessions/{session_id}/line_items"
        rsps.get(f"{API}/v1/checkout/sessions/{session_id}/line_items", json=items, match=[auth])
    rsps.get(f"{API}/v1/checkout/sessions/{SESSION_ID}", json=fixture("checkout_session"), match=[auth])
    rsps.get(
        f"{API}/v1/checkout/sessions",
        json=fixture("sessions_by_payment_intent"),
        match=[auth, responses.matchers.query_param_matcher({"payment_intent": PAYMENT_INTENT, "limit": "1"})],
    )
    rsps.get(
        f"{API}/v1/refunds",
        json=fixture("refunds"),
        match=[auth, responses.matchers.query_param_matcher({"charge": CHARGE_ID, "limit": "100"})],
    )
