"""Installing the app on a shop: the ``state`` nonce of the redirect, and recording the install.

The nonce is a random token sent to Shopify in the authorize URL and expected back, unchanged, on
the callback. Only its SHA-256 digest is stored (:class:`~.models.ShopifyInstallState`), bound to
the shop, for ``STATE_MAX_AGE_SECONDS``; the callback compares digests with
:func:`hmac.compare_digest` and deletes the row it matched, so a nonce is used once even when two
callbacks race (only one DELETE removes the row). A table rather than the session keeps the flow
working for a project without session middleware and across the redirect chain Shopify controls.

:func:`record_install` writes the shop's Store (platform ``shopify``, external id = its domain) and
:class:`~.models.ShopifyShop` row in one transaction and sends ``shop_installed`` after the
commit. The Store starts with the shop's handle as its name, ``DEFAULT_CURRENCY`` and UTC until the
shop's own details are read from Shopify; a reinstall keeps what the Store has.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from crosssell_plugin.models import Store

from . import conf
from .auth import (
    SUFFIX,
    InvalidShopifyRequest,
    TokenSet,
    admin_session,
    exchange_session_token,
    normalize_shop_domain,
)
from .models import ShopifyInstallState, ShopifyShop
from .signals import shop_installed

logger = logging.getLogger(__name__)

#: installs of one shop that may be in progress at once (older nonces are dropped)
MAX_PENDING_PER_SHOP = 10


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def new_state(shop: str) -> str:
    """A fresh nonce for an install of ``shop`` (stored as its digest; expired ones are purged)."""
    domain = normalize_shop_domain(shop)
    state = secrets.token_urlsafe(32)
    now = timezone.now()
    max_age = timedelta(seconds=conf.options()["STATE_MAX_AGE_SECONDS"])
    with transaction.atomic():
        ShopifyInstallState.objects.filter(expires_at__lte=now).delete()
        ShopifyInstallState.objects.create(
            domain=domain, digest=_digest(state), created_at=now, expires_at=now + max_age
        )
        keep = ShopifyInstallState.objects.filter(domain=domain).order_by("-created_at", "-pk")[:MAX_PENDING_PER_SHOP]
        ShopifyInstallState.objects.filter(domain=domain).exclude(
            pk__in=list(keep.values_list("pk", flat=True))
        ).delete()
    return state


def consume_state(shop: str, state: str) -> None:
    """Use up the nonce a callback for ``shop`` brought back; InvalidShopifyRequest if it is not one
    this site issued for that shop, was used already, or expired."""
    domain = normalize_shop_domain(shop)
    if not state:
        raise InvalidShopifyRequest("The callback has no state parameter.")
    digest = _digest(state)
    match = None
    for pk, stored, expires_at in ShopifyInstallState.objects.filter(domain=domain).values_list(
        "pk", "digest", "expires_at"
    ):
        if hmac.compare_digest(stored, digest):
            match = (pk, expires_at)
    if match is None:
        raise InvalidShopifyRequest(
            f"The callback's state is not one this site issued for {domain}, or it was used already: "
            "start the install again from Shopify."
        )
    deleted, _ = ShopifyInstallState.objects.filter(pk=match[0]).delete()
    if not deleted:
        raise InvalidShopifyRequest("The callback's state was used already: start the install again from Shopify.")
    if match[1] <= timezone.now():
        raise InvalidShopifyRequest(
            "The install took longer than STATE_MAX_AGE_SECONDS between Shopify and this site: start it again."
        )


def redirect_uri(request: HttpRequest) -> str:
    """The callback's absolute URL: ``APP_URL`` + its path, else from the request."""
    path = reverse("crosssell_shopify:callback")
    base = conf.options()["APP_URL"]
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def after_install_url(shop: ShopifyShop) -> str:
    """Where the merchant goes once installed: ``AFTER_INSTALL_URL`` (``{shop}`` filled in), else the
    app inside the shop's admin."""
    target = conf.options()["AFTER_INSTALL_URL"]
    if target:
        return str(target).replace("{shop}", shop.domain)
    return f"https://{shop.domain}/admin/apps/{conf.credentials().api_key}"


@sensitive_variables()
def record_install(shop: str, tokens: TokenSet) -> ShopifyShop:
    """Create or update the Store and ShopifyShop of ``shop`` with a grant's tokens, in one
    transaction; ``shop_installed`` is sent after it commits."""
    domain = normalize_shop_domain(shop)
    now = timezone.now()
    opts = conf.options()
    with transaction.atomic():
        store, _ = Store.objects.select_for_update().get_or_create(
            platform=conf.PLATFORM_ID,
            external_id=domain,
            defaults={"name": domain[: -len(SUFFIX)], "currency": opts["DEFAULT_CURRENCY"], "timezone": "UTC"},
        )
        if not store.is_active:
            store.is_active = True
            store.save(update_fields=["is_active", "updated_at"])
        row, created = ShopifyShop.objects.select_for_update().get_or_create(
            store=store, defaults={"domain": domain, "api_version": opts["API_VERSION"], "installed_at": now}
        )
        fresh = created or row.uninstalled_at is not None
        row.apply_tokens(tokens, now)
        row.api_version = opts["API_VERSION"]
        row.uninstalled_at = None
        if fresh:
            row.installed_at = now
        row.save()
        transaction.on_commit(lambda: shop_installed.send_robust(sender=ShopifyShop, shop=row, fresh=fresh))
    logger.info("Shopify shop %s %s (store %s)", domain, "installed the app" if fresh else "authorized again", store.pk)
    return row


@sensitive_variables()
def install_with_session_token(session_token: str) -> ShopifyShop:
    """Embedded apps: verify an admin session token, exchange it for an expiring offline token and
    record the install. For a page that finds its shop without a usable token."""
    session = admin_session(session_token)
    tokens = exchange_session_token(session_token, shop=session.shop)
    return record_install(session.shop, tokens)
