"""The install flow's two views (the authorization-code grant).

``install`` is the app's URL in the Partner Dashboard: Shopify sends the merchant there with a
signed query (``shop``, ``timestamp``, ``hmac``, often ``host``); it answers with a redirect to the
shop's authorize page carrying a fresh ``state``. ``callback`` is the allow-listed redirect URI:
it checks the signed query and the state, trades the ``code`` for an expiring offline token,
records the install and sends the merchant to the app. A request that fails a check is answered
400 with the reason as plain text, and nothing is stored (a code Shopify refuses is a 400 too; a
502 when Shopify does not answer). The state is spent either way: the merchant starts again.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from . import installs
from .auth import InvalidShopifyRequest, ShopifyTokenError, authorize_url, exchange_code, verify_signed_query

logger = logging.getLogger(__name__)


def _refused(request: HttpRequest, err: Exception, status: int = 400) -> HttpResponse:
    logger.warning("Shopify %s answered %s: %s", request.path, status, err)
    return HttpResponse(f"{err}\n", status=status, content_type="text/plain; charset=utf-8")


@require_GET
@never_cache
@login_not_required
def install(request: HttpRequest) -> HttpResponse:
    try:
        shop = verify_signed_query(request.GET)
    except InvalidShopifyRequest as err:
        return _refused(request, err)
    state = installs.new_state(shop)
    return HttpResponseRedirect(authorize_url(shop=shop, state=state, redirect_uri=installs.redirect_uri(request)))


@require_GET
@never_cache
@login_not_required
@sensitive_variables()
def callback(request: HttpRequest) -> HttpResponse:
    try:
        shop = verify_signed_query(request.GET)
        code = request.GET.get("code", "")
        if not code:
            raise InvalidShopifyRequest("The callback has no code parameter.")
        installs.consume_state(shop, request.GET.get("state", ""))
    except InvalidShopifyRequest as err:
        return _refused(request, err)
    try:
        tokens = exchange_code(shop, code)
    except ShopifyTokenError as err:  # a code Shopify refuses is the request's fault; no answer is Shopify's
        refused = err.status_code is not None and 400 <= err.status_code < 500
        return _refused(request, err, status=400 if refused else 502)
    return HttpResponseRedirect(installs.after_install_url(installs.record_install(shop, tokens)))
