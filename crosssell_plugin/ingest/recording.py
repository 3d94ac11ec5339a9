"""Store normalized events: purchases, catalog items, consumption progress, refunds.

Every function here is idempotent and transactional:

* the same order delivered twice, or by two processes at once, gives one ``Order`` and one
  ``purchase_recorded`` signal; a later delivery with different lines rewrites them;
* an invalid event raises :class:`~crosssell_plugin.exceptions.InvalidEvent` naming the field,
  and nothing of it is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from ..conf import crosssell_settings
from ..events import (
    CatalogItem,
    ConsumptionEvent,
    CustomerData,
    PurchaseEvent,
    RefundEvent,
    StoreRef,
)
from ..exceptions import InvalidEvent, PayloadTooLarge, UnknownStore
from ..models import (
    Consumption,
    Customer,
    CustomerConsent,
    Item,
    Order,
    OrderLine,
    Refund,
    Store,
)
from ..signals import purchase_recorded, purchase_updated, refund_recorded

logger = logging.getLogger(__name__)

# --- stores -----------------------------------------------------------------------------


def get_store(ref: StoreRef) -> Store:
    """The Store an event belongs to; :class:`UnknownStore` if it has not been created."""
    try:
        return Store.objects.get(platform=ref.platform, external_id=ref.external_id)
    except Store.DoesNotExist:
        raise UnknownStore(ref.platform, ref.external_id) from None


def ensure_store(ref: StoreRef, *, name: str, currency: str, timezone: str = "UTC") -> Store:
    """Create the Store for ``ref`` if needed and keep its name, currency and time zone current."""
    store = Store(
        platform=ref.platform,
        external_id=ref.external_id,
        name=name,
        currency=currency,
        timezone=timezone,
    )
    store.full_clean(validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        existing, created = Store.objects.get_or_create(
            platform=ref.platform,
            external_id=ref.external_id,
            defaults={"name": name, "currency": currency, "timezone": timezone},
        )
        if not created and (existing.name, existing.currency, existing.timezone) != (
            name,
            currency,
            timezone,
        ):
            existing.name, existing.currency, existing.timezone = (
                name,
                currency,
                timezone,
            )
            existing.save(update_fields=["name", "currency", "timezone", "updated_at"])
    return existing


# --- purchases --------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseResult:
    order: Order
    #: this delivery recorded the order for the first time
    created: bool
    #: this delivery changed the lines of an order recorded earlier
    updated: bool
    #: this delivery was older than the stored order and was ignored
    stale: bool = False


def record_purchase(event: PurchaseEvent) -> PurchaseResult:
    """Record a completed order (idempotent on ``event.order_id`` within the store)."""
    _check_size(event, event.to_dict)
    limit = crosssell_settings.MAX_LINES_PER_ORDER
    if len(event.lines) > limit:
        raise InvalidEvent(
            "lines",
            f"has {len(event.lines)} lines; the limit is {limit} (CROSSSELL MAX_LINES_PER_ORDER)",
        )
    with transaction.atomic():
        store = get_store(event.store)
        fingerprint = _fingerprint(event)
        order = Order.objects.select_for_update().filter(store=store, external_id=event.order_id).first()
        if order is None:
            customer = upsert_customer(store, event.customer)
            items = _ensure_items(store, [line.item for line in event.lines])
            order, created = _create_or_lock_order(store, customer, event, fingerprint)
            if created:
                _write_lines(order, event, items)
                transaction.on_commit(lambda: _send(purchase_recorded, order=order, event=event), robust=True)
                return PurchaseResult(order, created=True, updated=False)
        # A re-delivery: the order keeps the customer (and the account) it was first recorded for.
        _fill_account(order, event)
        if event.updated_at and order.source_updated_at and event.updated_at < order.source_updated_at:
            logger.info(
                "Ignored an older delivery of order %s (store %s)",
                order.external_id,
                store.pk,
            )
            return PurchaseResult(order, created=False, updated=False, stale=True)
        if fingerprint == order.lines_fingerprint:
            if event.updated_at and event.updated_at != order.source_updated_at:
                order.source_updated_at = event.updated_at
                order.save(update_fields=["source_updated_at", "updated_at"])
            return PurchaseResult(order, created=False, updated=False)
        items = _ensure_items(store, [line.item for line in event.lines])
        previous = list(order.lines.values_list("item__external_id", "quantity", "unit_price"))
        order.lines.all().delete()
        order.total = event.total
        order.currency = event.currency
        order.lines_fingerprint = fingerprint
        order.source_updated_at = event.updated_at or order.source_updated_at
        order.revision += 1
        order.raw = dict(event.raw)
        order.save()
        _write_lines(order, event, items)
        transaction.on_commit(
            lambda: _send(purchase_updated, order=order, event=event, previous_lines=previous),
            robust=True,
        )
        return PurchaseResult(order, created=False, updated=True)


def _check_size(event: Any, to_dict: Callable[[], dict[str, Any]]) -> None:
    limit = crosssell_settings.MAX_EVENT_BYTES
    size = len(json.dumps(to_dict(), ensure_ascii=False).encode())
    if size > limit:
        raise PayloadTooLarge(
            type(event).__name__,
            f"is {size:,} bytes once serialized; the limit is {limit:,} (CROSSSELL MAX_EVENT_BYTES)",
        )


def _fingerprint(event: PurchaseEvent) -> str:
    lines = [[line.item.external_id, line.quantity, str(line.unit_price)] for line in event.lines]
    payload = json.dumps([event.currency, str(event.total), lines])
    return hashlib.sha256(payload.encode()).hexdigest()


def _create_or_lock_order(
    store: Store, customer: Customer, event: PurchaseEvent, fingerprint: str
) -> tuple[Order, bool]:
    try:
        with transaction.atomic():
            order = Order.objects.create(
                store=store,
                customer=customer,
                external_id=event.order_id,
                account_id=event.account_id,
                placed_at=event.occurred_at,
                currency=event.currency,
                total=event.total,
                lines_fingerprint=fingerprint,
                source_updated_at=event.updated_at,
                raw=dict(event.raw),
            )
        return order, True
    except IntegrityError:
        # Another delivery of the same order got there first (and has committed).
        return Order.objects.select_for_update().get(store=store, external_id=event.order_id), False


def _fill_account(order: Order, event: PurchaseEvent) -> None:
    """The account that placed an order recorded without one (before accounts were recorded, say),
    from a re-delivery that names it. An account once recorded is never replaced: it is what lets
    a signed-in shopper see the order."""
    if event.account_id and not order.account_id:
        order.account_id = event.account_id
        order.save(update_fields=["account_id", "updated_at"])


def _write_lines(order: Order, event: PurchaseEvent, items: dict[str, Item]) -> None:
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            position=position,
            item=items[line.item.external_id],
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for position, line in enumerate(event.lines, start=1)
    )


def _send(signal: Any, **kwargs: Any) -> None:
    signal.send(sender=Order if signal is not refund_recorded else Refund, **kwargs)


# --- customers --------------------------------------------------------------------------

_CUSTOMER_FIELDS = (
    "external_id",
    "first_name",
    "last_name",
    "locale",
    "country",
    "timezone",
    "phone",
)


def upsert_customer(store: Store, data: CustomerData) -> Customer:
    """The store's customer with ``data.email``, created or refreshed with the non-blank fields."""
    defaults = {name: getattr(data, name) for name in _CUSTOMER_FIELDS}
    customer, created = Customer.objects.get_or_create(store=store, email=data.email, defaults=defaults)
    if not created:
        changed = [n for n in _CUSTOMER_FIELDS if getattr(data, n) and getattr(data, n) != getattr(customer, n)]
        if changed:
            for name in changed:
                setattr(customer, name, getattr(data, name))
            customer.save(update_fields=[*changed, "updated_at"])
    for consent in data.consents:
        current = CustomerConsent.objects.select_for_update().filter(customer=customer, channel=consent.channel).first()
        if current is None:
            CustomerConsent.objects.create(
                customer=customer,
                channel=consent.channel,
                granted=consent.granted,
                source=consent.source,
                recorded_at=consent.recorded_at,
            )
        elif consent.recorded_at >= current.recorded_at:  # an older statement never overrides a newer one
            current.granted, current.source, current.recorded_at = (
                consent.granted,
                consent.source,
                consent.recorded_at,
            )
            current.save(update_fields=["granted", "source", "recorded_at"])
    return customer


