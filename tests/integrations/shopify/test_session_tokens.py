"""Session tokens (JWT) of embedded admin pages and of checkout / customer-account extensions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest

from integrations.shopify import auth

from .conftest import API_SECRET, DOMAIN, OLD_SECRET, OTHER_DOMAIN, T0, app_options, session_token

pytestmark = pytest.mark.usefixtures("shopify_app", "clock")


def test_a_good_admin_token_names_its_shop_and_staff_user() -> None:
    session = auth.admin_session(session_token())
    assert session == auth.SessionToken(
        shop=DOMAIN,
        sub="74291346",
        expires_at=T0 + timedelta(seconds=60),
        session_id="aaea182f2732d44c23057c0fea584021a4485b2bd25d3eb7fd349313ad24c685",
        token_id="f8912129-1af6-4cad-9ca3-76b0f7621087",
    )
    assert session.customer_gid is None
    assert auth.admin_session(session_token(), shop=DOMAIN.upper()).shop == DOMAIN


def test_an_extension_token_may_lack_sub_and_iss() -> None:
    anonymous = auth.extension_session(session_token("token_session_checkout", lifetime=300))
    assert (anonymous.shop, anonymous.sub, anonymous.customer_gid) == (DOMAIN, None, None)
    buyer = auth.extension_session(session_token("token_session_checkout", sub="gid://shopify/Customer/7390614"))
    assert buyer.sub == buyer.customer_gid == "gid://shopify/Customer/7390614"
    admin = auth.extension_session(session_token())  # an admin token is a valid extension token too
    assert admin.shop == DOMAIN


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (lambda: session_token(at=T0 - timedelta(seconds=71)), "has expired"),
        (lambda: session_token(aud="0000ffff0000ffff0000ffff0000ffff"), "is for another app"),
        (lambda: session_token(secret="shpss_somebody_elses_secret_0123456789"), "signature does not match"),
        (lambda: session_token(iss=f"https://{OTHER_DOMAIN}/admin"), f"iss ({OTHER_DOMAIN}) and dest ({DOMAIN})"),
        (lambda: session_token(dest="https://films.example.com"), "dest names no valid shop"),
        (lambda: session_token(dest="http://films-on-demand.myshopify.com"), "is not an https shop URL"),
        (lambda: session_token(iss="https://films-on-demand.myshopify.com:8443/admin"), "is not an https shop URL"),
        (lambda: session_token(sub=None), "has no 'sub' claim"),
        (lambda: session_token(exp=None), "has no 'exp' claim"),
        (lambda: session_token(iss=None), "has no 'iss' claim"),
        (lambda: session_token(nbf=int((T0 + timedelta(seconds=30)).timestamp())), "is not valid yet"),
        (lambda: session_token(iss=f"https://{DOMAIN}/checkouts"), "not issued by the shop's admin"),
        (lambda: session_token(sub="gid://shopify/Customer/1"), "names no staff user"),
        (lambda: "not.a.jwt", "is not a well-formed JWT"),
    ],
)
def test_a_bad_admin_token_is_refused_with_its_problem_named(token: Any, problem: str) -> None:
    with pytest.raises(auth.InvalidSessionToken) as refused:
        auth.admin_session(token())
    assert problem in str(refused.value)
    assert API_SECRET not in str(refused.value)


def test_a_checkout_token_cannot_pass_as_an_admin_token() -> None:
    with pytest.raises(auth.InvalidSessionToken, match="has no 'iss' claim"):
        auth.admin_session(session_token("token_session_checkout", sub="gid://shopify/Customer/7390614"))
    checkout_iss = session_token("token_session_checkout", iss=f"https://{DOMAIN}", sub="42", nbf=int(T0.timestamp()))
    with pytest.raises(auth.InvalidSessionToken, match="not issued by the shop's admin"):
        auth.admin_session(checkout_iss)


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (lambda: session_token("token_session_checkout", at=T0 - timedelta(minutes=6), lifetime=300), "has expired"),
        (lambda: session_token("token_session_checkout", aud="someone-else"), "is for another app"),
        (lambda: session_token("token_session_checkout", dest=None), "has no 'dest' claim"),
        (lambda: session_token("token_session_checkout", dest="films.example.com"), "dest names no valid shop"),
        (lambda: session_token("token_session_checkout", iss=f"https://{OTHER_DOMAIN}"), "name different shops"),
    ],
)
def test_a_bad_extension_token_is_refused(token: Any, problem: str) -> None:
    with pytest.raises(auth.InvalidSessionToken, match=problem.replace("(", r"\(")):
        auth.extension_session(token())


def test_the_token_must_be_for_the_shop_asked_about() -> None:
    with pytest.raises(auth.InvalidSessionToken, match=f"is for the shop {DOMAIN}, not {OTHER_DOMAIN}"):
        auth.extension_session(session_token("token_session_checkout"), shop=OTHER_DOMAIN)


def test_the_leeway_covers_small_clock_skew_and_is_an_option(settings: Any, clock: Any) -> None:
    token = session_token()  # valid from T0 to T0 + 60 s
    clock.move_to(T0 + timedelta(seconds=69))
    assert auth.admin_session(token).shop == DOMAIN
    clock.move_to(T0 - timedelta(seconds=9))  # App Bridge's nbf may be ahead of this clock
    assert auth.admin_session(token).shop == DOMAIN
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(SESSION_TOKEN_LEEWAY_SECONDS=0)}}
    with pytest.raises(auth.InvalidSessionToken, match="not valid yet"):
        auth.admin_session(token)


def test_a_token_signed_with_the_previous_secret_is_accepted_while_it_is_rotated(settings: Any) -> None:
    token = session_token(secret=OLD_SECRET)
    with pytest.raises(auth.InvalidSessionToken, match="signature does not match"):
        auth.admin_session(token)
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(OLD_API_SECRET=OLD_SECRET)}}
    assert auth.admin_session(token).shop == DOMAIN
    with pytest.raises(auth.InvalidSessionToken, match="has expired"):  # still checked with the old secret
        auth.admin_session(session_token(secret=OLD_SECRET, at=T0 - timedelta(minutes=5)))


def test_only_hs256_is_accepted() -> None:
    claims = jwt.decode(session_token(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(auth.InvalidSessionToken, match="not signed with HS256"):
        auth.admin_session(unsigned)
    hs512 = jwt.encode(claims, API_SECRET + "x" * 40, algorithm="HS512")
    with pytest.raises(auth.InvalidSessionToken, match="not signed with HS256"):
        auth.admin_session(hs512)


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc.def.ghi ", "abc.def.ghi")],
)
def test_the_bearer_header_gives_the_token(header: str, token: str) -> None:
    assert auth.bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "abc.def.ghi"])
def test_a_request_without_a_bearer_token_is_refused(header: str | None) -> None:
    with pytest.raises(auth.InvalidSessionToken, match="has no 'Authorization: Bearer <session token>' header"):
        auth.bearer_token(header)
