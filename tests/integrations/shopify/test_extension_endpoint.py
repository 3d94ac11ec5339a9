"""The endpoint of the Thank-you and Order-status blocks, against its contract (contract.schema.json):
session tokens, CORS, shops and orders of other shops, customers, offers, impressions and reloads."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.core.cache import cache
from django.test import Client

from crosssell_plugin.models import Click, Impression
from integrations.shopify.models import ShopifyShop

from .conftest import OTHER_DOMAIN, T0, fixture, install_shop, session_token
from .graphql_fakes import operation
from .shop_data import CUSTOMER_GID, ORDER_GID, ORDER_ID, as_dict, merch_catalog, order, other_orders
from .test_extension_contract import errors

pytestmark = pytest.mark.usefixtures("shopify_app")

URL = "/shopify/extension/recommendations/"
OFFERS_URL = "/offers/shopify/extension/recommendations/"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def shop(installed: ShopifyShop) -> ShopifyShop:
    """The installed merch shop, with its catalogue, other buyers' orders and Ada's order."""
    store = installed.store
    merch_catalog(store)
    other_orders(store)
    order(store)
    return installed


def token(sub: str | None = CUSTOMER_GID, **claims: Any) -> str:
    return session_token("token_session_checkout", lifetime=300, sub=sub, **claims)


def ask(client: Client, auth: str | None = None, url: str = URL, method: str = "get", **params: str) -> Any:
    query = {"order_id": ORDER_GID, "surface": "thank_you", "locale": "en"} | params
    headers = {"HTTP_AUTHORIZATION": f"Bearer {auth}"} if auth else {}
    if method == "post":
        return client.post(url, data=json.dumps(query), content_type="application/json", **headers)
    return client.get(url, query, **headers)


def assert_cors(response: Any) -> None:
    for name, value in CORS.items():
        assert response[name] == value, name
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response


def test_a_logged_in_buyer_gets_an_answer_valid_against_the_contract(client: Client, shop: ShopifyShop) -> None:
    response = ask(client, token())
    assert response.status_code == 200
    assert_cors(response)
    assert response["Cache-Control"] == "private, no-store"
    body = as_dict(response)
    assert errors(body, "response") == []
    assert body["order_id"] == ORDER_GID and body["surface"] == "thank_you" and body["impressions_logged"] is True
    items = body["items"]
    assert len(items) == 4
    ids = [item["id"] for item in items]
    assert "8123456789011" not in ids  # what the order bought is not offered again
    assert ids[:2] == ["8123456789012", "8123456789015"]  # bought by the other buyers
    assert items[0]["reason"] == "Popular right now (3 buyers)"
    assert all(item["reason"].strip() for item in items)
    poster = items[0]
    assert poster["price"] == {"amount": "12.00", "currency": "USD"}
    assert poster["url"] == "https://films-on-demand.myshopify.com/products/p-8123456789012"
    by_id = {item["id"]: item for item in items}
    if "8123456789013" in by_id:
        assert by_id["8123456789013"]["image_url"] is None  # the core's empty string
    if "8123456789014" in by_id:
        assert by_id["8123456789014"]["image_url"] is None  # http:// would be refused by the blocks
    assert all(item["offer"] is None for item in items)  # this view gives no offers
    assert all(item["click_url"].startswith("https://crosssell.example.com/crosssell/r/") for item in items)


def test_impressions_are_logged_with_the_surface_and_the_click_url_records_a_click(
    client: Client, shop: ShopifyShop
) -> None:
    items = as_dict(ask(client, token(), surface="order_status"))["items"]
    impressions = list(Impression.objects.for_store(shop.store).order_by("rank"))
    assert [i.item.external_id for i in impressions] == [item["id"] for item in items]
    assert {(i.placement, i.order.external_id, i.customer.external_id) for i in impressions} == {
        ("order_status", ORDER_ID, "6201")
    }
    path = items[1]["click_url"].removeprefix("https://crosssell.example.com")
    redirect = client.get(path)
    assert redirect.status_code == 302 and redirect["Location"] == items[1]["url"]
    assert Click.objects.get().impression == impressions[1]


def test_a_reload_gets_the_same_items_and_links_and_logs_no_new_impressions(client: Client, shop: ShopifyShop) -> None:
    first = as_dict(ask(client, token()))
    assert Impression.objects.count() == 4
    again = as_dict(ask(client, token(jti="another-token")))
    assert again == first
    assert Impression.objects.count() == 4
    other_surface = as_dict(ask(client, token(), surface="order_status"))
    assert [i["id"] for i in other_surface["items"]] == [i["id"] for i in first["items"]]
    assert Impression.objects.count() == 8


def test_post_with_a_json_body_is_answered_as_get(client: Client, shop: ShopifyShop) -> None:
    response = ask(client, token(), method="post")
    assert response.status_code == 200
    assert errors(as_dict(response), "response") == []
    assert_cors(response)


def test_preflight_is_answered_with_the_cors_headers_and_no_body(client: Client, shop: ShopifyShop) -> None:
    response = client.options(
        URL,
        HTTP_ORIGIN="https://extensions.shopifycdn.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert response.status_code == 204
    assert response.content == b""
    assert_cors(response)
    assert not Impression.objects.exists()


@pytest.mark.parametrize(
    ("auth", "detail"),
    [
        (None, "no 'Authorization: Bearer"),
        ("not.a.jwt", "not a well-formed JWT"),
        ("expired", "expired"),
        ("other-app", "another app"),
        ("bad-secret", "signature does not match"),
    ],
)
def test_a_missing_bad_or_expired_token_is_401_with_the_cors_headers(
    client: Client, shop: ShopifyShop, auth: str | None, detail: str
) -> None:
    tokens = {
        "expired": session_token("token_session_checkout", at=T0 - timedelta(minutes=10), lifetime=300),
        "other-app": token(aud="someone-elses-client-id"),
        "bad-secret": session_token("token_session_checkout", secret="shpss_" + "x" * 32),
    }
    response = ask(client, tokens.get(auth or "", auth))
    assert response.status_code == 401
    assert_cors(response)
    body = as_dict(response)
    assert errors(body, "error") == []
    assert detail in body["detail"]
    assert not Impression.objects.exists()


def test_another_shops_order_is_404(client: Client, shop: ShopifyShop) -> None:
    install_shop(OTHER_DOMAIN)
    other = token(dest=f"https://{OTHER_DOMAIN}")
    response = ask(client, other)
    assert response.status_code == 404
    assert_cors(response)
    assert "No order 5829175681234" in as_dict(response)["detail"]
    assert not Impression.objects.exists()


def test_a_shop_that_uninstalled_or_never_installed_is_404(client: Client, shop: ShopifyShop) -> None:
    never = ask(client, token(dest="https://never-installed.myshopify.com"))
    assert never.status_code == 404 and "has not installed" in as_dict(never)["detail"]
    from integrations.shopify.auth import revoke

    revoke(shop)
    gone = ask(client, token())
    assert gone.status_code == 404
    assert_cors(gone)


def test_an_order_the_webhook_has_not_brought_yet_is_404(client: Client, shop: ShopifyShop) -> None:
    response = ask(client, token(), order_id="gid://shopify/Order/999999")
    assert response.status_code == 404
    assert errors(as_dict(response), "error") == []


def test_another_customers_order_is_404(client: Client, shop: ShopifyShop) -> None:
    response = ask(client, token(sub="gid://shopify/Customer/9999"))
    assert response.status_code == 404
    assert "of this customer" in as_dict(response)["detail"]
    assert not Impression.objects.exists()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"order_id": "5829175681234"}, "order_id"),
        ({"order_id": "gid://shopify/Product/5829175681234"}, "order_id"),
        ({"surface": "checkout"}, "surface"),
        ({"locale": "en_US; DROP"}, "locale"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(
    client: Client, shop: ShopifyShop, params: dict[str, str], named: str
) -> None:
    response = ask(client, token(), **params)
    assert response.status_code == 400
    assert_cors(response)
    assert as_dict(response)["detail"].startswith(named)


def test_a_token_without_customer_gets_no_offer_and_no_personal_data(
    client: Client, shop: ShopifyShop, shopify_http: responses.RequestsMock
) -> None:
    response = ask(client, token(sub=None), url=OFFERS_URL)
    assert response.status_code == 200
    body = as_dict(response)
    assert errors(body, "response") == []
    assert len(body["items"]) == 4
    assert all(item["offer"] is None for item in body["items"])
    text = response.content.decode()
    for personal in ("ada@example.com", "Ada", "Lovelace", "6201"):
        assert personal not in text
    assert not shopify_http.calls  # no code was looked up or minted


def test_a_token_without_customer_learns_nothing_of_an_old_order(client: Client, shop: ShopifyShop, clock: Any) -> None:
    clock.move_to(T0 + timedelta(days=2))
    anonymous = token(sub=None, iat=None, nbf=None, exp=int((T0 + timedelta(days=2, minutes=5)).timestamp()))
    body = as_dict(ask(client, anonymous, surface="order_status"))
    assert body["items"] == [] and errors(body, "response") == []
    assert not Impression.objects.exists()
    logged_in = token(sub=CUSTOMER_GID, iat=None, nbf=None, exp=int((T0 + timedelta(days=2, minutes=5)).timestamp()))
    assert len(as_dict(ask(client, logged_in, surface="order_status"))["items"]) == 4


def test_the_orders_customer_gets_an_offer_code_minted_for_them(
    client: Client, shop: ShopifyShop, shopify_http: responses.RequestsMock
) -> None:
    endpoint = f"https://{shop.domain}/admin/api/{shop.api_version}/graphql.json"
    shopify_http.add(responses.POST, endpoint, json=fixture("graphql_discount_by_code_absent"))
    shopify_http.add(responses.POST, endpoint, json=fixture("graphql_discount_create"))
    response = ask(client, token(), url=OFFERS_URL)
    body = as_dict(response)
    assert errors(body, "response") == []
    offer = body["items"][0]["offer"]
    assert offer["code"].startswith("XS-")
    assert offer["description"] == "10% off this item"
    assert offer["expires_at"] == "2026-12-10T12:00:00Z"
    assert all(item["offer"] is None for item in body["items"][1:])
    assert [operation(call) for call in shopify_http.calls] == ["CrosssellOfferCode", "CrosssellOfferCodeCreate"]
    sent = json.loads(shopify_http.calls[1].request.body)["variables"]["basicCodeDiscount"]
    assert sent["context"] == {"customers": {"add": [CUSTOMER_GID]}}
    assert sent["customerGets"]["items"] == {
        "products": {"productsToAdd": [f"gid://shopify/Product/{body['items'][0]['id']}"], "productVariantsToAdd": []}
    }
    assert sent["usageLimit"] == 1 and sent["code"] == offer["code"]
    again = as_dict(ask(client, token(), url=OFFERS_URL))
    assert again == body and len(shopify_http.calls) == 2  # the reload mints nothing


def test_shopify_failing_to_mint_leaves_the_offer_out(
    client: Client, shop: ShopifyShop, shopify_http: responses.RequestsMock
) -> None:
    endpoint = f"https://{shop.domain}/admin/api/{shop.api_version}/graphql.json"
    shopify_http.add(responses.POST, endpoint, json=fixture("graphql_unauthorized"), status=401)
    body = as_dict(ask(client, token(), url=OFFERS_URL))
    assert errors(body, "response") == []
    assert len(body["items"]) == 4 and body["items"][0]["offer"] is None


def test_a_merch_only_shop_with_nothing_else_sold_still_fills_limit_items(
    client: Client, installed: ShopifyShop
) -> None:
    merch_catalog(installed.store)
    order(installed.store)
    body = as_dict(ask(client, token()))
    assert errors(body, "response") == []
    assert len(body["items"]) == 4
    assert len({item["id"] for item in body["items"]}) == 4
    assert all(item["reason"] for item in body["items"])


def test_an_order_of_a_shop_with_nothing_to_recommend_is_an_empty_answer(
    client: Client, installed: ShopifyShop
) -> None:
    order(installed.store)
    body = as_dict(ask(client, token()))
    assert body == {
        "order_id": ORDER_GID,
        "surface": "thank_you",
        "heading": None,
        "items": [],
        "impressions_logged": True,
    }
    assert errors(body, "response") == []


def test_a_failure_is_a_500_with_a_detail_and_the_cors_headers(client: Client, shop: ShopifyShop) -> None:
    response = ask(client, token(), url="/bad-offer/shopify/extension/recommendations/")
    assert response.status_code == 500
    assert_cors(response)
    body = as_dict(response)
    assert errors(body, "error") == []
    assert "could not be read" in body["detail"]
    assert not Impression.objects.exists()  # it failed before logging anything
