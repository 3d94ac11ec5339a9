"""The shops admin (read-only, never a token) and the checks of the Shopify options."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from integrations.shopify import auth, views
from integrations.shopify.checks import check_shopify_options
from integrations.shopify.models import ShopifyShop

from .conftest import API_SECRET, OTHER_DOMAIN, app_options, fixture, install_shop

pytestmark = pytest.mark.usefixtures("shopify_app")


def _admin(client: Client) -> None:
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))


def test_the_admin_lists_shops_without_their_tokens_and_changes_nothing(client: Client, installed: ShopifyShop) -> None:
    uninstalled = install_shop(OTHER_DOMAIN)
    auth.revoke(uninstalled)
    _admin(client)
    changelist = client.get(reverse("admin:crosssell_shopify_shopifyshop_changelist"))
    page = client.get(reverse("admin:crosssell_shopify_shopifyshop_change", args=[installed.pk]))
    assert changelist.status_code == page.status_code == 200
    listing = changelist.content.decode()
    assert installed.domain in listing and OTHER_DOMAIN in listing and "read_products,read_orders" in listing
    granted = fixture("token_offline_expiring")
    for html in (listing, page.content.decode()):
        assert granted["access_token"] not in html and granted["refresh_token"] not in html and "fernet:" not in html
    assert "2026-07" in page.content.decode()  # the API version, among the read-only fields
    assert client.get(reverse("admin:crosssell_shopify_shopifyshop_add")).status_code == 403
    before = ShopifyShop.objects.get(pk=installed.pk)
    client.post(
        reverse("admin:crosssell_shopify_shopifyshop_change", args=[installed.pk]), {"scopes": "write_everything"}
    )
    assert ShopifyShop.objects.get(pk=installed.pk).scopes == before.scopes
    filtered = client.get(reverse("admin:crosssell_shopify_shopifyshop_changelist"), {"uninstalled_at__isempty": "1"})
    assert installed.domain in filtered.content.decode() and OTHER_DOMAIN not in filtered.content.decode()


def _ids(messages: list[checks.CheckMessage]) -> list[str | None]:
    return [message.id for message in messages]


def test_configured_options_pass_the_checks() -> None:
    assert check_shopify_options() == []


def test_missing_credentials_are_a_warning_that_says_what_to_set(settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": {"API_KEY": "abc"}}}
    [warning] = check_shopify_options()
    assert warning.id == "crosssell.W020" and warning.level == checks.WARNING
    assert "no API_SECRET" in warning.msg and "API_KEY" not in warning.msg.split(":")[0]
    assert '"API_SECRET"' in warning.hint
    settings.CROSSSELL = {}
    [warning] = check_shopify_options()
    assert "no API_KEY and no API_SECRET" in warning.msg
    assert "crosssell.W020" in _ids(checks.run_checks())


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"API_VERSION": "2026-05"}, "['API_VERSION'] must be a quarterly release"),
        ({"API_VERSION": "latest"}, "['API_VERSION'] must be a quarterly release"),
        (
            {"SCOPES": "read_products, readorders"},
            "['SCOPES'] has scopes Shopify does not spell that way: ['readorders']",
        ),
        ({"SCOPES": ""}, "['SCOPES'] names no scope"),
        ({"APP_URL": "crosssell.example.com"}, "['APP_URL'] must be an http(s) URL"),
        ({"AFTER_INSTALL_URL": "javascript:alert(1)"}, "['AFTER_INSTALL_URL'] must be an http(s) URL"),
        ({"DEFAULT_CURRENCY": "usd"}, "['DEFAULT_CURRENCY'] must be an upper-case ISO 4217 code"),
        ({"REFRESH_MARGIN_SECONDS": 3600}, "['REFRESH_MARGIN_SECONDS'] must be an integer between 0 and 3000"),
        ({"TIMESTAMP_TOLERANCE_SECONDS": "90"}, "['TIMESTAMP_TOLERANCE_SECONDS'] must be an integer"),
        ({"TIMEOUT_SECONDS": True}, "['TIMEOUT_SECONDS'] must be an integer"),
    ],
)
def test_a_wrong_value_is_an_error_naming_the_key(settings: Any, options: dict[str, Any], problem: str) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(**options)}}
    [error] = check_shopify_options()
    assert error.id == "crosssell.E021" and error.level == checks.ERROR
    assert problem in error.msg and error.hint


def test_a_secret_of_the_wrong_type_is_reported_without_its_value(settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(API_SECRET=[API_SECRET])}}
    messages = check_shopify_options()
    assert _ids(messages) == ["crosssell.E021", "crosssell.W020"]
    assert all(API_SECRET not in message.msg + (message.hint or "") for message in messages)


def test_an_unknown_key_is_an_error_suggesting_the_right_one(settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(API_VERSON="2026-07")}}
    [error] = check_shopify_options()
    assert error.id == "crosssell.E020" and "'API_VERSON'" in error.msg and 'Did you mean "API_VERSION"' in error.hint


@pytest.mark.django_db
def test_the_models_and_migrations_agree() -> None:
    out = StringIO()
    call_command("makemigrations", "crosssell_shopify", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_install_views_are_open_to_merchants_who_are_not_signed_in() -> None:
    """Projects with LoginRequiredMiddleware: Shopify sends the merchant, not a user of this site."""
    assert views.install.login_required is False and views.callback.login_required is False  # type: ignore[attr-defined]
