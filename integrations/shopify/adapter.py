"""Shopify as a crosssell platform: a multi-tenant app, one Store per installed shop.

The Store's external id is the shop's permanent ``*.myshopify.com`` domain (lower case); its
:class:`~integrations.shopify.models.ShopifyShop` holds the offline access token (encrypted), and
:func:`integrations.shopify.auth.access_token` hands out a usable one. A shop is installed while it
has a token and has not uninstalled the app (``auth.revoke`` on ``app/uninstalled``).

Options (``CROSSSELL["PLATFORMS"]["shopify"]``) are documented in :mod:`integrations.shopify.conf`.
Webhooks, catalogue and order sync and offer codes are not part of this adapter yet: the base
class answers ``UnsupportedFeature`` for them.
"""

from __future__ import annotations

from typing import ClassVar

from crosssell_plugin.events import Platform
from crosssell_plugin.exceptions import UnknownStore
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import Capability, PlatformAdapter

from . import conf
from .auth import InvalidShopDomain, ShopNotInstalled, normalize_shop_domain
from .models import ShopifyShop


class ShopifyAdapter(PlatformAdapter):
    platform_id = Platform.SHOPIFY.value
    platform_name = "Shopify"
    #: none yet: webhooks, sync and offer codes come with the client, payloads and offers modules
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    option_defaults = conf.OPTION_DEFAULTS

    def get_store(self, external_id: str) -> Store:
        """The Store of a shop domain (any case); UnknownStore for one that never installed, or
        for something that is not a ``*.myshopify.com`` domain."""
        try:
            domain = normalize_shop_domain(external_id)
        except InvalidShopDomain:
            raise UnknownStore(self.platform_id, str(external_id)[:255]) from None
        return super().get_store(domain)

    def is_installed(self, store: Store) -> bool:
        return ShopifyShop.objects.installed().filter(store=store).exists()

    def shop(self, store: Store) -> ShopifyShop:
        """The store's ShopifyShop; ShopNotInstalled if it never installed the app."""
        found = ShopifyShop.objects.select_related("store").filter(store=store).first()
        if found is None:
            raise ShopNotInstalled(f"Store {store.pk} ({store}) is not a Shopify shop that installed the app.")
        return found
