"""Stripe fixtures: a merchant's Store and account, and Stripe's API faked with ``responses``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from crosssell_plugin.models import Store
from integrations.stripe.models import StripeAccount

from .api import (
    ASYNC_SESSION_ID,
    CHARGE_ID,
    PAYMENT_INTENT,
    SECRET_KEY,
    SESSION_ID,
    WEBHOOK_SECRET,
    body_of,
    fixture,
    mock_stripe_api,
    signature,
)

__all__ = [
    "ASYNC_SESSION_ID",
    "CHARGE_ID",
    "PAYMENT_INTENT",
    "SESSION_ID",
    "body_of",
    "fixture",
    "make_store",
    "mock_stripe_api",
    "signature",
]


def make_store(external_id: str = "acct_1Shop") -> Store:
    store = Store.objects.create(platform="stripe", external_id=external_id, name="Films on Stripe", currency="EUR")
    StripeAccount.objects.create(store=store, secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    return store


@pytest.fixture
def stripe_store(db: Any) -> Store:
    return make_store()


@pytest.fixture
def stripe_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        yield rsps
