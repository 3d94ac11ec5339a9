"""Absolute links for messages read outside the site (emails, SMS): the site's base URL; and which
URLs are safe to link or redirect to (:func:`is_safe_target`).

The base is ``CROSSSELL["SITE_URL"]`` when set (``"https://shop.example.com"``, or with a
path prefix when the site is mounted below one: ``"https://example.com/shop"``), else
``https://`` + the domain of the current ``django.contrib.sites`` Site. A worker has no request
to take a host from, so one of the two must be right.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .conf import SETTINGS, crosssell_settings


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


def site_url() -> str:
    """The site's base URL without a trailing slash, e.g. ``"https://shop.example.com"``."""
    configured = crosssell_settings.SITE_URL
    if configured:
        problem = SETTINGS["SITE_URL"].validate(configured)
        if problem:
            raise ImproperlyConfigured(f'CROSSSELL["SITE_URL"] {problem}.')
        return str(configured).rstrip("/")
    if apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import Site

        domain = Site.objects.get_current().domain.strip().rstrip("/")
        if domain:
            return f"https://{domain}"
    raise ImproperlyConfigured(
        'Links in emails and SMS need the site\'s address: set CROSSSELL["SITE_URL"] '
        '(e.g. "https://shop.example.com") or the domain of the current django.contrib.sites Site.'
    )


def site_host() -> str:
    """The host name of :func:`site_url` (``"shop.example.com"``)."""
    return urlsplit(site_url()).hostname or "localhost"


def absolute_url(url: str) -> str:
    """``url`` made absolute: a path on this site (``/x/``) is joined to :func:`site_url`, an
    http(s) URL is kept; anything else (``javascript:``, ``//host``, empty) gives ``""``."""
    if not is_safe_target(url):
        return ""
    return site_url() + url if url.startswith("/") else url
