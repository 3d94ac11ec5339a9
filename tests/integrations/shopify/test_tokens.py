"""Token lifetimes: token exchange, refresh near expiry, legacy migration, revoke on uninstall,
encryption at rest and key rotation, and two shops that never see each other's tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from cryptography.fernet import Fernet
from django.db import connection

from crosssell_plugin.exceptions import ConfigurationError, UnknownStore, UnsupportedFeature
from crosssell_plugin.platforms import get_platform
from integrations.shopify import auth, installs
from integrations.shopify.models import ShopifyShop
from integrations.shopify.signals import shop_uninstalled

from .conftest import (
    API_KEY,
    API_SECRET,
    DOMAIN,
    OTHER_DOMAIN,
    T0,
    app_options,
    fixture,
    install_shop,
    serve_first_sync,
    session_token,
    store_of,
    token_url,
)

pytestmark = [pytest.mark.usefixtures("shopify_app", "clock"), pytest.mark.django_db]

GRANTED = fixture("token_offline_expiring")
REFRESHED = fixture("token_refreshed")


def fake_refresh(
    rsps: responses.RequestsMock, domain: str = DOMAIN, refresh_token: str = GRANTED["refresh_token"]
) -> None:
    rsps.post(
        token_url(domain),
        json=REFRESHED,
        match=[
            responses.matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                }
            )
        ],
    )


def raw_columns(shop: ShopifyShop) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM crosssell_shopify_shopifyshop WHERE id = %s", [shop.pk])
        row = cursor.fetchone()
    assert row is not None
    return row[0], row[1]


# --- token exchange (embedded apps) ------------------------------------------------------------------


def test_a_session_token_is_exchanged_for_an_expiring_offline_token(
    shopify_http: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    token = session_token()
    shopify_http.post(
        token_url(),
        json=GRANTED,
        match=[
            responses.matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": token,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                    "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
                    "expiring": 1,
                }
            )
        ],
    )
    serve_first_sync(shopify_http)
    with django_capture_on_commit_callbacks(execute=True):
        shop = installs.install_with_session_token(token)
    assert shopify_http.calls[0].request.url == token_url()
    assert len(shopify_http.calls) == 7  # the token exchange, then the first sync the install starts
    assert shop.domain == DOMAIN and shop.store == store_of(DOMAIN)
    assert shop.access_token == GRANTED["access_token"] and shop.access_token_expires_at == T0 + timedelta(hours=1)


def test_an_invalid_session_token_is_never_sent_to_shopify(shopify_http: responses.RequestsMock) -> None:
    for token in (session_token(aud="another-app"), session_token("token_session_checkout")):
        with pytest.raises(auth.InvalidSessionToken):
            installs.install_with_session_token(token)
    assert len(shopify_http.calls) == 0 and not ShopifyShop.objects.exists()


# --- refresh ----------------------------------------------------------------------------------------


def test_a_token_far_from_expiry_is_used_as_it_is(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock
) -> None:
    clock.move_to(T0 + timedelta(minutes=54, seconds=59))  # 5 min 1 s left, the margin is 5 min
    assert auth.access_token(installed) == GRANTED["access_token"]
    assert len(shopify_http.calls) == 0


def test_a_token_near_expiry_is_refreshed_once_and_the_rotated_pair_saved(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock
) -> None:
    later = T0 + timedelta(minutes=56)
    clock.move_to(later)
    fake_refresh(shopify_http)
    assert auth.access_token(installed) == REFRESHED["access_token"]
    assert len(shopify_http.calls) == 1
    assert installed.refresh_token == REFRESHED["refresh_token"]  # the caller's instance follows
    saved = ShopifyShop.objects.get(pk=installed.pk)
    assert (saved.access_token, saved.refresh_token) == (REFRESHED["access_token"], REFRESHED["refresh_token"])
    assert saved.access_token_expires_at == later + timedelta(hours=1)
    assert saved.refresh_token_expires_at == later + timedelta(days=90)
    assert saved.token_refreshed_at == later
    assert auth.access_token(saved) == REFRESHED["access_token"]  # fresh now: no second request
    assert len(shopify_http.calls) == 1


def test_the_refresh_margin_is_an_option(
    installed: ShopifyShop, clock: Any, settings: Any, shopify_http: responses.RequestsMock
) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(REFRESH_MARGIN_SECONDS=900)}}
    clock.move_to(T0 + timedelta(minutes=46))
    fake_refresh(shopify_http)
    assert auth.access_token(installed) == REFRESHED["access_token"]


def test_a_refused_refresh_changes_nothing_and_says_why(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock
) -> None:
    clock.move_to(T0 + timedelta(minutes=58))
    shopify_http.post(token_url(), json=fixture("token_error_invalid_grant"), status=400)
    with pytest.raises(auth.ShopifyTokenError) as refused:
        auth.access_token(installed)
    assert refused.value.error == "invalid_grant" and refused.value.status_code == 400
    assert "Shopify refused the token refresh" in str(refused.value)
    assert GRANTED["refresh_token"] not in str(refused.value) and API_SECRET not in str(refused.value)
    saved = ShopifyShop.objects.get(pk=installed.pk)
    assert (saved.access_token, saved.refresh_token) == (GRANTED["access_token"], GRANTED["refresh_token"])
    shopify_http.replace(responses.POST, token_url(), body=requests.Timeout("read timed out"))
    with pytest.raises(auth.ShopifyTokenError, match=r"did not answer the token refresh .*\(Timeout\)") as down:
        auth.access_token(installed)
    assert down.value.status_code is None


def test_an_expired_refresh_token_asks_for_a_new_install_without_a_request(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock
) -> None:
    clock.move_to(T0 + timedelta(days=91))
    with pytest.raises(auth.ShopNotInstalled, match=r"refresh token of the Shopify shop .* expired"):
        auth.access_token(installed)
    assert len(shopify_http.calls) == 0


def test_a_non_expiring_token_needs_no_refresh_and_migrates_to_an_expiring_pair(
    shopify_http: responses.RequestsMock, clock: Any
) -> None:
    legacy = install_shop(name="token_offline_legacy")
    assert legacy.access_token_expires_at is None and legacy.refresh_token == ""
    clock.move_to(T0 + timedelta(days=400))
    assert auth.access_token(legacy) == fixture("token_offline_legacy")["access_token"]
    shopify_http.post(
        token_url(),
        json=GRANTED,
        match=[
            responses.matchers.json_params_matcher(
                {
                    "client_id": API_KEY,
                    "client_secret": API_SECRET,
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": fixture("token_offline_legacy")["access_token"],
                    "subject_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
                    "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
                    "expiring": 1,
                }
            )
        ],
    )
    auth.migrate_to_expiring(legacy)
    auth.migrate_to_expiring(legacy)  # already expiring: nothing to do
    assert len(shopify_http.calls) == 1
    saved = ShopifyShop.objects.get(pk=legacy.pk)
    assert saved.access_token == GRANTED["access_token"] and saved.refresh_token == GRANTED["refresh_token"]
    assert saved.access_token_expires_at == T0 + timedelta(days=400, hours=1)


# --- revoke (app/uninstalled) ---------------------------------------------------------------------


def test_revoke_clears_the_tokens_at_once_and_deactivates_the_store(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock, django_capture_on_commit_callbacks: Any
) -> None:
    uninstalls: list[int] = []
    shop_uninstalled.connect(lambda sender, shop, **kw: uninstalls.append(shop.pk), weak=False, dispatch_uid="t-rev")
    try:
        clock.move_to(T0 + timedelta(minutes=5))
        with django_capture_on_commit_callbacks(execute=True):
            assert auth.revoke(installed) is not None
    finally:
        shop_uninstalled.disconnect(dispatch_uid="t-rev")
    assert uninstalls == [installed.pk]
    saved = ShopifyShop.objects.get(pk=installed.pk)
    assert (saved.access_token, saved.refresh_token) == ("", "")
    assert raw_columns(saved) == ("", "")
    assert (saved.access_token_expires_at, saved.refresh_token_expires_at) == (None, None)
    assert saved.uninstalled_at == T0 + timedelta(minutes=5) and not saved.is_installed
    assert installed.access_token == "" and installed.uninstalled_at == saved.uninstalled_at
    store = store_of(DOMAIN)
    assert not store.is_active
    adapter = get_platform("shopify")
    assert not adapter.is_installed(store)
    with pytest.raises(auth.ShopNotInstalled, match="uninstalled the app"):
        auth.access_token(installed)
    assert len(shopify_http.calls) == 0
    clock.move_to(T0 + timedelta(hours=1))
    auth.revoke(DOMAIN)  # a redelivered webhook: no change
    assert ShopifyShop.objects.get(pk=installed.pk).uninstalled_at == T0 + timedelta(minutes=5)


def test_revoke_by_domain_and_an_unknown_or_bad_domain(installed: ShopifyShop) -> None:
    assert auth.revoke("unknown-shop.myshopify.com") is None
    with pytest.raises(auth.InvalidShopDomain):
        auth.revoke("films.example.com")
    assert ShopifyShop.objects.get(pk=installed.pk).is_installed
    revoked = auth.revoke(DOMAIN.upper())
    assert revoked is not None and revoked.pk == installed.pk and not revoked.is_installed


def test_an_uninstall_older_than_the_latest_install_changes_nothing(installed: ShopifyShop) -> None:
    """A late app/uninstalled webhook that arrives after the merchant installed again."""
    auth.revoke(installed, occurred_at=T0 - timedelta(minutes=1))
    saved = ShopifyShop.objects.get(pk=installed.pk)
    assert saved.is_installed and saved.access_token == GRANTED["access_token"] and store_of(DOMAIN).is_active


# --- secrets at rest ----------------------------------------------------------------------------------


def test_tokens_are_encrypted_at_rest_and_survive_a_key_rotation(settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    shopify = {"shopify": app_options()}
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [old], "PLATFORMS": shopify}
    shop = install_shop()
    before = raw_columns(shop)
    for stored, clear in zip(before, (GRANTED["access_token"], GRANTED["refresh_token"]), strict=True):
        assert stored.startswith("fernet:") and clear not in stored
        assert Fernet(old.encode()).decrypt(stored.removeprefix("fernet:").encode()).decode() == clear
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [new, old], "PLATFORMS": shopify}
    assert auth.reencrypt_tokens() == 1
    after = raw_columns(shop)
    assert after != before
    settings.CROSSSELL = {"ENCRYPTION_KEYS": [new], "PLATFORMS": shopify}  # the old key dropped
    saved = ShopifyShop.objects.get(pk=shop.pk)
    assert (saved.access_token, saved.refresh_token) == (GRANTED["access_token"], GRANTED["refresh_token"])
    with connection.cursor() as cursor:  # a row encrypted with the dropped key cannot be read
        cursor.execute("UPDATE crosssell_shopify_shopifyshop SET access_token = %s WHERE id = %s", [before[0], shop.pk])
    with pytest.raises(ConfigurationError, match="No key decrypts a stored secret") as unreadable:
        ShopifyShop.objects.get(pk=shop.pk)
    assert GRANTED["access_token"] not in str(unreadable.value)


def test_tokens_stay_out_of_repr_and_str(installed: ShopifyShop) -> None:
    for text in (
        repr(installed),
        str(installed),
        repr(installs.TokenSet(access_token="shpat_x", refresh_token="shprt_y")),
    ):
        assert "shpat_" not in text and "shprt_" not in text
    assert repr(installed) == f"<ShopifyShop {DOMAIN} store={installed.store_id} installed>"


# --- tenants -----------------------------------------------------------------------------------------


def test_two_shops_never_see_each_others_tokens(clock: Any, shopify_http: responses.RequestsMock) -> None:
    films = install_shop(DOMAIN)
    other_grant = {
        **GRANTED,
        "access_token": "shpat_course_school_0123456789abcdef",
        "refresh_token": "shprt_course_school_0123",
    }
    school = installs.record_install(OTHER_DOMAIN, auth.TokenSet.from_response(other_grant, issued_at=T0))
    assert films.store != school.store and len({films.store.external_id, school.store.external_id}) == 2
    clock.move_to(T0 + timedelta(minutes=57))
    fake_refresh(shopify_http, DOMAIN)
    assert auth.access_token(films) == REFRESHED["access_token"]
    assert [call.request.url for call in shopify_http.calls] == [token_url(DOMAIN)]  # only the shop's own endpoint
    assert ShopifyShop.objects.get(pk=school.pk).access_token == other_grant["access_token"]
    assert ShopifyShop.objects.get(pk=school.pk).refresh_token == other_grant["refresh_token"]
    auth.revoke(school)
    assert ShopifyShop.objects.get(pk=films.pk).access_token == REFRESHED["access_token"]
    assert store_of(DOMAIN).is_active and not store_of(OTHER_DOMAIN).is_active
    with pytest.raises(auth.InvalidSessionToken, match=f"is for the shop {DOMAIN}, not {OTHER_DOMAIN}"):
        auth.admin_session(session_token(at=T0 + timedelta(minutes=57)), shop=OTHER_DOMAIN)


# --- the adapter ---------------------------------------------------------------------------------


def test_the_adapter_finds_stores_by_domain_and_knows_which_are_installed(installed: ShopifyShop) -> None:
    adapter = get_platform("shopify")
    assert (adapter.platform_id, adapter.platform_name) == ("shopify", "Shopify")
    assert adapter.get_store("Films-On-Demand.myshopify.com") == installed.store
    for unknown in ("course-school.myshopify.com", "films.example.com", ""):
        with pytest.raises(UnknownStore):
            adapter.get_store(unknown)
    assert adapter.is_installed(installed.store)
    assert adapter.shop(installed.store) == installed  # type: ignore[attr-defined]
    assert adapter.options()["API_VERSION"] == "2026-07" and adapter.unknown_options() == []
    with pytest.raises(UnsupportedFeature, match="Shopify does not support offer codes"):
        adapter.mint_offer_code(installed.store)
