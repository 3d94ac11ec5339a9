"""Who may call the API, for which store, and how often.

* :class:`ApiKeyAuthentication`: ``Authorization: Bearer <key>``; ``request.auth`` is the
  :class:`~crosssell_plugin.models.ApiKey` and every query is scoped to its store.
* DRF's ``SessionAuthentication`` for staff users of the site, who name the store with
  ``?store=<store pk>`` (:class:`HasStore`).
* Any other visitor of the site's own pages, signed in or not, with their session: a *shopper*
  of the site's store (:mod:`crosssell_plugin.shoppers`), who may only ask about their own
  orders and account (anything else is a 404) and about items.
* :class:`ApiRateThrottle`: ``CROSSSELL["API_RATE"]`` requests per key (or user, or visitor's address).
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle

from ..conf import crosssell_settings
from ..models import ApiKey, Store
from ..models.api import PREFIX_LENGTH, hash_key
from ..shoppers import site_store

#: last_used_at is written at most this often per key (not on every request)
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: the alphabet of keys made by ApiKey.set_new_key(); anything else is refused before any query
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>``: the key's hash is compared in constant time."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # no key: another authenticator may apply, else 401
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <API key>'.")
        key = parts[1].decode("latin-1")
        if not KEY_PATTERN.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        digest = hash_key(key)
        match = None
        for candidate in ApiKey.objects.select_related("store").filter(prefix=key[:PREFIX_LENGTH]):
            if hmac.compare_digest(candidate.key_hash, digest):
                match = candidate
        if match is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if match.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if match.last_used_at is None or now - match.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=match.pk).update(last_used_at=now)
            match.last_used_at = now
        return AnonymousUser(), match

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="crosssell"'


def may_read_store(user: Any, store: Store) -> bool:
    """May a staff user read ``store`` through the API? With ``crosssell.view_store``: the model
    permission (every store; superusers have it) or that store's object permission (a backend
    such as django-guardian grants it per store). Being staff alone is not enough."""
    return bool(user.has_perm("crosssell.view_store") or user.has_perm("crosssell.view_store", store))


def is_row_id(text: str) -> bool:
    """Whether ``text`` is digits ``int()`` takes and a primary key may be: ASCII (``"²".isdigit()``
    is true, but ``int()`` refuses it) and at most 20 of them (``int()`` refuses a few thousand)."""
    return text.isascii() and text.isdigit() and len(text) <= 20


class HasStore(BasePermission):
    """Sets ``request.store``: an API key's store; for a staff user with ``?store=<store pk>``,
    that store; for anyone else (a signed-in customer, a guest, a staff user naming no store),
    the site's own store (:func:`~crosssell_plugin.shoppers.site_store`) with
    ``request.crosssell_shopper = True``, which limits what the views answer."""

    message = "Authentication credentials were not provided."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            request.store = request.auth.store
            return True
        user = request.user
        signed_in = bool(user and user.is_authenticated)
        raw = request.query_params.get("store", "")
        if signed_in and user.is_staff and raw:
            store = Store.objects.filter(pk=int(raw)).first() if is_row_id(raw) else None
            if store is None:
                raise exceptions.ValidationError({"store": [f"No store with id {raw!r}."]})
            if not may_read_store(user, store):
                raise exceptions.PermissionDenied(
                    f"Reading store {store.pk} needs the permission crosssell.view_store (for every store, or "
                    "for this one through an object-permission backend)."
                )
            request.store = store
            return True
        store = site_store()
        if store is None:
            if signed_in and user.is_staff:
                raise exceptions.ValidationError({"store": ["Staff sessions must name the store: ?store=<store id>."]})
            if signed_in:
                raise exceptions.PermissionDenied(
                    "This site has no store of its own (CROSSSELL['SITE_STORE']): call the API with an API key."
                )
            return False  # 401 with the Bearer challenge
        request.store = store
        request.crosssell_shopper = True
        return True


class ApiRateThrottle(ScopedRateThrottle):
    """``CROSSSELL["API_RATE"]`` requests per API key, signed-in user or (a guest) address, for views
    of the ``crosssell`` scope."""

    def get_rate(self) -> str:
        return crosssell_settings.API_RATE

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}-{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def get_ident(self, request: Request) -> str:
        """The client's address: ``REMOTE_ADDR``, or with ``CROSSSELL["TRUSTED_PROXIES"] = n`` the
        address the nearest of those ``n`` proxies saw (the n-th ``X-Forwarded-For`` entry from the
        right). A client-sent ``X-Forwarded-For`` is never trusted otherwise: anyone could send a
        new one with every request and never be limited."""
        remote = request.META.get("REMOTE_ADDR", "")
        proxies = crosssell_settings.TRUSTED_PROXIES
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if not proxies or not forwarded:
            return remote
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        return hops[-min(proxies, len(hops))] if hops else remote


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How :class:`ApiKeyAuthentication` appears in the OpenAPI schema."""

    target_class = "crosssell_plugin.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A store's API key (manage.py crosssell_api_key, or the admin): "
            "`Authorization: Bearer <key>`.",
        }
