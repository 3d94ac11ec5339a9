"""Shop domains, signed queries, timestamps and the authorize URL: each refusal names its problem."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import QueryDict

from crosssell_plugin.exceptions import ConfigurationError
from integrations.shopify import auth

from .conftest import API_KEY, API_SECRET, DOMAIN, OLD_SECRET, T0, app_options, fixture, signed

pytestmark = pytest.mark.usefixtures("shopify_app")


# --- shop domains -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("films-on-demand.myshopify.com", "films-on-demand.myshopify.com"),
        ("Films-On-Demand.MyShopify.com", "films-on-demand.myshopify.com"),
        ("  a.myshopify.com ", "a.myshopify.com"),
        ("0-9.myshopify.com", "0-9.myshopify.com"),
    ],
)
def test_a_myshopify_domain_is_accepted_in_lower_case(given: str, expected: str) -> None:
    assert auth.normalize_shop_domain(given) == expected


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "is missing"),
        (None, "is missing"),
        ("https://films.myshopify.com", "must be the bare host"),
        ("films.myshopify.com/admin", "must be the bare host"),
        ("films.myshopify.com:443", "must be the bare host"),
        ("evil.com?x=films.myshopify.com", "must be the bare host"),
        ("user@films.myshopify.com", "must be the bare host"),
        ("films.example.com", "is not a *.myshopify.com domain"),
        ("films.myshopify.com.evil.com", "is not a *.myshopify.com domain"),
        ("myshopify.com", "is not a *.myshopify.com domain"),
        (".myshopify.com", "may hold only a-z, 0-9 and '-'"),
        ("-films.myshopify.com", "may hold only a-z, 0-9 and '-'"),
        ("films_club.myshopify.com", "may hold only a-z, 0-9 and '-'"),
        ("films.club.myshopify.com", "may hold only a-z, 0-9 and '-'"),
        ("filmé.myshopify.com", "may hold only a-z, 0-9 and '-'"),
        ("x" * 64 + ".myshopify.com", "64-character name; the limit is 63"),
    ],
)
def test_anything_else_is_refused_with_its_problem_named(given: Any, problem: str) -> None:
    with pytest.raises(auth.InvalidShopDomain) as refused:
        auth.normalize_shop_domain(given)
    assert problem in str(refused.value)
    assert isinstance(refused.value, ValueError)


# --- the hmac of install and callback queries -------------------------------------------------------


def test_the_example_of_shopifys_documentation_verifies() -> None:
    example = fixture("install_shopify_docs_example")
    auth.verify_query_hmac(example["query"], secrets=[example["secret"]])
    with pytest.raises(auth.InvalidShopifyRequest, match="does not match"):
        auth.verify_query_hmac(example["query"] | {"shop": "other-shop.myshopify.com"}, secrets=[example["secret"]])


def test_the_fixture_requests_carry_shopifys_hmac() -> None:
    for name in ("install_request", "install_callback"):
        auth.verify_query_hmac(fixture(name))


def test_a_query_dict_as_django_parses_it_verifies() -> None:
    query = QueryDict(mutable=True)
    query.update(signed(fixture("install_request")))
    auth.verify_query_hmac(query)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"shop": "other-shop.myshopify.com"}, "does not match its parameters"),
        ({"timestamp": "1764763201"}, "does not match its parameters"),
        ({"extra": "1"}, "does not match its parameters"),
        ({"hmac": "0" * 64}, "does not match its parameters"),
        ({"hmac": "not-hex"}, "is not a hex SHA-256 digest"),
        ({"hmac": ""}, "has no hmac parameter"),
    ],
)
def test_a_changed_or_unsigned_query_is_refused(change: dict[str, str], problem: str) -> None:
    with pytest.raises(auth.InvalidShopifyRequest, match=problem):
        auth.verify_query_hmac(fixture("install_request") | change)


def test_a_query_signed_with_another_secret_is_refused() -> None:
    query = signed(fixture("install_request"), secret="shpss_somebody_elses_secret_0123456789")
    with pytest.raises(auth.InvalidShopifyRequest, match="client secret"):
        auth.verify_query_hmac(query)


def test_a_parameter_sent_twice_is_refused() -> None:
    query = QueryDict(mutable=True)
    query.update(signed(fixture("install_request")))
    query.appendlist("shop", "other-shop.myshopify.com")
    with pytest.raises(auth.InvalidShopifyRequest, match="'shop' appears 2 times"):
        auth.verify_query_hmac(query)


def test_the_previous_secret_is_accepted_while_it_is_rotated(settings: Any) -> None:
    query = signed(fixture("install_request"), secret=OLD_SECRET)
    with pytest.raises(auth.InvalidShopifyRequest):
        auth.verify_query_hmac(query)
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(OLD_API_SECRET=OLD_SECRET)}}
    auth.verify_query_hmac(query)


def test_values_with_reserved_characters_verify_in_either_rendering() -> None:
    """A value such as an unpadded or padded ``host`` holds characters the two renderings write
    differently: raw (Shopify's docs) and form-encoded (Shopify's JavaScript library)."""
    query = {"host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUv+/==", "shop": DOMAIN, "state": "a b&c", "timestamp": "1"}
    raw = "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUv+/==&shop=films-on-demand.myshopify.com&state=a b%26c&timestamp=1"
    form = (
        "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUv%2B%2F%3D%3D&shop=films-on-demand.myshopify.com&state=a+b%26c&timestamp=1"
    )
    assert auth.signed_messages(query) == (raw.encode(), form.encode())
    for message in (raw, form):
        digest = hmac.new(API_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
        auth.verify_query_hmac(query | {"hmac": digest})


def test_array_parameters_are_signed_as_shopify_lists_them() -> None:
    query = QueryDict(mutable=True)
    query.setlist("ids[]", ["1", "2"])
    query["shop"] = DOMAIN
    raw, _ = auth.signed_messages(query)
    assert raw == b'ids=["1", "2"]&shop=films-on-demand.myshopify.com'


def test_without_credentials_the_check_says_what_to_set(settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": {"API_KEY": API_KEY}}}
    with pytest.raises(ConfigurationError) as missing:
        auth.verify_query_hmac(fixture("install_request"))
    assert 'CROSSSELL["PLATFORMS"]["shopify"][\'API_SECRET\']' in str(missing.value)
    assert API_KEY not in str(missing.value)


# --- timestamps --------------------------------------------------------------------------------------


def test_a_fresh_timestamp_is_accepted_either_way_within_the_tolerance() -> None:
    for offset in (-90, 0, 90):
        stamp = str(int((T0 + timedelta(seconds=offset)).timestamp()))
        assert auth.check_timestamp(stamp, now=T0) == T0 + timedelta(seconds=offset)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "has no timestamp parameter"),
        ("", "has no timestamp parameter"),
        ("yesterday", "is not a Unix time in seconds"),
        ("-5", "is not a Unix time in seconds"),
        ("99999999999999999999", "is not a Unix time in seconds"),
        (str(int(T0.timestamp()) - 91), "91 seconds old; signed requests more than 90 seconds"),
        (str(int(T0.timestamp()) + 91), "91 seconds in the future"),
    ],
)
def test_a_missing_malformed_or_stale_timestamp_is_refused(value: Any, problem: str) -> None:
    with pytest.raises(auth.InvalidShopifyRequest, match=problem.replace("(", r"\(")):
        auth.check_timestamp(value, now=T0)


def test_the_tolerance_is_an_option(settings: Any) -> None:
    stale = str(int(T0.timestamp()) - 200)
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(TIMESTAMP_TOLERANCE_SECONDS=300)}}
    assert auth.check_timestamp(stale, now=T0) == T0 - timedelta(seconds=200)
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(TIMESTAMP_TOLERANCE_SECONDS=60)}}
    with pytest.raises(auth.InvalidShopifyRequest, match="more than 60 seconds"):
        auth.check_timestamp(stale, now=T0)


def test_verify_signed_query_checks_all_three_and_returns_the_shop(clock: Any) -> None:
    assert auth.verify_signed_query(signed(fixture("install_request"))) == DOMAIN
    with pytest.raises(auth.InvalidShopifyRequest, match="seconds old"):
        auth.verify_signed_query(signed(fixture("install_request"), at=T0 - timedelta(minutes=5)))
    with pytest.raises(auth.InvalidShopDomain, match=r"is not a \*\.myshopify\.com domain"):
        auth.verify_signed_query(signed(fixture("install_request"), shop="films.example.com"))


# --- the authorize URL --------------------------------------------------------------------------------


def test_the_authorize_url_asks_the_shop_for_offline_access_with_the_configured_scopes() -> None:
    url = auth.authorize_url(
        shop=DOMAIN, state="nonce-1", redirect_uri="https://crosssell.example.com/shopify/callback/"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", DOMAIN, "/admin/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": [API_KEY],
        "scope": ["read_products,read_orders,read_customers,write_discounts"],
        "redirect_uri": ["https://crosssell.example.com/shopify/callback/"],
        "state": ["nonce-1"],
    }
    online = auth.authorize_url(
        shop=DOMAIN, state="n", redirect_uri="https://x.test/cb", scopes=["read_orders"], online=True
    )
    assert parse_qs(urlsplit(online).query)["grant_options[]"] == ["per-user"]
    assert parse_qs(urlsplit(online).query)["scope"] == ["read_orders"]
    with pytest.raises(auth.InvalidShopDomain):
        auth.authorize_url(shop="evil.example.com", state="n", redirect_uri="https://x.test/cb")


def test_a_token_set_keeps_its_tokens_out_of_its_repr() -> None:
    grant = auth.TokenSet.from_response(fixture("token_offline_expiring"), issued_at=T0)
    assert grant.expires_at == T0 + timedelta(hours=1)
    assert grant.refresh_token_expires_at == T0 + timedelta(days=90)
    assert "shpat_" not in repr(grant) and "shprt_" not in repr(grant)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"scope": "read_orders"}, "has no access_token"),
        ({"access_token": "", "scope": "x"}, "has no access_token"),
        ({"access_token": "shpat_1", "expires_in": "3600"}, "bad expires_in"),
        ({"access_token": "shpat_1", "expires_in": -1}, "bad expires_in"),
        ({"access_token": "shpat_1", "refresh_token": 7}, "refresh_token that is not text"),
        ([], "has no access_token"),
    ],
)
def test_a_malformed_token_answer_is_refused_by_name(answer: Any, problem: str) -> None:
    with pytest.raises(auth.ShopifyTokenError, match=problem):
        auth.TokenSet.from_response(answer, issued_at=T0)
