"""The install flow through Django's test client, Shopify's token endpoint faked: a good install,
and every bad request answered 400 with its reason and nothing stored."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.db import connection
from django.test import Client
from django.urls import reverse

from crosssell_plugin.models import Item, Order, Store
from integrations.shopify import auth
from integrations.shopify.models import ShopifyInstallState, ShopifyShop
from integrations.shopify.signals import shop_installed

from .conftest import (
    API_KEY,
    API_SECRET,
    APP_URL,
    DOMAIN,
    OTHER_DOMAIN,
    T0,
    app_options,
    fixture,
    serve_first_sync,
    signed,
    store_of,
    token_url,
)

pytestmark = [pytest.mark.usefixtures("shopify_app", "clock"), pytest.mark.django_db]

INSTALL = "/shopify/install/"
CALLBACK = "/shopify/callback/"


def start_install(client: Client, domain: str = DOMAIN, *, at: datetime = T0) -> str:
    """GET the install URL as Shopify sends the merchant there; the state it put in the redirect."""
    response = client.get(INSTALL, signed(fixture("install_request"), at=at, shop=domain))
    assert response.status_code == 302, response.content
    return parse_qs(urlsplit(response["Location"]).query)["state"][0]


def callback_query(nonce: str, domain: str = DOMAIN, *, at: datetime = T0, **changes: str) -> dict[str, str]:
    """The callback Shopify redirects to once the merchant approved (signed at ``at``)."""
    return signed(fixture("install_callback"), at=at, **({"shop": domain, "state": nonce} | changes))


def fake_code_exchange(
    rsps: responses.RequestsMock, domain: str = DOMAIN, name: str = "token_offline_expiring"
) -> None:
    rsps.post(
        token_url(domain),
        json=fixture(name),
        match=[
            responses.matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "code": fixture("install_callback")["code"],
                    "expiring": 1,
                }
            )
        ],
    )


def nothing_installed() -> bool:
    return not Store.objects.filter(platform="shopify").exists() and not ShopifyShop.objects.exists()


# --- install ------------------------------------------------------------------------------------


def test_install_redirects_to_the_shops_authorize_page_with_a_fresh_state(client: Client) -> None:
    assert reverse("crosssell_shopify:install") == INSTALL
    response = client.get(INSTALL, signed(fixture("install_request")))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", DOMAIN, "/admin/oauth/authorize")
    query = parse_qs(location.query)
    assert query["client_id"] == [API_KEY]
    assert query["redirect_uri"] == [APP_URL + CALLBACK]
    assert query["scope"] == ["read_products,read_orders,read_customers,write_discounts"]
    state = query["state"][0]
    assert len(state) >= 40
    [pending] = ShopifyInstallState.objects.all()
    assert pending.domain == DOMAIN and pending.expires_at == T0 + timedelta(minutes=10)
    assert pending.digest == hashlib.sha256(state.encode()).hexdigest()  # the nonce itself is not stored
    assert "no-cache" in response["Cache-Control"]
    assert start_install(client) != state  # one nonce per install
    assert nothing_installed()


def test_without_app_url_the_redirect_uri_comes_from_the_request(client: Client, settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(APP_URL="")}}
    response = client.get(INSTALL, signed(fixture("install_request")), HTTP_HOST="testserver")
    assert parse_qs(urlsplit(response["Location"]).query)["redirect_uri"] == ["http://testserver" + CALLBACK]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (lambda: fixture("install_request") | {"timestamp": str(int(T0.timestamp()))}, "hmac does not match"),
        (lambda: signed(fixture("install_request"), secret="shpss_not_this_apps_secret_0123456789"), "hmac does not"),
        (lambda: {k: v for k, v in signed(fixture("install_request")).items() if k != "hmac"}, "has no hmac"),
        (lambda: signed(fixture("install_request"), at=T0 - timedelta(seconds=91)), "91 seconds old"),
        (lambda: signed(fixture("install_request"), at=T0 + timedelta(hours=1)), "3600 seconds in the future"),
        (lambda: signed(fixture("install_request"), shop="films.example.com"), "not a *.myshopify.com domain"),
        (lambda: signed(fixture("install_request"), shop="evil.com/x.myshopify.com"), "must be the bare host"),
        (lambda: signed(fixture("install_request"), shop=""), "shop domain is missing"),
    ],
)
def test_a_bad_install_request_is_answered_400_with_its_reason(client: Client, query: Any, reason: str) -> None:
    response = client.get(INSTALL, query())
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert reason in response.content.decode()
    assert API_SECRET not in response.content.decode()
    assert not ShopifyInstallState.objects.exists() and nothing_installed()


def test_install_takes_only_get(client: Client) -> None:
    assert client.post(INSTALL, signed(fixture("install_request"))).status_code == 405


# --- callback -----------------------------------------------------------------------------------


def test_a_good_callback_exchanges_the_code_and_records_the_install(
    client: Client, shopify_http: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    installs: list[dict[str, Any]] = []
    shop_installed.connect(lambda sender, **kw: installs.append(kw), weak=False, dispatch_uid="test-install")
    try:
        state = start_install(client)
        fake_code_exchange(shopify_http)
        serve_first_sync(shopify_http)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.get(CALLBACK, callback_query(state))
    finally:
        shop_installed.disconnect(dispatch_uid="test-install")
    assert response.status_code == 302
    assert response["Location"] == f"https://{DOMAIN}/admin/apps/{API_KEY}"
    assert shopify_http.calls[0].request.url == token_url()
    assert len(shopify_http.calls) == 7  # the code exchange, then the first sync (eager Celery)
    imported = set(Item.objects.filter(store=store_of(DOMAIN)).values_list("external_id", flat=True))
    assert {"9120001", "9120002", "9120003"} <= imported  # the catalogue, read by the sync
    assert Order.objects.filter(store=store_of(DOMAIN)).count() == 3
    store = store_of(DOMAIN)
    # the Store started with the install defaults and took the shop's details from the first sync
    assert (store.name, store.currency, store.timezone, store.is_active) == (
        "Films on Demand",
        "EUR",
        "Europe/Amsterdam",
        True,
    )
    shop = ShopifyShop.objects.get(store=store)
    granted = fixture("token_offline_expiring")
    assert shop.domain == DOMAIN and shop.is_installed
    assert (shop.access_token, shop.refresh_token) == (granted["access_token"], granted["refresh_token"])
    assert shop.access_token_expires_at == T0 + timedelta(seconds=3600)
    assert shop.refresh_token_expires_at == T0 + timedelta(seconds=7776000)
    assert shop.scopes == granted["scope"] and shop.api_version == "2026-07"
    assert (shop.installed_at, shop.uninstalled_at) == (T0, None)
    assert [(kw["shop"].pk, kw["fresh"]) for kw in installs] == [(shop.pk, True)]
    assert not ShopifyInstallState.objects.exists()  # the state is spent
    for leak in (granted["access_token"], granted["refresh_token"], API_SECRET):
        assert leak not in response.content.decode() and leak not in response["Location"]


def test_the_landing_page_after_install_is_an_option(
    client: Client, settings: Any, shopify_http: responses.RequestsMock
) -> None:
    settings.CROSSSELL = {
        "PLATFORMS": {"shopify": app_options(AFTER_INSTALL_URL="https://crosssell.example.com/welcome/{shop}")}
    }
    state = start_install(client)
    fake_code_exchange(shopify_http)
    response = client.get(CALLBACK, callback_query(state))
    assert response["Location"] == f"https://crosssell.example.com/welcome/{DOMAIN}"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (lambda state: callback_query(state) | {"hmac": "f" * 64}, "hmac does not match"),
        (lambda state: callback_query(state) | {"code": "another-code-than-signed"}, "hmac does not match"),
        (lambda state: callback_query(state, at=T0 - timedelta(minutes=3)), "180 seconds old"),
        (lambda state: callback_query(state, shop="films.example.com"), "not a *.myshopify.com domain"),
        (lambda state: callback_query(state, state="a-state-this-site-never-issued"), "not one this site issued"),
        (lambda state: callback_query(state, state=""), "has no state parameter"),
        (lambda state: callback_query(state, code=""), "has no code parameter"),
    ],
)
def test_a_bad_callback_is_answered_400_and_stores_nothing(
    client: Client, shopify_http: responses.RequestsMock, query: Any, reason: str
) -> None:
    response = client.get(CALLBACK, query(start_install(client)))
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert len(shopify_http.calls) == 0  # no code was exchanged
    assert nothing_installed()


def test_a_state_is_used_once(client: Client, shopify_http: responses.RequestsMock) -> None:
    state = start_install(client)
    fake_code_exchange(shopify_http)
    assert client.get(CALLBACK, callback_query(state)).status_code == 302
    replay = client.get(CALLBACK, callback_query(state))
    assert replay.status_code == 400 and "used already" in replay.content.decode()
    assert len(shopify_http.calls) == 1


def test_a_state_issued_for_another_shop_is_refused(client: Client, shopify_http: responses.RequestsMock) -> None:
    state = start_install(client, OTHER_DOMAIN)
    response = client.get(CALLBACK, callback_query(state, DOMAIN))
    assert response.status_code == 400 and f"not one this site issued for {DOMAIN}" in response.content.decode()
    assert nothing_installed()
    assert ShopifyInstallState.objects.filter(domain=OTHER_DOMAIN).count() == 1  # still usable by its own shop


def test_an_expired_state_is_refused(client: Client, clock: Any, shopify_http: responses.RequestsMock) -> None:
    state = start_install(client)
    clock.move_to(T0 + timedelta(minutes=11))
    response = client.get(CALLBACK, callback_query(state, at=T0 + timedelta(minutes=11)))
    assert response.status_code == 400 and "STATE_MAX_AGE_SECONDS" in response.content.decode()
    assert nothing_installed() and not ShopifyInstallState.objects.exists()


def test_pending_installs_of_a_shop_are_bounded_and_expired_ones_purged(client: Client, clock: Any) -> None:
    first = start_install(client)
    for _ in range(12):
        start_install(client)
    assert ShopifyInstallState.objects.filter(domain=DOMAIN).count() == 10
    assert not ShopifyInstallState.objects.filter(digest=hashlib.sha256(first.encode()).hexdigest()).exists()
    clock.move_to(T0 + timedelta(hours=1))
    start_install(client, OTHER_DOMAIN, at=T0 + timedelta(hours=1))
    assert list(ShopifyInstallState.objects.values_list("domain", flat=True)) == [OTHER_DOMAIN]


def test_a_code_shopify_refuses_is_a_400_and_shopify_down_a_502(
    client: Client, shopify_http: responses.RequestsMock
) -> None:
    state = start_install(client)
    shopify_http.post(token_url(), json=fixture("token_error_code_used"), status=400)
    refused = client.get(CALLBACK, callback_query(state))
    assert refused.status_code == 400
    assert "Shopify refused the authorization code exchange" in refused.content.decode()
    assert "was not found or was already used" in refused.content.decode()
    state = start_install(client)
    shopify_http.replace(responses.POST, token_url(), body=requests.ConnectionError("connection refused"))
    down = client.get(CALLBACK, callback_query(state))
    assert down.status_code == 502 and "Shopify did not answer" in down.content.decode()
    assert nothing_installed()


def test_the_shops_tokens_are_encrypted_in_the_database(client: Client, shopify_http: responses.RequestsMock) -> None:
    state = start_install(client)
    fake_code_exchange(shopify_http)
    client.get(CALLBACK, callback_query(state))
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM crosssell_shopify_shopifyshop")
        [(access, refresh)] = cursor.fetchall()
    granted = fixture("token_offline_expiring")
    assert access.startswith("fernet:") and refresh.startswith("fernet:")
    assert granted["access_token"] not in access and granted["refresh_token"] not in refresh
    assert granted["access_token"] not in json.dumps([access, refresh])


def test_a_shop_that_comes_back_is_installed_again(
    client: Client, clock: Any, shopify_http: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    state = start_install(client)
    fake_code_exchange(shopify_http)
    client.get(CALLBACK, callback_query(state))
    store = store_of(DOMAIN)
    store.name, store.currency = "Films on Demand", "EUR"  # the shop's own details, read later
    store.save()
    auth.revoke(DOMAIN)
    later = T0 + timedelta(days=3)
    clock.move_to(later)
    installs: list[bool] = []
    shop_installed.connect(lambda sender, **kw: installs.append(kw["fresh"]), weak=False, dispatch_uid="test-again")
    try:
        state = start_install(client, at=later)
        fake_code_exchange(shopify_http)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(CALLBACK, callback_query(state, at=later)).status_code == 302
        state = start_install(client, at=later)  # the merchant authorizes again (new scopes): not a new install
        fake_code_exchange(shopify_http)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(CALLBACK, callback_query(state, at=later)).status_code == 302
    finally:
        shop_installed.disconnect(dispatch_uid="test-again")
    assert installs == [True, False]
    shop = ShopifyShop.objects.get()
    assert shop.is_installed and (shop.installed_at, shop.uninstalled_at) == (later, None)
    store.refresh_from_db()
    assert store.is_active and (store.name, store.currency) == ("Films on Demand", "EUR")
    assert Store.objects.filter(platform="shopify").count() == 1
