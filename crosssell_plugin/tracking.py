"""Impressions and the signed click links of the recommendation blocks.

A link is ``/crosssell/r/<token>/`` with ``token = signing.dumps({"i": impression pk},
salt="crosssell.click")``: it names an impression, never a URL, so the redirect can only go to
the stored URL of the impression's item, and only when that URL is a path on this site
(``/films/cleo/``) or an ``http(s)://`` URL (see :func:`is_safe_target`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.core import signing
from django.urls import NoReverseMatch, reverse

from .conf import crosssell_settings
from .models import Customer, Impression, ModelVersion, Order, Store

if TYPE_CHECKING:
    from .recommend import Recommendation

CLICK_SALT = "crosssell.click"


def click_token(impression_pk: int) -> str:
    return signing.dumps({"i": impression_pk}, salt=CLICK_SALT)


def impression_pk_of(token: str) -> int | None:
    """The impression pk a token names; None if it is tampered, malformed or older than
    ``CLICK_TOKEN_MAX_AGE_DAYS``."""
    max_age = timedelta(days=crosssell_settings.CLICK_TOKEN_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=CLICK_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    pk = payload.get("i") if isinstance(payload, dict) else None
    if isinstance(pk, bool) or not isinstance(pk, int) or pk <= 0:
        return None
    return pk


def is_safe_target(url: str) -> bool:
    """A path on this site (``/x``, not ``//host``) or an absolute http(s) URL; nothing else
    (no ``javascript:``, no scheme-relative URL, no backslashes, spaces or control characters)."""
    if not url or "\\" in url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def click_url(impression: Impression) -> str:
    """The tracked link of an impression; the item's own URL (if safe) when the project does not
    include ``crosssell_plugin.urls``."""
    try:
        return reverse("crosssell:click", args=[click_token(impression.pk)])
    except NoReverseMatch:
        url = impression.item.url
        return url if is_safe_target(url) else ""


def log_impressions(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
) -> list[Impression]:
    """One Impression per recommendation, in rank order, written in one ``bulk_create``."""
    wanted = {r.model_version for r in recommendations if r.model_version is not None}
    versions = (
        dict(ModelVersion.objects.for_store(store).filter(version__in=wanted).values_list("version", "pk"))
        if wanted
        else {}
    )
    rows = [
        Impression(
            store=store,
            order=order,
            customer=customer,
            item=rec.item,
            placement=placement,
            rank=rank,
            score=rec.score,
            model_version_id=versions.get(rec.model_version) if rec.model_version is not None else None,
            reason="\n".join(rec.reason_texts),
        )
        for rank, rec in enumerate(recommendations, start=1)
    ]
    return Impression.objects.bulk_create(rows)
