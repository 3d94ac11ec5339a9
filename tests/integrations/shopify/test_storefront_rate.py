"""The per-shop limit on the storefront endpoints (``STOREFRONT_RATE``): past it the extension
endpoint and the App Proxy answer 429 with Retry-After (the extension's with its CORS headers),
each endpoint and each shop counted on its own, and a new window lets the shop in again. The
project's real cache; the clock is stopped at T0 by the ``installed`` fixture."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from integrations.shopify import conf, throttle
from integrations.shopify.models import ShopifyShop

from .conftest import OTHER_DOMAIN, T0, app_options, install_shop
from .shop_data import CUSTOMER_ID, merch_catalog, order, other_orders
from .test_app_proxy import get, proxied
from .test_extension_endpoint import ask, assert_cors, token

pytestmark = pytest.mark.usefixtures("shopify_app")


@pytest.fixture
def shop(installed: ShopifyShop, settings: Any) -> ShopifyShop:
    cache.clear()
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(STOREFRONT_RATE="2/min")}}
    merch_catalog(installed.store)
    other_orders(installed.store)
    order(installed.store)
    return installed


def seconds_to_next_minute() -> int:
    return max(1, math.ceil((int(T0.timestamp()) // 60 + 1) * 60 - T0.timestamp()))


def test_the_extension_endpoint_answers_429_past_the_rate_with_cors_and_retry_after(
    client: Client, shop: ShopifyShop, clock: Any
) -> None:
    assert [ask(client, token()).status_code for _ in range(2)] == [200, 200]
    refused = ask(client, token())
    assert refused.status_code == 429
    assert_cors(refused)
    assert int(refused["Retry-After"]) == seconds_to_next_minute()
    assert "Too many requests for" in refused.json()["detail"]
    clock.move_to(T0 + timedelta(seconds=seconds_to_next_minute()))
    assert ask(client, token()).status_code == 200


def test_the_app_proxy_is_counted_apart_from_the_extension(client: Client, shop: ShopifyShop) -> None:
    assert [ask(client, token()).status_code for _ in range(3)] == [200, 200, 429]
    assert [get(client, proxied(customer=CUSTOMER_ID)).status_code for _ in range(2)] == [200, 200]
    refused = get(client, proxied(customer=CUSTOMER_ID))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == seconds_to_next_minute()


def test_an_unsigned_request_does_not_use_the_shops_allowance(client: Client, shop: ShopifyShop) -> None:
    for _ in range(5):
        assert get(client, proxied(customer=CUSTOMER_ID, secret="not the secret")).status_code == 401
        assert ask(client, "not-a-token").status_code == 401
    assert get(client, proxied(customer=CUSTOMER_ID)).status_code == 200


def test_each_shop_has_its_own_allowance(shop: ShopifyShop) -> None:
    install_shop(OTHER_DOMAIN)
    now = T0.timestamp()
    assert [throttle.retry_after(shop.domain, "extension", now) for _ in range(3)] == [
        None,
        None,
        seconds_to_next_minute(),
    ]
    assert throttle.retry_after(OTHER_DOMAIN, "extension", now) is None


@pytest.mark.parametrize("value", ["600", "0/min", "10/week", 600])
def test_a_rate_must_be_written_as_requests_per_period(value: Any) -> None:
    problems = dict(conf.value_problems(app_options(STOREFRONT_RATE=value)))
    assert "must be a rate such as" in problems["STOREFRONT_RATE"]


def test_the_default_rate_is_generous_for_a_busy_shop() -> None:
    assert throttle.parse_rate(conf.OPTION_DEFAULTS["STOREFRONT_RATE"]) == (6000, 60)
