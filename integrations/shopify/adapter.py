"""Shopify as a crosssell platform: a multi-tenant app, one Store per installed shop.

The Store's external id is the shop's permanent ``*.myshopify.com`` domain (lower case); its
:class:`~integrations.shopify.models.ShopifyShop` holds the offline access token (encrypted), and
:func:`integrations.shopify.auth.access_token` hands out a usable one. A shop is installed while it
has a token and has not uninstalled the app (``auth.revoke`` on ``app/uninstalled``).

Options (``CROSSSELL["PLATFORMS"]["shopify"]``) are documented in :mod:`integrations.shopify.conf`.

Webhooks (``Capability.WEBHOOKS``) go through the shared pipeline, at one app-level URL
(:mod:`integrations.shopify.webhooks`): the body's ``X-Shopify-Hmac-Sha256`` is verified with
the app's secret (and ``OLD_API_SECRET`` during a rotation), the shop is ``X-Shopify-Shop-Domain``.
A delivery's id is ``<shop>/<topic>/<X-Shopify-Event-Id>`` when Shopify sends an event id (the
same event delivered to two subscriptions, or retried, is stored once), else
``<shop>/<X-Shopify-Webhook-Id>``. :mod:`integrations.shopify.payloads` turns bodies into events;
a purchase or product older (``updated_at``) than what is held is ignored. The requests the core
has no event for are acted on when the delivery is processed: ``app/uninstalled`` revokes the
tokens (``auth.revoke``, which also cancels the shop's planned follow-ups through
``shop_uninstalled``), ``customers/data_request`` compiles an export
(:mod:`integrations.shopify.privacy`), ``shop/redact`` deletes the shop's data. Collection
changes are logged and ignored for now: membership is held as ``collection:<handle>`` tags on
items, which needs the products re-read with the Admin API (not done yet).
Catalogue and order sync (``Capability.CATALOG_SYNC``, ``ORDER_BACKFILL``) delegate to
:mod:`integrations.shopify.sync`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from django.http import HttpRequest

from crosssell_plugin.events import CatalogChangeEvent, CatalogItem, CustomerRedactEvent, Platform, PurchaseEvent
from crosssell_plugin.exceptions import UnknownStore
from crosssell_plugin.jsonbody import MalformedBody
from crosssell_plugin.models import Item, Order, Store
from crosssell_plugin.platforms import (
    Capability,
    DeliveryInfo,
    Event,
    InboundDelivery,
    PlatformAdapter,
    Unreadable,
)

from . import conf, payloads
from .auth import InvalidShopDomain, ShopNotInstalled, normalize_shop_domain
from .models import ShopifyShop

logger = logging.getLogger(__name__)

#: topics a shop that uninstalled the app still sends and must be heard on
PRIVACY_TOPICS = frozenset({"customers/redact", "customers/data_request", "shop/redact"})
#: the longest delivery id WebhookDelivery holds; a longer key is stored as its digest
_MAX_DELIVERY_ID = 255


class ShopifyAdapter(PlatformAdapter):
    platform_id = Platform.SHOPIFY.value
    platform_name = "Shopify"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.WEBHOOKS, Capability.CATALOG_SYNC, Capability.ORDER_BACKFILL}
    )
    option_defaults = conf.OPTION_DEFAULTS
    webhook_view = "integrations.shopify.webhooks.ShopifyWebhookView"
    #: every topic payloads.py reads (subscribe to these in shopify.app.toml)
    webhook_topics: ClassVar[frozenset[str]] = payloads.TOPICS
    webhook_headers: ClassVar[tuple[str, ...]] = payloads.WEBHOOK_HEADERS

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

    # -- webhooks -------------------------------------------------------------------------

    def webhook_store(self, request: HttpRequest, store_key: str | None) -> Store | None:
        """The shop of ``X-Shopify-Shop-Domain``, after the body's signature is verified (raises
        WebhookValidationFailure, answered 401). ``store_key`` is ``app`` (the app-level URL) or
        the same domain; None (answered 200, nothing stored) for an unknown shop, a shop that
        uninstalled (but for the privacy topics) or a URL naming another shop."""
        self.verify_signature(request)
        header = request.headers.get("X-Shopify-Shop-Domain", "")
        try:
            domain = normalize_shop_domain(header)
        except InvalidShopDomain:
            logger.warning("Shopify webhook with the shop domain %r: nothing stored", header[:255])
            return None
        from .webhooks import APP_STORE_KEY

        if store_key and store_key != APP_STORE_KEY and store_key.lower() != domain:
            logger.warning("Shopify webhook of %s at the URL of %r: nothing stored", domain, store_key[:255])
            return None
        shop = ShopifyShop.objects.select_related("store").filter(domain=domain).first()
        if shop is None:
            return None
        if shop.is_installed and shop.store.is_active:
            return shop.store
        if request.headers.get("X-Shopify-Topic", "") in PRIVACY_TOPICS:
            return shop.store
        return None

    def verify_signature(self, request: HttpRequest) -> None:
        """WebhookValidationFailure unless ``X-Shopify-Hmac-Sha256`` signs the raw body with the
        app's secret or, during a rotation, ``OLD_API_SECRET``."""
        from .webhooks import HMAC_HEADER, verify_body

        verify_body(request.body, request.headers.get(HMAC_HEADER), conf.credentials().verifying_secrets())

    def verify_webhook(self, request: HttpRequest, store: Store) -> None:
        self.verify_signature(request)

    def describe_webhook(self, request: HttpRequest, payload: Mapping[str, Any]) -> DeliveryInfo:
        """The topic, and the delivery id: ``<shop>/<topic>/<event id>`` when Shopify sends
        ``X-Shopify-Event-Id`` (one row per event and topic, whichever subscription or retry
        brings it), else ``<shop>/<webhook id>``; a digest when longer than 255 characters."""
        try:
            meta = payloads.delivery_meta(request.headers)
        except payloads.ShopifyPayloadError as err:
            raise MalformedBody(f"Shopify webhook: {err}") from None
        key = (
            f"{meta.shop_domain}/{meta.topic}/{meta.event_id}"
            if meta.event_id
            else f"{meta.shop_domain}/{meta.webhook_id}"
        )
        if len(key) > _MAX_DELIVERY_ID:
            key = f"{meta.shop_domain[:150]}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        return DeliveryInfo(topic=meta.topic, delivery_id=key)

    def parse_webhook(self, delivery: InboundDelivery) -> list[Event]:
        """The delivery's events (see the module's docstring). A purchase or product older than
        the one held is ignored (an empty list); the requests the core has no event for are acted
        on here, each safe to repeat, and give no event."""
        store = delivery.store
        meta = payloads.delivery_meta(delivery.headers)
        when = meta.triggered_at or delivery.received_at
        found = payloads.parse(
            delivery.topic,
            delivery.payload,
            self.store_ref(store.external_id),
            shop_currency=store.currency,
            received_at=when,
        )
        events: list[Event] = []
        for parsed in found:
            if isinstance(parsed, PurchaseEvent):
                held = (
                    Order.objects.for_store(store)
                    .filter(external_id=parsed.order_id)
                    .values_list("source_updated_at", flat=True)
                    .first()
                )
                if payloads.is_stale(parsed.updated_at, held):
                    logger.info("Shopify order %s of %s: stale delivery ignored", parsed.order_id, store.external_id)
                    continue
            elif isinstance(parsed, CatalogChangeEvent) and parsed.item is not None:
                held_raw = (
                    Item.objects.for_store(store)
                    .filter(external_id=parsed.item.external_id)
                    .values_list("raw", flat=True)
                    .first()
                )
                held_at = (held_raw or {}).get("updated_at") if isinstance(held_raw, dict) else None
                if payloads.is_stale(parsed.item.raw.get("updated_at"), held_at):
                    logger.info(
                        "Shopify product %s of %s: stale delivery ignored", parsed.item.external_id, store.external_id
                    )
                    continue
            elif isinstance(parsed, CustomerRedactEvent):
                from .privacy import forget_data_requests

                forget_data_requests(store, email=parsed.email, customer_id=parsed.external_id)
            elif isinstance(parsed, payloads.AppUninstalled):
                from .auth import revoke

                revoke(store.external_id, occurred_at=when)
                continue
            elif isinstance(parsed, payloads.CustomerDataRequest):
                from .privacy import record_data_request

                record_data_request(parsed, store)
                continue
            elif isinstance(parsed, payloads.ShopRedactRequest):
                from .privacy import redact_shop

                redact_shop(store, keep_delivery=delivery.pk, received_at=when)
                continue
            elif isinstance(parsed, payloads.CollectionChange):
                logger.info(
                    "Shopify collection %s of %s changed: membership is not re-read yet (ignored)",
                    parsed.collection_id,
                    store.external_id,
                )
                continue
            events.append(parsed)  # type: ignore[arg-type]
        return events

    # -- catalogue and orders (integrations.shopify.sync) ---------------------------------

    def iter_catalog(self, store: Store) -> Iterable[CatalogItem]:
        from . import sync

        return sync.iter_catalog(self.shop(store))

    def iter_orders(self, store: Store, since: datetime | None = None) -> Iterable[PurchaseEvent | Unreadable]:
        from . import sync

        return sync.iter_orders(self.shop(store), since)
