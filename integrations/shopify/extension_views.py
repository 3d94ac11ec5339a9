"""The endpoint of the Thank-you and Order-status blocks: ``/shopify/extension/recommendations/``.

The blocks (``integrations/shopify/extensions/``) call it with ``fetch`` from Shopify's sandboxed
origin; its contract is ``extensions/contract.schema.json`` (the README beside it explains it).
In order:

1. CORS: every answer (the ``OPTIONS`` preflight, errors too) carries
   ``Access-Control-Allow-Origin: *`` (no credentials: the Bearer token is the credential), the
   allowed methods and headers, and a ``Max-Age``; answers are ``Cache-Control: private, no-store``.
2. The session token (``Authorization: Bearer``) is verified by :func:`.auth.extension_session`:
   401 ``{"detail"}`` when missing, malformed, expired, badly signed or for another app.
3. The parameters (``order_id`` = ``gid://shopify/Order/<id>``, ``surface`` = ``thank_you`` or
   ``order_status``, ``locale``) from the query string (GET) or a JSON body (POST): 400 naming
   the bad one.
4. The token's shop must be an installed shop, and the order one of *its* Store (``external_id``
   = the GID's number), else 404. An order the ``orders/paid`` webhook has not brought yet is a
   404 too (the contract: the block shows nothing). When the token names a customer (``sub``) and
   the order has one, they must be the same, else 404.
5. The recommendations come from :mod:`crosssell_plugin.surfaces.serve` (``for_order``, computed
   ahead when the purchase was recorded) and their impressions are logged there (``serve.show``,
   placement = the surface), each with its signed click link made absolute on ``APP_URL``.

**Who may see what.** Order ids are guessable, and a token without ``sub`` (a guest checkout, the
pre-authenticated Order-status page) says nothing about who holds it. Such a token never gets an
offer code, and gets recommendations (which follow from what the order contained) only while the
order is recent enough to be the buyer's own Thank-you moment (:data:`ANONYMOUS_WINDOW`); later
it gets an empty list. An offer code (:mod:`.offers`, single-use, for that one customer) is
minted only for a token whose customer is the order's, and only when the view is given an offer
(``as_view(offer_percent=Decimal("10"))`` in the project's URLconf; none by default).

**Reloads.** The answer is kept in Django's cache for ``CROSSSELL["BLOCK_CACHE_SECONDS"]``, keyed
by store, order, surface, language, who asked (customer or not) and model version: a reload gets
the same items and links and logs no new impressions, as the template blocks do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from crosssell_plugin.conf import crosssell_settings
from crosssell_plugin.exceptions import PlatformAPIError
from crosssell_plugin.models import Customer, Order, Store
from crosssell_plugin.money import minor_units
from crosssell_plugin.surfaces import serve

from . import auth, conf, offers, throttle
from .client import ShopifyClient
from .models import ShopifyShop

logger = logging.getLogger(__name__)

#: what the blocks may send and read (the preflight's answer; also on every other answer)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "7200",
}
ORDER_GID = re.compile(r"^gid://shopify/Order/([1-9][0-9]{0,19})$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
SURFACES = ("thank_you", "order_status")
#: items in one answer (the template blocks' default)
LIMIT = 4
#: how long after the order a token without a customer still gets recommendations
ANONYMOUS_WINDOW = timedelta(hours=2)


class Refused(Exception):
    """An answer other than 200: its status and the ``detail`` the blocks log."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        #: seconds, for a 429
        self.retry_after = retry_after


def refused_answer(refused: Refused) -> HttpResponse:
    """The JSON answer of a refusal, with ``Retry-After`` on a 429."""
    response = JsonResponse({"detail": refused.detail[:1000]}, status=refused.status)
    if refused.retry_after is not None:
        response["Retry-After"] = str(refused.retry_after)
    return response


def within_rate(domain: str, endpoint: str) -> None:
    """Refuse (429) a shop past ``STOREFRONT_RATE`` on ``endpoint``."""
    wait = throttle.retry_after(domain, endpoint)
    if wait is not None:
        raise Refused(429, f"Too many requests for {domain}: try again in {wait} s.", retry_after=wait)


def with_cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS_HEADERS.items():
        response[name] = value
    response["Cache-Control"] = "private, no-store"
    return response


def error(status: int, detail: str) -> HttpResponse:
    return with_cors(JsonResponse({"detail": detail[:1000]}, status=status))


