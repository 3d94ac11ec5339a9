"""The platform contract: what every integration implements, and the registry that finds them.

An adapter translates one platform into crosssell's normalized events
(:mod:`crosssell_plugin.events`) and performs the few platform-side actions the core asks for.
Required hooks raise ``NotImplementedError`` naming the class; optional capabilities default to
raising :class:`~crosssell_plugin.exceptions.UnsupportedFeature` naming the platform, and are
declared in ``capabilities``.

Adapters are registered explicitly: each integration's AppConfig names its adapter class in
``crosssell_adapter`` (a dotted path), and :func:`get_platform` builds the map from the installed
apps, so ``INSTALLED_APPS`` is the list of enabled platforms. The core never imports an
integration: it asks the registry.

Webhooks follow one pipeline (``integrations/webhooks.py`` holds the view and the Celery task):
the view verifies the request (:meth:`PlatformAdapter.verify_webhook`), stores the raw delivery
once as a :class:`~crosssell_plugin.models.WebhookDelivery` and answers 200; the task calls
:func:`crosssell_plugin.deliveries.process_delivery`, which asks the adapter for events
(:meth:`PlatformAdapter.parse_webhook`) and records them with
:func:`crosssell_plugin.deliveries.record_event`. ``docs/adding-a-platform.md`` walks through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from .conf import crosssell_settings
from .events import (
    CancelEvent,
    CatalogChangeEvent,
    CatalogItem,
    ConsentEvent,
    ConsumptionEvent,
    CustomerRedactEvent,
    PurchaseEvent,
    RefundEvent,
    StoreRef,
)
from .exceptions import ConfigurationError, CrossSellError, UnknownStore, UnsupportedFeature

if TYPE_CHECKING:
    from .models import Store

logger = logging.getLogger(__name__)

#: every kind of event an adapter may produce from a webhook delivery
Event = (
    PurchaseEvent
    | RefundEvent
    | CancelEvent
    | ConsumptionEvent
    | ConsentEvent
    | CatalogChangeEvent
    | CustomerRedactEvent
)


class WebhookValidationFailure(CrossSellError, SuspiciousOperation):
    """A webhook request is not authentic (bad or missing signature, stale timestamp).

    A ``SuspiciousOperation``: the webhook view answers 400 and nothing is stored."""


class RetryLater(CrossSellError):
    """A delivery cannot be processed yet (its order is not recorded, the platform's API is
    down): the task retries it with backoff instead of marking it failed."""


class Capability(StrEnum):
    #: receives events through signed webhooks
    WEBHOOKS = "webhooks"
    #: can list the whole catalog
    CATALOG_SYNC = "catalog_sync"
    #: can re-read past orders (backfill after downtime)
    ORDER_BACKFILL = "order_backfill"
    #: can create a discount code for an offer
    OFFER_CODES = "offer_codes"


@dataclass(frozen=True)
class DeliveryInfo:
    """What a webhook request is about: the platform's topic (event type) and its delivery id,
    the key a re-sent delivery is recognized by."""

    topic: str
    delivery_id: str


@dataclass(frozen=True)
class InboundDelivery:
    """A stored webhook delivery as an adapter reads it back in the worker."""

    pk: int
    store: Store
    topic: str
    delivery_id: str
    #: the parsed JSON body (checked for size and nesting when it was received)
    payload: Mapping[str, Any]
    #: the request headers the adapter listed in ``webhook_headers``
    headers: Mapping[str, str]
    received_at: datetime


@dataclass(frozen=True)
class Unreadable:
    """What :meth:`PlatformAdapter.iter_orders` yields for a record it cannot turn into an event
    (a deleted customer's order without an email, say), so one bad record does not end a backfill."""

    external_id: str
    error: str


class PlatformAdapter:
    """Base class of platform adapters. Subclasses set the class attributes below."""

    #: snake_case id used in URLs, settings (``CROSSSELL["PLATFORMS"][id]``) and Store.platform
    platform_id: ClassVar[str] = ""
    #: the vendor's own spelling, for messages
    platform_name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: documented defaults of ``CROSSSELL["PLATFORMS"][platform_id]``
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    #: dotted path of the platform's webhook view (a subclass of ``integrations.webhooks.WebhookView``)
    webhook_view: ClassVar[str] = ""
    #: topics the adapter turns into events; a delivery of any other topic is logged and dropped
    webhook_topics: ClassVar[frozenset[str]] = frozenset()
    #: request headers kept with a delivery because parsing needs them (HTTP names, e.g. "X-Shop-Topic")
    webhook_headers: ClassVar[tuple[str, ...]] = ()

    def options(self) -> dict[str, Any]:
        """This platform's options: ``option_defaults`` updated with the user's settings."""
        return crosssell_settings.platform(self.platform_id, self.option_defaults)

    def unknown_options(self) -> list[str]:
        """Keys in the user's options that this adapter does not know (typo protection)."""
        return sorted(set(crosssell_settings.platform_overrides(self.platform_id)) - set(self.option_defaults))

    def unsupported(self, feature: str) -> UnsupportedFeature:
        return UnsupportedFeature(f"{self.platform_name or self.platform_id} does not support {feature}")

    def store_ref(self, external_id: str) -> StoreRef:
        return StoreRef(self.platform_id, external_id)

    # -- stores ---------------------------------------------------------------------------

    def get_store(self, external_id: str) -> Store:
        """The platform's Store with this external id (:class:`UnknownStore` if there is none).
        An in-process platform may create its one store here."""
        from .models import Store

        try:
            return Store.objects.get(platform=self.platform_id, external_id=external_id)
        except Store.DoesNotExist:
            raise UnknownStore(self.platform_id, external_id) from None

    def is_installed(self, store: Store) -> bool:
        """Whether crosssell may receive this store's data (active, credentials present...)."""
        return store.is_active

    def site_store_external_id(self) -> str | None:
        """The external id of the store whose pages this Django site serves, for a platform that
        runs inside the site (a django-oscar shop); None for a remote platform."""
        return None

    def platform_order_ref(self, platform_order: Any) -> tuple[StoreRef, str] | None:
        """(store, order external id) of one of this platform's own order objects handed to a
        template tag (a django-oscar Order), or None if ``platform_order`` is not one."""
        return None

    # -- webhooks (Capability.WEBHOOKS) ---------------------------------------------------

    def webhook_store(self, request: HttpRequest, store_key: str | None) -> Store | None:
        """The installed store a webhook request is for (``store_key`` comes from the URL), or None:
        the view then answers 404 and stores nothing."""
        if not store_key:
            return None
        try:
            store = self.get_store(store_key)
        except UnknownStore:
            return None
        return store if self.is_installed(store) else None

    def verify_webhook(self, request: HttpRequest, store: Store) -> None:
        """Raise :class:`WebhookValidationFailure` unless ``request.body`` is authentic for ``store``."""
        raise self.unsupported("webhooks")

    def describe_webhook(self, request: HttpRequest, payload: Mapping[str, Any]) -> DeliveryInfo:
        """The topic and delivery id of a verified request (from its headers or its JSON body)."""
        raise self.unsupported("webhooks")

    def parse_webhook(self, delivery: InboundDelivery) -> list[Event]:
        """Turn a stored delivery into events (no database writes; API reads are fine). An empty
        list means the delivery needs nothing (an unpaid checkout, say)."""
        raise self.unsupported("webhooks")

    # -- catalog and orders ---------------------------------------------------------------

    def iter_catalog(self, store: Store) -> Iterable[CatalogItem]:
        """Every sellable item of the store, as CatalogItem events."""
        raise self.unsupported("catalog sync")

    def iter_orders(self, store: Store, since: datetime | None = None) -> Iterable[PurchaseEvent | Unreadable]:
        """Past orders (placed at or after ``since``), oldest first, as PurchaseEvents (for backfills);
        an order that cannot become a valid event is yielded as :class:`Unreadable`."""
        raise self.unsupported("order backfill")

    def mint_offer_code(self, store: Store, **offer: Any) -> str:
        """Create a discount code on the platform and return it."""
        raise self.unsupported("offer codes")


# --- the registry ------------------------------------------------------------------------


@cache
def adapter_classes() -> dict[str, type[PlatformAdapter]]:
    """platform id -> adapter class, for every installed integration (built once)."""
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


def installed_platforms() -> list[str]:
    """The ids of the installed platforms, sorted."""
    return sorted(adapter_classes())


def get_platform(platform_id: str) -> PlatformAdapter:
    """A new adapter for ``platform_id``; a clear error if that integration is not installed."""
    classes = adapter_classes()
    try:
        return classes[platform_id]()
    except KeyError:
        installed = ", ".join(sorted(classes)) or "none"
        raise ConfigurationError(
            f"No crosssell integration for platform {platform_id!r} is installed (installed: {installed}). "
            f'Add the integration\'s app (e.g. "integrations.{platform_id}") to INSTALLED_APPS.'
        ) from None


#: the name the contract had before the registry moved into the core
get_adapter = get_platform


def parse_store_arg(value: str) -> tuple[str, str]:
    """``"platform:external_id"`` -> (platform, external id); ConfigurationError naming the format."""
    platform, sep, external_id = value.partition(":")
    if not sep or not platform or not external_id:
        raise ConfigurationError(f'{value!r} is not "platform:external_id", e.g. "oscar:default" or "stripe:acct_1"')
    return platform, external_id


def site_store_ref() -> tuple[str, str] | None:
    """(platform, external id) of the store an installed in-process platform serves on this site."""
    for platform_id in installed_platforms():
        external_id = get_platform(platform_id).site_store_external_id()
        if external_id is not None:
            return platform_id, external_id
    return None


def platform_order_ref(platform_order: Any) -> tuple[StoreRef, str] | None:
    """(store, order external id) of a platform's own order object, asking each installed adapter."""
    for platform_id in installed_platforms():
        found = get_platform(platform_id).platform_order_ref(platform_order)
        if found is not None:
            return found
    return None


@cache
def _webhook_view(platform_id: str) -> Callable[..., HttpResponseBase] | None:
    cls = adapter_classes().get(platform_id)
    if cls is None or not cls.webhook_view:
        return None
    view: Callable[..., HttpResponseBase] = import_string(cls.webhook_view).as_view()
    return view


@csrf_exempt
@login_not_required
def webhook(request: HttpRequest, platform: str, store_key: str) -> HttpResponseBase:
    """``/crosssell/webhooks/<platform>/<store_key>/``: the installed platform's webhook view
    (its adapter's ``webhook_view``); 404 for a platform that is not installed or has none."""
    view = _webhook_view(platform)
    if view is None:
        raise Http404(f"No webhooks for platform {platform!r}.")
    return view(request, store_key=store_key)


__all__ = [
    "Capability",
    "DeliveryInfo",
    "Event",
    "InboundDelivery",
    "PlatformAdapter",
    "RetryLater",
    "Unreadable",
    "WebhookValidationFailure",
    "adapter_classes",
    "get_adapter",
    "get_platform",
    "installed_platforms",
    "parse_store_arg",
    "platform_order_ref",
    "site_store_ref",
    "webhook",
]
