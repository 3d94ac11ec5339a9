"""The click redirects of recommendation links: ``/crosssell/r/<token>/`` (the signed link) and
``/crosssell/s/<code>/`` (the short link of an SMS), see :mod:`.tokens`."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..absolute_urls import is_safe_target
from ..conf import crosssell_settings
from ..models import Click, Impression
from .impressions import impression_of
from .tokens import click_url, key_of


def _bad_link(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render_to_string("crosssell/bad_link.html", request=request), status=400)


@never_cache
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Log a Click and send the browser (302) to the impression's item URL.

    Only to the item's stored URL, and only a path on this site or an http(s) URL: a tampered,
    malformed or expired token, an unknown impression or any other URL gives a 400 page.
    """
    impression = impression_of(token)
    if impression is None or not is_safe_target(impression.item.url):
        return _bad_link(request)
    agent = request.headers.get("User-Agent", "")
    Click.objects.create(
        impression=impression,
        user_agent_hash=hashlib.sha256(agent.encode("utf-8", "replace")).hexdigest() if agent else "",
    )
    return HttpResponseRedirect(impression.item.url)


@never_cache
@require_GET
def short_click(request: HttpRequest, code: str) -> HttpResponse:
    """302 to the impression's signed click link; 400 for an unknown or malformed code, or one older
    than ``CLICK_TOKEN_MAX_AGE_DAYS`` (it expires like the signed link: that one is signed afresh
    here, so its own age would not tell)."""
    key = key_of(code)
    impression = Impression.objects.filter(key=key).select_related("item").first() if key else None
    max_age = timedelta(days=crosssell_settings.CLICK_TOKEN_MAX_AGE_DAYS)
    if impression is not None and timezone.now() - impression.created_at > max_age:
        impression = None
    target = click_url(impression) if impression is not None else ""
    if not target:
        return _bad_link(request)
    return HttpResponseRedirect(target)