def price_string(amount: Decimal, currency: str) -> str:
    """``amount`` with the currency's decimals, as the contract writes it: ``"12.00"``, ``"1500"``."""
    return f"{amount.quantize(Decimal(1).scaleb(-minor_units(currency))):f}"


def https_url(url: str, shop_domain: str) -> str | None:
    """``url`` as an absolute https URL (a site path is taken as the shop's), or None."""
    if url.startswith("/") and not url.startswith("//"):
        url = f"https://{shop_domain}{url}"
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in url):
        return None
    return url


def parameters(request: HttpRequest) -> dict[str, str]:
    """order_id, surface and locale from the query (GET) or the JSON body (POST); Refused(400) naming a bad one."""
    source: Mapping[str, Any]
    if request.method == "POST":
        try:
            source = json.loads(request.body or b"{}")
        except ValueError:
            raise Refused(400, "The body is not JSON: send {order_id, surface, locale}.") from None
        if not isinstance(source, dict):
            raise Refused(400, "The body must be a JSON object {order_id, surface, locale}.")
    else:
        source = request.GET
    order_id, surface, locale = (source.get(key) for key in ("order_id", "surface", "locale"))
    if not isinstance(order_id, str) or not ORDER_GID.match(order_id):
        raise Refused(400, "order_id must be an order's GID such as gid://shopify/Order/5829175681234.")
    if surface not in SURFACES:
        raise Refused(400, f"surface must be one of {', '.join(SURFACES)}.")
    if locale in (None, ""):
        locale = "en"
    if not isinstance(locale, str) or len(locale) > 35 or not LOCALE.match(locale):
        raise Refused(400, "locale must be a BCP 47 language tag such as en or fr-CA.")
    return {"order_id": order_id, "surface": str(surface), "locale": locale}


def installed_shop(domain: str) -> ShopifyShop:
    found = ShopifyShop.objects.installed().select_related("store").filter(domain=domain).first()
    if found is None:
        raise Refused(404, f"The shop {domain} has not installed the app.")
    return found


def order_of(store: Store, order_gid: str, session: auth.SessionToken) -> Order:
    """The store's order named by the GID, readable with this session; Refused(404) otherwise."""
    match = ORDER_GID.match(order_gid)
    number = match.group(1) if match else ""
    found = (
        Order.objects.for_store(store).filter(external_id=number).select_related("store", "customer").order_by().first()
    )
    if found is None:
        raise Refused(404, f"No order {number} of this shop is known yet.")
    held = found.customer.external_id
    if session.sub is not None and held and session.customer_gid != f"gid://shopify/Customer/{held}":
        raise Refused(404, f"No order {number} of this customer.")
    return found


def customer_matches(order: Order, session: auth.SessionToken) -> bool:
    held = order.customer.external_id
    return bool(held) and session.customer_gid == f"gid://shopify/Customer/{held}"