# --- catalog ----------------------------------------------------------------------------

_ITEM_FIELDS = (
    "kind",
    "title",
    "description",
    "url",
    "image_url",
    "price",
    "currency",
    "unit_cost",
    "margin_rate",
    "runtime_minutes",
    "level",
    "language",
    "position",
    "available",
)


def _item_values(item: CatalogItem) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in _ITEM_FIELDS}
    values["genres"] = list(item.genres)
    values["tags"] = list(item.tags)
    values["people"] = {role: list(names) for role, names in item.people.items()}
    values["attributes"] = dict(item.attributes)
    values["raw"] = dict(item.raw)
    return values


def _ensure_items(store: Store, snapshots: list[CatalogItem]) -> dict[str, Item]:
    """Items for the order's lines; unknown ones are created from the line's snapshot.

    Existing items are left as they are: the catalog sync owns their details. Items are
    created in a fixed order so that concurrent orders never deadlock on them.
    """
    by_id = {snap.external_id: snap for snap in snapshots}
    found = {i.external_id: i for i in Item.objects.filter(store=store, external_id__in=by_id)}
    for external_id in sorted(set(by_id) - set(found)):
        item, _ = Item.objects.get_or_create(
            store=store,
            external_id=external_id,
            defaults=_item_values(by_id[external_id]),
        )
        found[external_id] = item
    _link_parents(store, [by_id[e] for e in by_id], found)
    return found


