"""The adapter contract every platform integration implements.

An adapter translates one platform into crosssell's normalized events
(:mod:`crosssell_plugin.events`) and performs the few platform-side actions the core asks
for. What a platform cannot do is declared in ``capabilities``; asking for it anyway raises
:class:`~crosssell_plugin.exceptions.UnsupportedFeature` naming the platform.

Adapters are registered explicitly: each integration's AppConfig names its adapter class in
``crosssell_adapter`` (a dotted path), and :func:`get_adapter` builds the map from the
installed apps, so ``INSTALLED_APPS`` is the list of enabled platforms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.utils.module_loading import import_string

from crosssell_plugin.conf import crosssell_settings
from crosssell_plugin.exceptions import ConfigurationError, UnsupportedFeature

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crosssell_plugin.events import CatalogItem, PurchaseEvent
    from crosssell_plugin.models import Store


class Capability(StrEnum):
    #: receives order events through signed webhooks
    WEBHOOKS = "webhooks"
    #: can list the whole catalog
    CATALOG_SYNC = "catalog_sync"
    #: can re-read past orders (backfill after downtime)
    ORDER_BACKFILL = "order_backfill"
    #: can create a discount code for an offer
    OFFER_CODES = "offer_codes"


class PlatformAdapter:
    """Base class of platform adapters. Subclasses set the class attributes below."""

    #: snake_case id used in URLs, settings (``CROSSSELL["PLATFORMS"][id]``) and Store.platform
    platform_id: ClassVar[str] = ""
    #: the vendor's own spelling, for messages
    platform_name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: documented defaults of ``CROSSSELL["PLATFORMS"][platform_id]``
    option_defaults: ClassVar[Mapping[str, Any]] = {}

    def options(self) -> dict[str, Any]:
        """This platform's options: ``option_defaults`` updated with the user's settings."""
        return crosssell_settings.platform(self.platform_id, self.option_defaults)

    def unknown_options(self) -> list[str]:
        """Keys in the user's options that this adapter does not know (typo protection)."""
        return sorted(set(crosssell_settings.platform_overrides(self.platform_id)) - set(self.option_defaults))

    def unsupported(self, feature: str) -> UnsupportedFeature:
        return UnsupportedFeature(f"{self.platform_name} does not support {feature}")

    # -- optional capabilities: override the ones your platform has -----------------------

    def verify_webhook(self, request: HttpRequest) -> None:
        """Raise ``WebhookValidationFailure`` unless the request is authentic."""
        raise self.unsupported("webhooks")

    def parse_webhook(self, request: HttpRequest) -> list[PurchaseEvent]:
        """Turn a verified webhook delivery into events (no database writes)."""
        raise self.unsupported("webhooks")

    def iter_catalog(self, store: Store) -> Iterable[CatalogItem]:
        """Every sellable item of the store, as CatalogItem events."""
        raise self.unsupported("catalog sync")

    def iter_orders(self, store: Store, since: Any = None) -> Iterable[PurchaseEvent]:
        """Past orders, oldest first, as PurchaseEvents (for backfills)."""
        raise self.unsupported("order backfill")

    def mint_offer_code(self, store: Store, **offer: Any) -> str:
        """Create a discount code on the platform and return it."""
        raise self.unsupported("offer codes")


@cache
def _adapter_classes() -> dict[str, type[PlatformAdapter]]:
    found: dict[str, type[PlatformAdapter]] = {}
    for config in apps.get_app_configs():
        path = getattr(config, "crosssell_adapter", None)
        if not path:
            continue
        cls = import_string(path)
        if not (isinstance(cls, type) and issubclass(cls, PlatformAdapter)) or not cls.platform_id:
            raise ConfigurationError(f"{config.name}.crosssell_adapter = {path!r} is not a PlatformAdapter subclass")
        found[cls.platform_id] = cls
    return found


def get_adapter(platform_id: str) -> PlatformAdapter:
    """A new adapter for ``platform_id``; a clear error if that integration is not installed."""
    classes = _adapter_classes()
    try:
        return classes[platform_id]()
    except KeyError:
        installed = ", ".join(sorted(classes)) or "none"
        raise ConfigurationError(
            f"No crosssell integration for platform {platform_id!r} is installed (installed: {installed}). "
            f'Add "integrations.{platform_id}" to INSTALLED_APPS.'
        ) from None
