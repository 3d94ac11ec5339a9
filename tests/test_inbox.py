"""The in-app channel end to end: a dispatched follow-up appears in the API and the template tag."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.template import Context, Template
from django.test import Client

from crosssell_plugin.followups.dispatch import dispatch_due
from crosssell_plugin.models import ApiKey, InAppMessage, Order, Step, Store

from .followups_support import T0, customer, enable_default_path, event, seed_popular

API = "/crosssell/api/v1/"


@pytest.fixture
def delivered(store: Store, record: Callable[..., Order], isolated_models: None) -> Order:
    seed_popular(record)
    enable_default_path(store, channel="in_app")
    Step.objects.filter(path__store=store, position=1).update(subject="<b>{{ first_name }}</b>, for you")
    order = record(event("in-1", who=customer(first_name="<Ann>")))
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        assert dispatch_due().sent == 1
    cache.clear()
    return order


def _get(store: Store, url: str, method: str = "get") -> Any:
    key = ApiKey.create_key(store, "inbox")[1]
    return getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_the_api_lists_and_marks_read(store: Store, delivered: Order) -> None:
    url = f"{API}customers/ann@example.com/messages/"
    body = _get(store, url).json()
    assert body["unread"] == 1 and len(body["results"]) == 1
    message = body["results"][0]
    assert message["title"] == "<b><Ann></b>, for you" and message["read_at"] is None
    assert message["recommendations"] and message["recommendations"][0]["url"].startswith("/crosssell/")
    read = _get(store, f"{url}{message['id']}/read/", "post")
    assert read.status_code == 200 and read.json()["read_at"]
    assert _get(store, url + "?unread=true").json() == {"results": [], "unread": 0}
    assert _get(store, f"{API}customers/nobody@example.com/messages/").status_code == 404


def test_another_store_sees_nothing(store: Store, delivered: Order) -> None:
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    assert _get(other, f"{API}customers/ann@example.com/messages/").status_code == 404


def test_the_inbox_tag_escapes_and_labels(store: Store, delivered: Order) -> None:
    html = Template("{% load crosssell_inbox %}{% crosssell_inbox customer %}").render(
        Context({"customer": delivered.customer})
    )
    assert 'aria-labelledby="crosssell-inbox-title"' in html and "(1 new)" in html
    assert "&lt;b&gt;&lt;Ann&gt;&lt;/b&gt;" in html and "<b>" not in html
    assert InAppMessage.objects.get().payload["recommendations"][0]["title"] in html
    assert Template("{% load crosssell_inbox %}{% crosssell_inbox None %}").render(Context()).strip() == ""
