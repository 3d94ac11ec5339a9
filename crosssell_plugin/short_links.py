"""Short click links for SMS: ``/crosssell/s/<code>/``, where ``code`` is the impression's random
key in 22 URL-safe characters.

A signed click link (``/crosssell/r/<token>/``, see :mod:`.tracking`) carries the impression's
facts and runs to some 200 characters: too long for a 320-character SMS. The short link names
only the key (122 random bits, as unguessable as a signature) and redirects to the signed link,
which records the click and goes on to the item. It works once the impression row is written,
which the dispatcher does right after the send.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import Impression
from .tracking import click_url


def short_code(impression: Impression) -> str:
    return base64.urlsafe_b64encode(impression.key.bytes).decode("ascii").rstrip("=")


def key_of(code: str) -> uuid.UUID | None:
    if len(code) != 22:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(code + "=="))
    except (binascii.Error, ValueError):
        return None


def short_click_url(impression: Impression) -> str:
    """The short link of an impression (site-relative); its signed click link when the project
    does not route ``crosssell:short-click``."""
    try:
        return reverse("crosssell:short-click", args=[short_code(impression)])
    except NoReverseMatch:
        return click_url(impression)


@never_cache
@require_GET
def short_click(request: HttpRequest, code: str) -> HttpResponse:
    """302 to the impression's signed click link; 400 for an unknown or malformed code."""
    key = key_of(code)
    impression = Impression.objects.filter(key=key).select_related("item").first() if key else None
    target = click_url(impression) if impression is not None else ""
    if not target:
        return HttpResponse(render_to_string("crosssell/bad_link.html", request=request), status=400)
    return HttpResponseRedirect(target)
