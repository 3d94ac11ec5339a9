"""Shopify webhook deliveries as Shopify sends them: the body of a fixture, signed and with its
``X-Shopify-*`` headers, posted to the app-level URL; the shop installed for them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from django.test import Client
from django.urls import reverse

from crosssell_plugin.models import WebhookDelivery

from .conftest import API_SECRET, FIXTURES, T0

#: the shop the privacy fixtures name
SHOP = "demo-merch.myshopify.com"
OTHER_SHOP = "course-school.myshopify.com"
#: the app-level URL every shop's deliveries go to
URL_KEY = "app"


def body_of(name: str, **changes: Any) -> bytes:
    """The fixture ``webhook_<name>.json`` as raw bytes (unchanged unless ``changes`` are given)."""
    raw = (FIXTURES / f"webhook_{name}.json").read_bytes()
    if not changes:
        return raw
    return json.dumps(json.loads(raw) | changes).encode()


def hmac_of(body: bytes, secret: str = API_SECRET) -> str:
    """Shopify's signature, written out independently of the code under test."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(
    topic: str,
    body: bytes,
    *,
    shop: str = SHOP,
    webhook_id: str | None = None,
    event_id: str | None = "",
    triggered_at: datetime | None = None,
    secret: str = API_SECRET,
    signature: str | None = None,
) -> dict[str, str]:
    """Test-client keywords of a delivery; ids derived from the body unless given (None leaves
    the event id out)."""
    digest = hashlib.sha256(body).hexdigest()
    out = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": shop,
        "HTTP_X_SHOPIFY_API_VERSION": "2026-07",
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or f"wh-{digest[:32]}",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": (triggered_at or T0 + timedelta(minutes=1)).isoformat(),
        "HTTP_X_SHOPIFY_HMAC_SHA256": hmac_of(body, secret) if signature is None else signature,
    }
    if event_id is not None:
        out["HTTP_X_SHOPIFY_EVENT_ID"] = event_id or f"ev-{digest[:24]}"
    return out


def url(key: str = URL_KEY) -> str:
    return reverse("crosssell:webhook", args=["shopify", key])


def post(client: Client, topic: str, body: bytes, *, key: str = URL_KEY, **options: Any) -> Any:
    return client.post(url(key), data=body, content_type="application/json", **headers(topic, body, **options))


def deliver(client: Client, capture: Any, topic: str, body: bytes, **options: Any) -> WebhookDelivery | None:
    """POST a delivery and run what its commit enqueues (eager Celery): the stored row, if any."""
    before = set(WebhookDelivery.objects.values_list("pk", flat=True))
    with capture(execute=True):
        response = post(client, topic, body, **options)
    assert response.status_code == 200, response.content
    new = WebhookDelivery.objects.exclude(pk__in=before).order_by("pk").last()
    return new
