"""The App Proxy endpoint for Online Store pages: ``/shopify/proxy/recommendations/``.

In the app's settings (*App proxy*), a subpath such as ``apps/crosssell`` forwarded to
``{APP_URL}/shopify/proxy/`` makes ``https://{shop}/apps/crosssell/recommendations/`` reach this
view, with Shopify's parameters added to the query: ``shop``, ``logged_in_customer_id`` (empty for
a visitor who is not logged in), ``path_prefix``, ``timestamp`` and ``signature``.

* **Signature**: the hex HMAC-SHA256 (the app's client secret, or the previous one while it is
  rotated) of every other parameter, sorted by key, each written ``key=value`` (a repeated key's
  values joined with ``,``) and concatenated *without* separators; compared in constant time.
  A repeated ``shop``, ``timestamp`` or ``signature``, a timestamp further than
  ``TIMESTAMP_TOLERANCE_SECONDS`` from now, or a mismatch is a 401 and nothing is logged.
* **Shop**: must have installed the app, else 404.
* **What**: with ``product_id`` (a Shopify product id), what goes with that product (placement
  ``item_page``); else, for a logged-in customer crosssell knows (``logged_in_customer_id``), what
  they may buy next (placement ``next_order``); else nothing. The impressions of what is
  answered are logged through :mod:`crosssell_plugin.surfaces.serve`.
* **Answer**: JSON ``{"placement", "items"}`` (the items as the extension endpoint writes them,
  without offers), or with ``format=liquid`` a small HTML list sent as ``application/liquid``,
  which Shopify renders inside the shop's theme.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from crosssell_plugin.models import Customer, Item
from crosssell_plugin.surfaces import serve

from . import auth, conf
from .extension_views import LIMIT, Refused, installed_shop, refused_answer, shown_items, within_rate
from .models import ShopifyShop

logger = logging.getLogger(__name__)

#: parameters Shopify adds once; a second value is a forgery attempt
SINGLE = ("shop", "timestamp", "signature")
NUMERIC_ID = re.compile(r"^[1-9][0-9]{0,19}$")


def signed_message(query: QueryDict) -> bytes:
    """What an App Proxy ``signature`` signs: ``key=value`` of every other parameter, sorted by
    key, values of a repeated key joined with ``,``, concatenated without separators."""
    pairs = sorted((key, ",".join(values)) for key, values in query.lists() if key != "signature")
    return "".join(f"{key}={value}" for key, value in pairs).encode()


@sensitive_variables()
def sign(query: QueryDict, secret: str) -> str:
    """The ``signature`` Shopify would add to ``query`` (for tests and tools)."""
    return hmac.new(secret.encode(), signed_message(query), hashlib.sha256).hexdigest()


@sensitive_variables()
def verify(query: QueryDict, secrets: Sequence[str] | None = None) -> str:
    """The shop domain of a proxied request whose signature, timestamp and shop are right;
    :class:`~.auth.InvalidShopifyRequest` naming the problem otherwise."""
    for key in SINGLE:
        if len(query.getlist(key)) > 1:
            raise auth.InvalidShopifyRequest(f"The parameter {key!r} appears more than once; Shopify sends it once.")
    given = query.get("signature", "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", given):
        raise auth.InvalidShopifyRequest("The request has no signature (a hex SHA-256 digest): it is not from Shopify.")
    message = signed_message(query)
    matched = False
    for secret in secrets or conf.credentials().verifying_secrets():
        matched |= hmac.compare_digest(hmac.new(secret.encode(), message, hashlib.sha256).hexdigest(), given)
    if not matched:
        raise auth.InvalidShopifyRequest(
            "The request's signature does not match its parameters: it was not signed by Shopify with this app's "
            "client secret, or it was changed on the way."
        )
    auth.check_timestamp(query.get("timestamp"))
    return auth.normalize_shop_domain(query.get("shop"))


def _recommendations(shop: ShopifyShop, query: QueryDict) -> tuple[str, list[serve.Recommendation], Customer | None]:
    """(placement, recommendations, the logged-in customer if known) of a verified request."""
    customer_id = query.get("logged_in_customer_id", "").strip()
    customer = None
    if NUMERIC_ID.match(customer_id):
        customer = Customer.objects.for_store(shop.store).filter(external_id=customer_id).order_by("pk").first()
    product_id = query.get("product_id", "").strip()
    if product_id:
        if not NUMERIC_ID.match(product_id):
            raise Refused(400, "product_id must be a Shopify product's numeric id.")
        item = Item.objects.for_store(shop.store).filter(external_id=product_id).first()
        recs = serve.for_item(item, limit=2 * LIMIT, placement="item_page") if item is not None else []
        return "item_page", recs, customer
    if customer is not None:
        return "next_order", serve.for_customer(customer, limit=2 * LIMIT, placement="next_order"), customer
    return "next_order", [], None


def _liquid(items: list[dict[str, Any]]) -> HttpResponse:
    rows = format_html_join(
        "",
        '<li class="crosssell-item"><a href="{}">{}</a> <span class="crosssell-price">{} {}</span>'
        '<br><small class="crosssell-reason">{}</small></li>',
        (
            (item["click_url"], item["title"], item["price"]["amount"], item["price"]["currency"], item["reason"])
            for item in items
        ),
    )
    html = format_html('<ul class="crosssell-recommendations">{}</ul>', rows) if items else ""
    return HttpResponse(html, content_type="application/liquid; charset=utf-8")


@require_GET
@never_cache
@login_not_required
def recommendations(request: HttpRequest) -> HttpResponse:
    try:
        try:
            domain = verify(request.GET)
        except auth.InvalidShopifyRequest as err:
            raise Refused(401, str(err)) from None
        within_rate(domain, "proxy")
        shop = installed_shop(domain)
        placement, recs, customer = _recommendations(shop, request.GET)
    except Refused as refused:
        logger.info("Shopify app proxy request answered %s: %s", refused.status, refused.detail)
        return refused_answer(refused)
    items = shown_items(request, shop, recs, placement, customer=customer)
    for item in items:
        del item["offer"]
    if request.GET.get("format") == "liquid":
        return _liquid(items)
    return JsonResponse({"placement": placement, "items": items})