def _link_parents(store: Store, snapshots: list[CatalogItem], items: dict[str, Item]) -> None:
    wanted = {s.external_id: s.parent_external_id for s in snapshots if s.parent_external_id}
    if not wanted:
        return
    parents = {p.external_id: p for p in Item.objects.filter(store=store, external_id__in=set(wanted.values()))}
    for external_id, parent_id in wanted.items():
        item, parent = items[external_id], parents.get(parent_id)
        if parent is not None and item.parent_id != parent.pk:
            item.parent = parent
            item.save(update_fields=["parent", "updated_at"])


def catalog_item_of(item: Item) -> CatalogItem:
    """An existing Item as the CatalogItem it was recorded from (use select_related("parent")).

    Raises InvalidEvent if the stored row no longer validates (edited by hand, say).
    """
    return CatalogItem(
        external_id=item.external_id,
        title=item.title,
        kind=item.kind,
        price=item.price,
        currency=item.currency,
        description=item.description,
        url=item.url,
        image_url=item.image_url,
        unit_cost=item.unit_cost,
        margin_rate=item.margin_rate,
        genres=tuple(item.genres),
        people={role: tuple(names) for role, names in item.people.items()},
        tags=tuple(item.tags),
        runtime_minutes=item.runtime_minutes,
        level=item.level,
        language=item.language,
        parent_external_id=item.parent.external_id if item.parent else "",
        position=item.position,
        available=item.available,
        attributes=item.attributes,
        raw=item.raw,
    )


def record_catalog_item(store: Store, data: CatalogItem) -> tuple[Item, bool]:
    """Create or update one item from the catalog. Returns ``(item, created)``."""
    with transaction.atomic():
        item, created = Item.objects.update_or_create(
            store=store, external_id=data.external_id, defaults=_item_values(data)
        )
        _link_parents(store, [data], {data.external_id: item})
    return item, created


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    deactivated: int = 0


