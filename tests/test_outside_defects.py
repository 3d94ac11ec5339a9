"""Defects reported from outside, each pinned by a test that failed before its fix: staff API
access needs a permission for the store named, the guests' rate limit does not trust a
client-sent X-Forwarded-For, and SMS short links expire like the signed click links."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from crosssell_plugin.api.authentication import ApiRateThrottle
from crosssell_plugin.models import Impression, Item, Store
from crosssell_plugin.tracking.tokens import short_code

pytestmark = pytest.mark.django_db
API = "/crosssell/api/v1/"


def _item(store: Store) -> Item:
    return Item.objects.create(
        store=store, external_id="film-1", title="Film", kind="film", price=Decimal("9.99"), currency="EUR",
        url="/films/1/",
    )  # fmt: skip


def test_a_staff_user_without_a_permission_for_the_store_reads_nothing(store: Store) -> None:
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    _item(other)
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(staff)

    refused = client.get(API + "catalog/items/", {"store": other.pk})

    assert refused.status_code == 403 and "crosssell.view_store" in refused.json()["detail"]
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename="view_store"))
    staff = get_user_model().objects.get(pk=staff.pk)  # permissions are cached per user object
    client.force_login(staff)
    allowed = client.get(API + "catalog/items/", {"store": other.pk})
    assert allowed.status_code == 200 and allowed.json()["count"] == 1
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(boss)
    assert client.get(API + "catalog/items/", {"store": other.pk}).status_code == 200


def _ident(settings: Any, forwarded: str, proxies: int | None = None) -> str:
    if proxies is not None:
        settings.CROSSSELL = {**settings.CROSSSELL, "TRUSTED_PROXIES": proxies}
    raw = APIRequestFactory().get(API, HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="203.0.113.7")
    return ApiRateThrottle().get_ident(Request(raw))


def test_the_guest_rate_limit_ignores_a_client_sent_x_forwarded_for(settings: Any) -> None:
    # every request with a new made-up header was a new client: never limited
    assert _ident(settings, "198.51.100.1") == _ident(settings, "198.51.100.2") == "203.0.113.7"
    # behind one trusted proxy: the address it saw (the last entry), not what the client wrote before it
    assert _ident(settings, "10.9.9.9, 198.51.100.1", proxies=1) == "198.51.100.1"
    assert _ident(settings, "10.9.9.9, 198.51.100.1, 192.0.2.5", proxies=2) == "198.51.100.1"
    assert _ident(settings, "", proxies=1) == "203.0.113.7"


def test_a_trusted_proxy_count_is_checked(settings: Any) -> None:
    from crosssell_plugin.conf import validation_errors

    settings.CROSSSELL = {"TRUSTED_PROXIES": -1}
    [(check_id, message, _hint)] = validation_errors()
    assert check_id == "crosssell.E003" and "TRUSTED_PROXIES" in message


def test_an_sms_short_link_expires_like_a_click_token(store: Store, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "CLICK_TOKEN_MAX_AGE_DAYS": 30}
    item = _item(store)
    fresh = Impression.objects.create(store=store, item=item, placement="sms", rank=1, score=1.0)
    old = Impression.objects.create(
        store=store, item=item, placement="sms", rank=1, score=1.0, created_at=timezone.now() - timedelta(days=31)
    )
    client = Client()

    followed = client.get(f"/crosssell/s/{short_code(fresh)}/")
    assert followed.status_code == 302 and "/crosssell/r/" in followed["Location"]
    assert client.get(followed["Location"])["Location"] == "/films/1/"
    assert client.get(f"/crosssell/s/{short_code(old)}/").status_code == 400
