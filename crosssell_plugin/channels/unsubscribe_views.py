"""The unsubscribe page: ``/crosssell/u/<token>/`` (see :mod:`crosssell_plugin.channels.unsubscribe`).

GET asks for confirmation and changes nothing (mail scanners and link previews follow links);
POST unsubscribes at once. The POST is CSRF-exempt because mail providers send RFC 8058
one-click unsubscribes (body ``List-Unsubscribe=One-Click``) without a cookie or a form token;
the signed token is what authorises it. A POST whose form Django refuses to read (larger than
``DATA_UPLOAD_MAX_MEMORY_SIZE``, too many fields, a broken multipart body) is answered 413 or 400
with the reason and unsubscribes nobody.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .. import jsonbody
from .unsubscribe import SOURCE_LINK, SOURCE_ONE_CLICK, customer_of
from .unsubscribe import unsubscribe as unsubscribe_customer

TEMPLATE = "crosssell/unsubscribe.html"


def _page(request: HttpRequest, state: str, status: int = 200, **context: object) -> HttpResponse:
    html = render_to_string(TEMPLATE, {"state": state, **context}, request=request)
    response = HttpResponse(html, status=status)
    response["X-Robots-Tag"] = "noindex"
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirmation page with a button (or "already unsubscribed"); POST: unsubscribe,
    then the done page. A tampered or unknown token gives a 400 page and changes nothing."""
    customer = customer_of(token)
    if customer is None:
        return _page(request, "invalid", status=400)
    store = customer.store.name
    if request.method == "POST":
        try:
            one_click = jsonbody.form(request).get("List-Unsubscribe") == "One-Click"
        except jsonbody.InvalidBody as err:
            return HttpResponse(str(err), status=err.status, content_type="text/plain; charset=utf-8")
        unsubscribe_customer(customer, SOURCE_ONE_CLICK if one_click else SOURCE_LINK)
        return _page(request, "done", store=store)
    state = "already" if customer.unsubscribed_at is not None else "confirm"
    return _page(request, state, store=store, action=request.path)
