"""The App Proxy endpoint: Shopify's signature (written out here as Shopify documents it), the shop,
the logged-in customer, item-to-item answers and the Liquid snippet."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.test import Client

from crosssell_plugin.models import Impression
from integrations.shopify.auth import InvalidShopifyRequest
from integrations.shopify.models import ShopifyShop
from integrations.shopify.proxy import sign, signed_message, verify

from .conftest import API_SECRET, DOMAIN, OLD_SECRET, T0, app_options
from .shop_data import CUSTOMER_ID, as_dict, merch_catalog, order, other_orders

pytestmark = pytest.mark.usefixtures("shopify_app")

URL = "/shopify/proxy/recommendations/"


@pytest.fixture
def shop(installed: ShopifyShop) -> ShopifyShop:
    merch_catalog(installed.store)
    other_orders(installed.store)
    order(installed.store)
    return installed


def documented_signature(pairs: list[tuple[str, str]], secret: str = API_SECRET) -> str:
    """Shopify's App Proxy signature, from its docs: every parameter but ``signature``, values of a
    repeated key joined with ",", ``key=value`` sorted, concatenated without separators."""
    joined: dict[str, list[str]] = {}
    for key, value in pairs:
        joined.setdefault(key, []).append(value)
    message = "".join(sorted(f"{key}={','.join(values)}" for key, values in joined.items() if key != "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxied(*, customer: str = "", secret: str = API_SECRET, at: Any = T0, **extra: str) -> list[tuple[str, str]]:
    pairs = [
        ("shop", DOMAIN),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/crosssell"),
        ("timestamp", str(int(at.timestamp()))),
        *extra.items(),
    ]
    return [*pairs, ("signature", documented_signature(pairs, secret))]


def get(client: Client, pairs: list[tuple[str, str]]) -> Any:
    return client.get(f"{URL}?{urlencode(pairs)}")


def test_shopifys_documented_example_signs_to_its_documented_signature() -> None:
    """The example of shopify.dev's "Authenticate app proxies" page (secret "hush", a repeated key)."""
    query = QueryDict(
        "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews"
        "&timestamp=1317327555&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
    )
    assert signed_message(query) == (
        b"extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviewsshop=shop-name.myshopify.com"
        b"timestamp=1317327555"
    )
    assert sign(query, "hush") == query["signature"]
    with pytest.raises(InvalidShopifyRequest, match="seconds old"):  # signed right, but from 2011
        verify(query, secrets=["hush"])


def test_a_logged_in_customer_gets_what_they_may_buy_next(client: Client, shop: ShopifyShop) -> None:
    response = get(client, proxied(customer=CUSTOMER_ID))
    assert response.status_code == 200
    body = as_dict(response)
    assert body["placement"] == "next_order"
    ids = [item["id"] for item in body["items"]]
    assert len(ids) == 4 and "8123456789011" not in ids  # Ada has the T-shirt
    assert all(item["click_url"].startswith("https://crosssell.example.com/crosssell/r/") for item in body["items"])
    assert all("offer" not in item for item in body["items"])
    impressions = Impression.objects.for_store(shop.store)
    assert impressions.count() == 4
    assert set(impressions.values_list("placement", "customer__external_id")) == {("next_order", CUSTOMER_ID)}


def test_a_product_page_gets_what_goes_with_the_product(client: Client, shop: ShopifyShop) -> None:
    response = get(client, proxied(product_id="8123456789012"))
    body = as_dict(response)
    assert response.status_code == 200 and body["placement"] == "item_page"
    ids = [item["id"] for item in body["items"]]
    assert len(ids) == 4 and "8123456789012" not in ids
    assert set(Impression.objects.values_list("placement", "customer")) == {("item_page", None)}


def test_an_anonymous_visitor_without_a_product_gets_nothing(client: Client, shop: ShopifyShop) -> None:
    body = as_dict(get(client, proxied()))
    assert body == {"placement": "next_order", "items": []}
    assert not Impression.objects.exists()


def test_an_unknown_customer_gets_nothing(client: Client, shop: ShopifyShop) -> None:
    assert as_dict(get(client, proxied(customer="424242")))["items"] == []


def test_the_liquid_snippet_is_sent_as_application_liquid(client: Client, shop: ShopifyShop) -> None:
    response = get(client, proxied(customer=CUSTOMER_ID, format="liquid"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/liquid")
    html = response.content.decode()
    assert html.startswith('<ul class="crosssell-recommendations">') and html.count("<li ") == 4
    assert "https://crosssell.example.com/crosssell/r/" in html


def test_a_signature_made_with_the_previous_secret_is_accepted_while_rotating(
    client: Client, shop: ShopifyShop, settings: Any
) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(OLD_API_SECRET=OLD_SECRET)}}
    assert get(client, proxied(customer=CUSTOMER_ID, secret=OLD_SECRET)).status_code == 200


def bent(pairs: list[tuple[str, str]], how: str) -> list[tuple[str, str]]:
    if how == "changed customer":
        return [(k, "7000" if k == "logged_in_customer_id" else v) for k, v in pairs]
    if how == "other secret":
        return proxied(customer=CUSTOMER_ID, secret="shpss_" + "y" * 32)
    if how == "no signature":
        return [(k, v) for k, v in pairs if k != "signature"]
    if how == "two shops":
        return [*pairs, ("shop", "other.myshopify.com")]
    if how == "stale":
        return proxied(customer=CUSTOMER_ID, at=T0 - timedelta(minutes=10))
    if how == "added product":
        return [*pairs, ("product_id", "8123456789012")]
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "detail"),
    [
        ("changed customer", "does not match"),
        ("other secret", "does not match"),
        ("no signature", "no signature"),
        ("two shops", "'shop' appears more than once"),
        ("stale", "seconds old"),
        ("added product", "does not match"),
    ],
)
def test_a_bad_signature_is_401_and_nothing_is_logged(client: Client, shop: ShopifyShop, how: str, detail: str) -> None:
    response = get(client, bent(proxied(customer=CUSTOMER_ID), how))
    assert response.status_code == 401
    assert detail in as_dict(response)["detail"]
    assert not Impression.objects.exists()


def test_a_shop_that_did_not_install_the_app_is_404(client: Client, shop: ShopifyShop) -> None:
    pairs = [(k, "never.myshopify.com" if k == "shop" else v) for k, v in proxied()[:-1]]
    response = get(client, [*pairs, ("signature", documented_signature(pairs))])
    assert response.status_code == 404
    assert not Impression.objects.exists()


def test_a_bad_product_id_is_400_naming_it(client: Client, shop: ShopifyShop) -> None:
    response = get(client, proxied(product_id="gid://shopify/Product/1"))
    assert response.status_code == 400 and as_dict(response)["detail"].startswith("product_id")