def absolute(request: HttpRequest, path: str) -> str:
    base = conf.options()["APP_URL"]
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def shown_items(
    request: HttpRequest,
    shop: ShopifyShop,
    recommendations: list[serve.Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
) -> list[dict[str, Any]]:
    """The first :data:`LIMIT` recommendations with an https page, as the contract's items (no
    offers yet); their impressions are logged now (``serve.show``)."""
    shown = []
    for rec in recommendations:
        url = https_url(rec.item.url, shop.domain)
        if url is not None:  # the blocks refuse an item without an https page
            shown.append((rec, url))
    shown = shown[:LIMIT]
    impressions = serve.show(shop.store, [rec for rec, _ in shown], placement, order=order, customer=customer)
    answer = []
    for (rec, url), impression in zip(shown, impressions, strict=True):
        item = rec.item
        _, link = serve.token_and_link(impression)
        answer.append(
            {
                "id": item.external_id,
                "title": item.title,
                "url": url,
                "image_url": https_url(item.image_url, shop.domain) if item.image_url else None,
                "price": {"amount": price_string(item.price, item.currency), "currency": item.currency},
                "reason": (rec.reason_texts[0] if rec.reason_texts else "") or gettext("Picked for you by this shop"),
                "offer": None,
                "click_url": absolute(request, link),
            }
        )
    return answer


def _cache_key(order: Order, surface: str, locale: str, customer: str | None) -> str:
    who = hashlib.sha256((customer or "").encode()).hexdigest()[:16]
    version = serve.model_version(order.store)
    return f"crosssell:shopify-extension:{order.store_id}:{order.pk}:{surface}:{locale.lower()}:{who}:v{version}"


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class ExtensionRecommendations(View):
    """``GET|POST /shopify/extension/recommendations/`` (and its ``OPTIONS`` preflight)."""

    http_method_names = ["get", "post", "options"]
    #: a discount on the first item for a logged-in buyer whose order it is (None: no offers)
    offer_percent: Decimal | None = None
    #: how long an offer code works
    offer_days: int = 7

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return with_cors(HttpResponse(status=204))

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = error(405, f"{request.method} is not allowed here: use GET.")
        response["Allow"] = "GET, POST, OPTIONS"
        return response

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            session = self.session(request)
            within_rate(session.shop, "extension")
            params = parameters(request)
            shop = installed_shop(session.shop)
            order = order_of(shop.store, params["order_id"], session)
            body = self.answer(request, shop, order, session, params)
        except Refused as refused:
            logger.info("Shopify extension request answered %s: %s", refused.status, refused.detail)
            return with_cors(refused_answer(refused))
        except Exception:  # the blocks read a detail only from an answer that carries the CORS headers
            logger.exception("The Shopify extension request for %s failed", request.GET.get("order_id", "")[:60])
            return error(500, "The recommendations could not be read; try again later.")
        return with_cors(JsonResponse(body))

    post = get

    def session(self, request: HttpRequest) -> auth.SessionToken:
        try:
            return auth.extension_session(auth.bearer_token(request.headers.get("Authorization")))
        except auth.InvalidShopifyRequest as err:
            raise Refused(401, str(err)) from None

    def answer(
        self,
        request: HttpRequest,
        shop: ShopifyShop,
        order: Order,
        session: auth.SessionToken,
        params: dict[str, str],
    ) -> dict[str, Any]:
        surface, locale = params["surface"], params["locale"]
        own = customer_matches(order, session)
        body = {"order_id": params["order_id"], "surface": surface, "heading": None, "impressions_logged": True}
        if not own and timezone.now() - order.placed_at > ANONYMOUS_WINDOW:
            return {**body, "items": []}  # a guessed order id learns nothing about the order
        seconds = crosssell_settings.BLOCK_CACHE_SECONDS
        key = _cache_key(order, surface, locale, session.customer_gid if own else None)
        cached = cache.get(key) if seconds else None
        if cached is not None:
            return {**body, "items": cached}
        # a misconfigured offer fails here, before anything is logged
        value = offers.Percentage(Decimal(self.offer_percent)) if own and self.offer_percent is not None else None
        with translation.override(locale):
            recs = serve.for_order(order, limit=2 * LIMIT, placement=surface)
            items = shown_items(request, shop, recs, surface, order=order, customer=order.customer)
            if value is not None and items:
                items[0]["offer"] = self.offer(shop, order, items[0], session, value)
        if seconds and items:
            cache.set(key, items, seconds)
        return {**body, "items": items}

    def offer(
        self,
        shop: ShopifyShop,
        order: Order,
        item: dict[str, Any],
        session: auth.SessionToken,
        value: offers.Percentage,
    ) -> dict[str, Any] | None:
        """The buyer's code for ``item`` (found or created on the shop); None if Shopify fails."""
        percent = Decimal(value.percent)
        now = timezone.now()
        ends = (now + timedelta(days=self.offer_days)).replace(microsecond=0)
        product = [f"gid://shopify/Product/{item['id']}"] if item["id"].isdigit() else []
        client = ShopifyClient(shop.domain, lambda: auth.access_token(shop), shop.api_version, max_retries=1)
        try:
            code = offers.create_offer_code(
                client,
                f"order-{order.external_id}-item-{item['id']}",
                value,
                starts_at=now,
                ends_at=ends,
                customer_id=session.customer_gid,
                product_ids=product,
            )
        except (PlatformAPIError, auth.ShopNotInstalled) as err:
            logger.warning("No offer code for order %s of %s: %s", order.external_id, shop.domain, err)
            return None
        finally:
            client.close()
        return {
            "code": code.code,
            "description": gettext("%(percent)s%% off this item") % {"percent": f"{percent.normalize():f}"},
            "expires_at": ends.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


recommendations = ExtensionRecommendations.as_view()
