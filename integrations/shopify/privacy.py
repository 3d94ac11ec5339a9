"""Shopify's mandatory privacy webhooks, acted on for one shop at a time.

* ``customers/data_request`` -> :func:`record_data_request`: everything crosssell holds on the
  customer **in that shop** (:func:`customer_export`) is compiled into a
  :class:`~integrations.shopify.models.ShopifyDataRequest` that the merchant downloads from the
  admin as a .json file (Shopify sends the request to the merchant, not to us, to answer).
* ``customers/redact`` -> the core's :class:`~crosssell_plugin.events.CustomerRedactEvent`
  (``crosssell_plugin.deliveries.redact_customer``), plus :func:`forget_data_requests`: the
  exports compiled for that customer are deleted too.
* ``shop/redact`` (48 hours after an uninstall) -> :func:`redact_shop`: everything of the shop.

A customer is the shop's :class:`~crosssell_plugin.models.Customer` rows with the request's
email (any case), its Shopify customer id as external id, or the placeholder address an order
without a readable email was recorded with (``customer-<id>@shopify.invalid``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone

from crosssell_plugin.models import (
    Click,
    Consumption,
    Conversion,
    Customer,
    CustomerConsent,
    Impression,
    InAppMessage,
    Order,
    OrderLine,
    Refund,
    ScheduledMessage,
    Store,
    WebhookDelivery,
)

from .models import ShopifyDataRequest, ShopifyShop
from .payloads import CustomerDataRequest, placeholder_email

logger = logging.getLogger(__name__)

#: the export's format version (a field of the file, for whoever reads it later)
EXPORT_VERSION = 1


def _row(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row's concrete fields (foreign keys as ``<name>_id``), JSON-safe."""
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude or field.attname in exclude:
            continue
        out[field.attname] = getattr(obj, field.attname)
    return out


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def customers_of(store: Store, *, email: str = "", customer_id: str = "") -> QuerySet[Customer]:
    """The store's customers a privacy request names (by email, Shopify id or placeholder)."""
    match = Q(pk__in=[])
    if email:
        match |= Q(email__iexact=email)
    if customer_id:
        match |= Q(external_id=customer_id) | Q(email=placeholder_email(customer_id=customer_id))
    return Customer.objects.for_store(store).filter(match).order_by("pk")


def customer_export(store: Store, *, email: str = "", customer_id: str = "") -> dict[str, Any]:
    """Everything held on one customer in ``store``: the customer rows, their consents, orders (with
    lines and refunds), scheduled messages, in-app messages, consumption, and the impressions,
    clicks and conversions of what they were shown. Nothing of another store."""
    customers = []
    for customer in customers_of(store, email=email, customer_id=customer_id):
        orders = list(Order.objects.for_store(store).filter(customer=customer).order_by("placed_at", "pk"))
        impressions = list(
            Impression.objects.filter(store=store)
            .filter(Q(customer=customer) | Q(order__in=orders))
            .select_related("item")
            .order_by("created_at", "pk")
        )
        customers.append(
            {
                "customer": _row(customer, exclude=("store",)),
                "consents": [_row(c, exclude=("customer",)) for c in CustomerConsent.objects.filter(customer=customer)],
                "orders": [
                    {
                        **_row(order, exclude=("store", "customer", "lines_fingerprint")),
                        "lines": [
                            {**_row(line, exclude=("order",)), "item_external_id": line.item.external_id}
                            for line in OrderLine.objects.filter(order=order).select_related("item").order_by("pk")
                        ],
                        "refunds": [
                            _row(refund, exclude=("store", "order"))
                            for refund in Refund.objects.filter(store=store, order=order).order_by("pk")
                        ],
                    }
                    for order in orders
                ],
                "scheduled_messages": [
                    _row(m, exclude=("store", "customer", "claimed_by", "lease_until"))
                    for m in ScheduledMessage.objects.for_store(store).filter(customer=customer).order_by("pk")
                ],
                "in_app_messages": [
                    _row(m, exclude=("store", "customer"))
                    for m in InAppMessage.objects.filter(store=store, customer=customer).order_by("pk")
                ],
                "consumption": [
                    {**_row(c, exclude=("store", "customer")), "item_external_id": c.item.external_id}
                    for c in Consumption.objects.filter(store=store, customer=customer).select_related("item")
                ],
                "impressions": [
                    {**_row(i, exclude=("store", "customer", "key")), "item_external_id": i.item.external_id}
                    for i in impressions
                ],
                "clicks": [
                    _row(c, exclude=("user_agent_hash",))
                    for c in Click.objects.filter(impression__in=impressions).order_by("pk")
                ],
                "conversions": [_row(c) for c in Conversion.objects.filter(impression__in=impressions).order_by("pk")],
            }
        )
    return _jsonable(
        {
            "format": EXPORT_VERSION,
            "store": {"platform": store.platform, "shop": store.external_id},
            "request": {"email": email, "customer_id": customer_id},
            "compiled_at": timezone.now(),
            "customers": customers,
        }
    )


