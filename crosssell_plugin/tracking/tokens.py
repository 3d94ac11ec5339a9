"""The signed click tokens of impressions and their links: ``/crosssell/r/<token>/``, and the short
``/crosssell/s/<code>/`` links of SMS (the impression's random key in 22 URL-safe characters).

A signed click link carries the impression's facts and runs to some 200 characters: too long for a
320-character SMS. The short link names only the key (122 random bits, as unguessable as a
signature) and redirects to the signed link, which records the click and goes on to the item. It
works once the impression row is written, which the dispatcher does right after the send.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import timedelta
from typing import Any

from django.core import signing
from django.urls import NoReverseMatch, reverse

from ..absolute_urls import is_safe_target
from ..conf import crosssell_settings
from ..models import Impression

CLICK_SALT = "crosssell.click"


def click_token(impression: Impression) -> str:
    """The signed token of an impression's link (the impression need not be saved yet)."""
    return signing.dumps(
        {
            "k": impression.key.hex,
            "s": impression.store_id,
            "it": impression.item_id,
            "o": impression.order_id,
            "c": impression.customer_id,
            "p": impression.placement,
            "r": impression.rank,
            "v": impression.model_version_id,
            "sc": round(impression.score, 6),
            "t": int(impression.created_at.timestamp()),
            **({"va": impression.variant} if impression.variant else {}),
        },
        salt=CLICK_SALT,
        compress=True,
    )


def _payload(token: str) -> dict[str, Any] | None:
    max_age = timedelta(days=crosssell_settings.CLICK_TOKEN_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=CLICK_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    return payload if isinstance(payload, dict) else None


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _optional(value: Any) -> bool:
    return value is None or _positive(value)


def click_url(impression: Impression) -> str:
    """The tracked link of an impression; the item's own URL (if safe) when the project does not
    include ``crosssell_plugin.urls``."""
    return tracked_link(impression)[1]


def tracked_link(impression: Impression) -> tuple[str, str]:
    """The token of an impression and its tracked link (which carries that token); the token and
    the item's own URL (if safe) when the project does not include ``crosssell_plugin.urls``."""
    token = click_token(impression)
    try:
        return token, reverse("crosssell:click", args=[token])
    except NoReverseMatch:
        url = impression.item.url
        return token, url if is_safe_target(url) else ""


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