def sync_catalog(
    store: Store,
    items: Iterable[CatalogItem],
    *,
    deactivate_missing: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SyncResult:
    """Upsert a whole catalog in one transaction; optionally mark absent items unavailable.

    ``progress`` is called with the running count after each item.
    """
    result = SyncResult()
    seen: dict[str, Item] = {}
    snapshots: list[CatalogItem] = []
    with transaction.atomic():
        for count, data in enumerate(items, start=1):
            item, created = Item.objects.update_or_create(
                store=store, external_id=data.external_id, defaults=_item_values(data)
            )
            seen[data.external_id] = item
            snapshots.append(data)
            if created:
                result.created += 1
            else:
                result.updated += 1
            if progress:
                progress(count)
        _link_parents(store, snapshots, seen)
        if deactivate_missing:
            result.deactivated = (
                Item.objects.for_store(store)
                .filter(available=True)
                .exclude(external_id__in=seen)
                .update(available=False)
            )
    logger.info(
        "Catalog sync for store %s: %d created, %d updated, %d deactivated",
        store.pk,
        result.created,
        result.updated,
        result.deactivated,
    )
    return result


# --- consumption ------------------------------------------------------------------------


def record_consumption(event: ConsumptionEvent) -> Consumption:
    """Record progress through an item; progress only ever moves forward."""
    _check_size(event, event.to_dict)
    with transaction.atomic():
        store = get_store(event.store)
        item = Item.objects.for_store(store).filter(external_id=event.item_external_id).first()
        if item is None:
            raise InvalidEvent(
                "item_external_id",
                f"no item {event.item_external_id!r} in store {store}; sync the catalog before recording progress",
            )
        customer = upsert_customer(store, event.customer)
        consumption, created = Consumption.objects.select_for_update().get_or_create(
            store=store,
            customer=customer,
            item=item,
            defaults={
                "progress": event.progress,
                "last_event_at": event.occurred_at,
                "seconds": event.seconds,
            },
        )
        if not created:
            consumption.progress = max(consumption.progress, event.progress)
            consumption.last_event_at = max(consumption.last_event_at, event.occurred_at)
            if event.seconds is not None:
                consumption.seconds = max(consumption.seconds or 0, event.seconds)
        threshold = Decimal(str(crosssell_settings.CONSUMPTION_COMPLETE_AT))
        if consumption.completed_at is None and consumption.progress >= threshold:
            consumption.completed_at = event.occurred_at
        consumption.events += 1
        consumption.raw = dict(event.raw)
        consumption.save()
    return consumption


# --- refunds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool


def cancel_refund_id(order_external_id: str) -> str:
    """The refund id under which a cancellation refunds what is left of an order."""
    return f"cancel:{order_external_id}"


def record_refund(event: RefundEvent) -> RefundResult:
    """Record a refund once (idempotent on ``event.refund_id``) and update the order's status."""
    _check_size(event, event.to_dict)
    with transaction.atomic():
        store = get_store(event.store)
        order = Order.objects.select_for_update().filter(store=store, external_id=event.order_id).first()
        if order is None:
            raise InvalidEvent("order_id", f"no order {event.order_id!r} in store {store}")
        existing = Refund.objects.filter(store=store, external_id=event.refund_id).first()
        if existing is not None:
            return RefundResult(existing, created=False)
        if event.currency != order.currency:
            raise InvalidEvent(
                "currency",
                f"is {event.currency} but order {order.external_id} is in {order.currency}",
            )
        overflow = order.refunded_total + event.amount - order.total
        if overflow > 0:
            # A cancellation recorded first refunded the whole remainder; the platform's own refund
            # of that cancellation, arriving after it, replaces that much of it.
            cancel = (
                Refund.objects.select_for_update()
                .filter(store=store, order=order, external_id=cancel_refund_id(order.external_id))
                .first()
            )
            if cancel is not None and cancel.amount > 0:
                taken = min(overflow, cancel.amount)
                cancel.amount -= taken
                cancel.save(update_fields=["amount"])
                order.refunded_total -= taken
        if order.refunded_total + event.amount > order.total:
            raise InvalidEvent(
                "amount",
                f"{event.amount} would bring refunds on order {order.external_id} to "
                f"{order.refunded_total + event.amount}, more than its total {order.total}",
            )
        refund = Refund.objects.create(
            store=store,
            order=order,
            external_id=event.refund_id,
            amount=event.amount,
            currency=event.currency,
            occurred_at=event.occurred_at,
            reason=event.reason,
            raw=dict(event.raw),
        )
        order.refunded_total += event.amount
        order.status = Order.Status.REFUNDED if order.refunded_total >= order.total else Order.Status.PARTIALLY_REFUNDED
        order.save(update_fields=["refunded_total", "status", "updated_at"])
        transaction.on_commit(
            lambda: _send(refund_recorded, refund=refund, order=order, event=event),
            robust=True,
        )
    return RefundResult(refund, created=True)