def record_data_request(request: CustomerDataRequest, store: Store) -> ShopifyDataRequest:
    """Compile the export of a ``customers/data_request`` and keep it for the merchant. Safe to run
    twice: the same request id (per store) is compiled again into the same row."""
    shop = ShopifyShop.objects.get(store=store)
    export = customer_export(store, email=request.email, customer_id=request.customer_id)
    export["request"] |= {"data_request_id": request.request_id, "orders_requested": list(request.order_ids)}
    found, created = ShopifyDataRequest.objects.update_or_create(
        store=store,
        request_id=request.request_id,
        defaults={
            "shop": shop,
            "customer_id": request.customer_id,
            "email": request.email,
            "requested_at": request.received_at,
            "export": export,
        },
    )
    logger.info(
        "Shopify data request %s of %s compiled (%d customer record(s))%s",
        request.request_id,
        shop.domain,
        len(export["customers"]),
        "" if created else " again",
    )
    return found


def forget_data_requests(store: Store, *, email: str = "", customer_id: str = "") -> int:
    """Delete the store's compiled exports of a redacted customer; how many."""
    match = Q(pk__in=[])
    if email:
        match |= Q(email__iexact=email)
    if customer_id:
        match |= Q(customer_id=customer_id)
    deleted, _ = ShopifyDataRequest.objects.filter(store=store).filter(match).delete()
    return deleted


def redact_shop(store: Store, *, keep_delivery: int | None = None, received_at: datetime | None = None) -> int:
    """``shop/redact``: delete everything of the shop: every row that belongs to its Store (orders,
    customers, catalogue, follow-ups, tracking, data requests, webhook deliveries...) and its
    ShopifyShop. The Store row itself is kept, inactive and renamed to its domain, with the one
    delivery ``keep_delivery`` (the ``shop/redact`` being processed, which holds only the shop's id
    and domain): the webhook pipeline records its outcome on that row. Returns the rows deleted."""
    deleted = 0
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        relations = [rel for rel in Store._meta.related_objects if rel.one_to_many or rel.one_to_one]
        pending = []
        for rel in relations:
            query = rel.related_model._base_manager.filter(**{rel.field.name: locked})
            if rel.related_model is WebhookDelivery and keep_delivery is not None:
                query = query.exclude(pk=keep_delivery)
            pending.append(query)
        # Rows protected by others (an Order protects its Customer, a line its Item) go once the rows
        # that protect them are gone: retry until every query is empty or nothing moves.
        while pending:
            left = []
            for query in pending:
                try:
                    with transaction.atomic():
                        deleted += query.delete()[0]
                except (ProtectedError, RestrictedError):
                    left.append(query)
            if len(left) == len(pending):
                raise RuntimeError(f"Store {locked.pk}: could not delete {[q.model.__name__ for q in left]}")
            pending = left
        Store.objects.filter(pk=locked.pk).update(
            is_active=False, name=locked.external_id[:200], updated_at=timezone.now()
        )
    logger.info("Shopify shop %s redacted: %d row(s) deleted", locked.external_id, deleted)
    return deleted
