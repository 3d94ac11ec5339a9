"""Shopify app fixtures: the app's credentials, signed install queries, session tokens, installed
shops, and Shopify's token endpoint faked with ``responses``.

The install/auth tests opt in with ``pytestmark = pytest.mark.usefixtures("shopify_app")`` (the
client, offers and payload tests in this folder need none of it)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
import time_machine

from crosssell_plugin.models import Store
from integrations.shopify.auth import TokenSet
from integrations.shopify.installs import record_install
from integrations.shopify.models import ShopifyShop

FIXTURES = Path(__file__).parent / "fixtures"

#: the app's client id and secret (at least 32 bytes: PyJWT warns about shorter HMAC keys)
API_KEY = "2f7c1a9e4b8d3c6f0e5a1b7d9c3e8f4a"
API_SECRET = "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"
OLD_SECRET = "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"
APP_URL = "https://crosssell.example.com"

DOMAIN = "films-on-demand.myshopify.com"
OTHER_DOMAIN = "course-school.myshopify.com"
#: the moment the tests run at (the clock is frozen there)
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def app_options(**overrides: Any) -> dict[str, Any]:
    return {"API_KEY": API_KEY, "API_SECRET": API_SECRET, "APP_URL": APP_URL, **overrides}


@pytest.fixture
def shopify_app(settings: Any) -> Any:
    """The app configured (credentials, APP_URL) and its URLs routed (the test URLconf)."""
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options()}}
    settings.ROOT_URLCONF = "tests.integrations.shopify.urls"
    return settings


@pytest.fixture
def clock() -> Iterator[Any]:
    """The clock stopped at T0 (move it with ``clock.move_to(...)``)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def shopify_http() -> Iterator[responses.RequestsMock]:
    """Shopify's HTTP faked: a request no test registered fails."""
    with responses.RequestsMock() as rsps:
        yield rsps


def token_url(domain: str = DOMAIN) -> str:
    return f"https://{domain}/admin/oauth/access_token"


def documented_hmac(params: dict[str, str], secret: str = API_SECRET) -> str:
    """The hmac as Shopify's docs define it, written out here independently of the code under test:
    hex HMAC-SHA256 of the parameters but ``hmac``, ``k=v`` sorted and joined with ``&``
    (``%`` and ``&`` escaped; the values used in these tests need nothing else)."""
    pairs = sorted(
        f"{k}={v.replace('%', '%25').replace('&', '%26')}" for k, v in params.items() if k not in ("hmac", "signature")
    )
    return hmac.new(secret.encode(), "&".join(pairs).encode(), hashlib.sha256).hexdigest()


def signed(params: dict[str, str], *, at: datetime = T0, secret: str = API_SECRET, **changes: str) -> dict[str, str]:
    """``params`` with ``changes``, stamped ``at`` and signed as Shopify signs them."""
    query = {k: v for k, v in params.items() if k != "hmac"} | changes | {"timestamp": str(int(at.timestamp()))}
    return query | {"hmac": documented_hmac(query, secret)}


def session_token(
    name: str = "token_session_admin", *, at: datetime = T0, lifetime: int = 60, secret: str = API_SECRET, **claims: Any
) -> str:
    """A session token shaped like the fixture ``name``, issued ``at``, signed HS256 with ``secret``;
    a claim given as None is left out."""
    payload = fixture(name) | {
        "iat": int(at.timestamp()),
        "nbf": int(at.timestamp()),
        "exp": int(at.timestamp()) + lifetime,
    }
    payload |= claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


def tokens(name: str = "token_offline_expiring", *, issued_at: datetime = T0) -> TokenSet:
    return TokenSet.from_response(fixture(name), issued_at=issued_at)


def install_shop(
    domain: str = DOMAIN, name: str = "token_offline_expiring", *, issued_at: datetime = T0
) -> ShopifyShop:
    """A shop that installed the app (through ``record_install``, as the callback does)."""
    return record_install(domain, tokens(name, issued_at=issued_at))


@pytest.fixture
def installed(shopify_app: Any, clock: Any, db: Any) -> ShopifyShop:
    return install_shop()


def store_of(domain: str) -> Store:
    return Store.objects.get(platform="shopify", external_id=domain)


def serve_first_sync(rsps: responses.RequestsMock, domain: str = DOMAIN) -> None:
    """Shopify's answers to the first full sync an install starts (``SYNC_ON_INSTALL``): the shop,
    its product count, two pages of products, two pages of orders (the ``graphql_sync_*`` fixtures)."""
    endpoint = f"https://{domain}/admin/api/2026-07/graphql.json"
    for name in (
        "graphql_sync_shop",
        "graphql_sync_products_count",
        "graphql_sync_products_page1",
        "graphql_sync_products_page2",
        "graphql_sync_orders_page1",
        "graphql_sync_orders_page2",
    ):
        rsps.post(endpoint, json=fixture(name))
