"""The Shopify webhook view: the shared pipeline (``integrations.webhooks``) for platform ``shopify``.

One app-level URL serves every shop: ``/crosssell/webhooks/shopify/app/`` (the core's route with
``app`` as its store key; a shop's own domain works too, for shop-specific subscriptions). The
shop is the ``X-Shopify-Shop-Domain`` header; the adapter (:mod:`integrations.shopify.adapter`)
verifies ``X-Shopify-Hmac-Sha256`` **before** the shop is looked up (the signature is the app's,
not the shop's), so a forged request is answered 401 whatever shop it names. Shopify's rules,
which differ from the base view's:

* a missing or bad signature answers **401** (Shopify's app review checks it), nothing stored;
* an unknown shop, or one that uninstalled the app, answers **200** with nothing stored (Shopify
  would otherwise retry for hours); the privacy topics (``customers/redact``,
  ``customers/data_request``, ``shop/redact``) are still accepted from a shop that uninstalled,
  since ``shop/redact`` comes 48 hours after the uninstall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from django.http import HttpRequest

from crosssell_plugin.platforms import WebhookValidationFailure
from integrations.webhooks import WebhookView

#: the header Shopify signs the body in
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
#: the store key of the app-level URL (every shop)
APP_STORE_KEY = "app"


def body_signature(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 of the HMAC-SHA256 of the raw body, keyed with ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def verify_body(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """WebhookValidationFailure unless ``header`` is the signature of ``body`` with one of
    ``secrets`` (the app's secret, then the previous one during a rotation); compared in
    constant time, every secret tried."""
    if not header or not header.strip():
        raise WebhookValidationFailure(f"The Shopify webhook has no {HMAC_HEADER} header.")
    given = header.strip().encode("ascii", "replace")
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(body_signature(body, secret).encode("ascii"), given)
    if not matched:
        raise WebhookValidationFailure(f"Bad {HMAC_HEADER}: the body is not signed with the app's secret.")


class ShopifyWebhookView(WebhookView):
    platform_id = "shopify"
    refused_status = 401
    unknown_store_status = 200

    def validate_request(self, request: HttpRequest) -> None:
        """Nothing more to check here: the adapter verified the signature in ``webhook_store``
        (and ``verify_webhook`` checks it again, through the base view)."""
