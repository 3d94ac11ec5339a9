"""The service half of the webhook pipeline: a stored delivery -> the adapter's events -> ingestion.

:func:`process_delivery` is what the ``crosssell.process_delivery`` task, ``manage.py
crosssell_replay`` and the admin's retry action run. It is safe to run twice, or in two workers
at once: the delivery's row is locked while its events are recorded and its status set, and a
delivery already processed is left alone (unless ``force``); every ingestion function is
idempotent besides.

:func:`record_event` records one event of any kind through :mod:`crosssell_plugin.ingest`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import jsonbody
from ..conf import crosssell_settings
from ..events import (
    CancelEvent,
    CatalogChangeEvent,
    ConsentEvent,
    ConsumptionEvent,
    CustomerRedactEvent,
    PurchaseEvent,
    RefundEvent,
    StoreRef,
)
from ..exceptions import CrossSellError, InvalidEvent, PlatformAPIError
from ..ingest import get_store, record_catalog_item, record_consumption, record_purchase, record_refund, upsert_customer
from ..ingest.recording import cancel_refund_id
from ..models import (
    Consumption,
    Customer,
    CustomerConsent,
    InAppMessage,
    Item,
    Order,
    ScheduledMessage,
    Store,
    WebhookDelivery,
)
from ..platforms import Event, InboundDelivery, RetryLater, get_platform
from ..signals import consent_withdrawn

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
#: statuses a delivery is finished in (a new run leaves it alone unless forced)
DONE = frozenset({Status.PROCESSED, Status.IGNORED})
#: failures worth trying again later: the task retries them with backoff
TRANSIENT = (RetryLater, OperationalError)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, TRANSIENT):
        return True
    return isinstance(error, PlatformAPIError) and (
        error.status_code is None or error.status_code == 429 or error.status_code >= 500
    )


# --- deliveries -----------------------------------------------------------------------------


def inbound(delivery: WebhookDelivery) -> InboundDelivery:
    """A stored delivery as the adapter reads it."""
    return InboundDelivery(
        pk=delivery.pk,
        store=delivery.store,
        topic=delivery.topic,
        delivery_id=delivery.delivery_id,
        payload=jsonbody.loads_object(delivery.body),
        headers=dict(delivery.headers),
        received_at=delivery.received_at,
    )


def process_delivery(pk: int, *, force: bool = False, retry_transient: bool = False) -> str:
    """Turn delivery ``pk`` into events and record them; returns the delivery's status.

    A transient failure (the platform's API down, the refunded order not recorded yet) leaves the
    delivery pending and re-raises when ``retry_transient`` (the task retries it), else marks it
    failed. Any other error marks it failed with the error, and nothing of its events is written.
    """
    delivery = WebhookDelivery.objects.select_related("store").filter(pk=pk).first()
    if delivery is None:
        logger.warning("Webhook delivery %s does not exist (deleted?)", pk)
        return "missing"
    if delivery.status in DONE and not force:
        return delivery.status
    try:
        # The adapter may call its platform's API: outside any transaction, before the lock.
        events = get_platform(delivery.platform).parse_webhook(inbound(delivery))
        with transaction.atomic():
            locked = WebhookDelivery.objects.select_for_update().get(pk=pk)
            if locked.status in DONE and not force:
                return locked.status  # another run got there first
            for event in events:
                _check_tenant(event, delivery.store)
                record_event(event)
            locked.status = Status.PROCESSED if events else Status.IGNORED
            locked.attempts += 1
            locked.events = len(events)
            locked.error = ""
            locked.processed_at = timezone.now()
            locked.save(update_fields=["status", "attempts", "events", "error", "processed_at", "updated_at"])
    except Exception as err:
        transient = is_transient(err)
        if not transient and not isinstance(err, CrossSellError | ValueError):
            _failed(pk, err, Status.FAILED)
            raise  # a bug: let the worker log it with its traceback
        status = Status.PENDING if transient and retry_transient else Status.FAILED
        _failed(pk, err, status)
        if status == Status.PENDING:
            raise
        return status
    logger.info(
        "Webhook delivery %s (%s %s, store %s): %s, %d event(s)",
        pk,
        delivery.platform,
        delivery.topic,
        delivery.store_id,
        locked.status,
        len(events),
    )
    return locked.status


def _failed(pk: int, error: BaseException, status: str) -> None:
    message = f"{type(error).__name__}: {error}"[:2000]
    logger.warning("Webhook delivery %s: %s (%s)", pk, message, status)
    WebhookDelivery.objects.filter(pk=pk).update(
        status=status,
        attempts=F("attempts") + 1,
        error=message,
        updated_at=timezone.now(),
    )


def _check_tenant(event: Event, store: Store) -> None:
    ref = event.store
    if (ref.platform, ref.external_id) != (store.platform, store.external_id):
        raise InvalidEvent(
            "store",
            f"the delivery is for store {store.platform}:{store.external_id}, "
            f"the event for {ref.platform}:{ref.external_id}",
        )


# --- events ---------------------------------------------------------------------------------


def record_event(event: Event) -> str:
    """Record one event of any kind; returns what happened, in a word or two."""
    if isinstance(event, PurchaseEvent):
        result = record_purchase(event)
        return "created" if result.created else "updated" if result.updated else "stale" if result.stale else "same"
    if isinstance(event, RefundEvent):
        _require_order(event.store, event.order_id)
        return "refunded" if record_refund(event).created else "same"
    if isinstance(event, CancelEvent):
        return _cancel(event)
    if isinstance(event, ConsumptionEvent):
        record_consumption(event)
        return "progress"
    if isinstance(event, ConsentEvent):
        return _consent(event)
    if isinstance(event, CatalogChangeEvent):
        return _catalog_change(event)
    if isinstance(event, CustomerRedactEvent):
        return redact_customer(event)
    raise InvalidEvent("event", f"{type(event).__name__} is not an event crosssell records")


def _require_order(ref: StoreRef, order_id: str) -> Order:
    """The order an event refers to; RetryLater when it is not recorded yet (events arrive out of order)."""
    order = Order.objects.for_store(get_store(ref)).filter(external_id=order_id).first()
    if order is None:
        raise RetryLater(f"order {order_id!r} of store {ref.platform}:{ref.external_id} is not recorded yet")
    return order


def _cancel(event: CancelEvent) -> str:
    with transaction.atomic():
        order = _require_order(event.store, event.order_id)
        order = Order.objects.select_for_update().get(pk=order.pk)
        remaining = Decimal(order.total) - Decimal(order.refunded_total)
        if remaining <= 0:
            return "same"
        refund = RefundEvent(
            store=event.store,
            order_id=event.order_id,
            refund_id=cancel_refund_id(event.order_id),
            amount=remaining,
            currency=order.currency,
            occurred_at=event.occurred_at,
            reason=("cancelled: " + event.reason).strip(": "),
            raw=event.raw,
        )
        return "cancelled" if record_refund(refund).created else "same"


def _consent(event: ConsentEvent) -> str:
    with transaction.atomic():
        customer = upsert_customer(get_store(event.store), event.customer)
        withdrawn = list(
            CustomerConsent.objects.filter(
                customer=customer, granted=False, channel__in=[c.channel for c in event.customer.consents]
            ).values_list("channel", flat=True)
        )
        for channel in withdrawn:
            transaction.on_commit(
                partial(consent_withdrawn.send, CustomerConsent, customer=customer, channel=channel, source="platform"),
                robust=True,
            )
    return "consent"


def _catalog_change(event: CatalogChangeEvent) -> str:
    store = get_store(event.store)
    if event.item is not None:
        _, created = record_catalog_item(store, event.item)
        return "item created" if created else "item updated"
    Item.objects.for_store(store).filter(external_id=event.removed_external_id).update(available=False)
    return "item removed"


def redact_customer(event: CustomerRedactEvent) -> str:
    """Erase a customer's personal data: name, email, phone and ids blanked, consents deleted, every
    pending follow-up cancelled, their in-app messages deleted, the raw payloads of their orders
    and watch/course progress emptied, the account id of their orders blanked, the provider's
    last error of their messages cleared, and the store's webhook deliveries that name their
    email (or their platform id) emptied. Orders, their lines and what was recommended stay (as
    anonymous sales and measurements)."""
    store = get_store(event.store)
    with transaction.atomic():
        customers = Customer.objects.for_store(store).filter(email=event.email)
        if event.external_id:
            customers = customers | Customer.objects.for_store(store).filter(external_id=event.external_id)
        found = list(customers.select_for_update())
        ids = {event.external_id or ""} | {customer.external_id for customer in found}
        for customer in found:
            CustomerConsent.objects.filter(customer=customer).delete()
            Order.objects.for_store(store).filter(customer=customer).update(raw={}, account_id="")
            Consumption.objects.for_store(store).filter(customer=customer).update(raw={})
            InAppMessage.objects.for_store(store).filter(customer=customer).delete()
            ScheduledMessage.objects.for_store(store).filter(customer=customer).exclude(last_error="").update(
                last_error=""
            )
            customer.email = f"redacted-{customer.pk}@redacted.invalid"
            for name in ("external_id", "first_name", "last_name", "phone", "locale", "country", "timezone"):
                setattr(customer, name, "")
            customer.unsubscribed_at = customer.unsubscribed_at or timezone.now()
            customer.save()
            transaction.on_commit(
                partial(consent_withdrawn.send, Customer, customer=customer, channel="all", source="redact"),
                robust=True,
            )
        named = Q(body__icontains=event.email)
        for platform_id in sorted(ids - {""}):
            named |= _names_json_value(platform_id)
        WebhookDelivery.objects.for_store(store).filter(named).update(body="{}", headers={})
    return f"redacted {len(found)}"


def _names_json_value(value: str) -> Q:
    """Bodies holding ``value`` as a JSON string or number (``"123"``, ``: 123,``, ``:123}``...)."""
    q = Q(body__contains=f'"{value}"')
    for before in (":", ": "):
        for after in (",", "}", "]", "\n"):
            q |= Q(body__contains=f"{before}{value}{after}")
    return q


@dataclass(frozen=True)
class Purged:
    """What :func:`purge_deliveries` did in one store."""

    store: Store
    deleted: int
    #: pending deliveries older than the retention, kept because they were never processed
    pending_kept: int


#: deliveries deleted per statement
PURGE_BATCH = 1_000


def purge_deliveries(
    *,
    older_than: timedelta | None = None,
    store: Store | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Purged]:
    """Delete stored webhook deliveries received more than ``older_than`` ago (default:
    ``WEBHOOK_RETENTION_DAYS``) that are processed, ignored or failed, store by store (``store``:
    only that one), in batches; pending ones are kept and counted. ``dry_run`` counts only."""
    days = crosssell_settings.WEBHOOK_RETENTION_DAYS
    cutoff = (now or timezone.now()) - (older_than if older_than is not None else timedelta(days=days))
    stores = [store] if store is not None else list(Store.objects.order_by("pk"))
    done = (Status.PROCESSED, Status.IGNORED, Status.FAILED)
    out = []
    for one in stores:
        old = WebhookDelivery.objects.for_store(one).filter(received_at__lt=cutoff)
        pending = old.filter(status=Status.PENDING).count()
        deleted = 0
        if dry_run:
            deleted = old.filter(status__in=done).count()
        else:
            while pks := list(old.filter(status__in=done).order_by("pk").values_list("pk", flat=True)[:PURGE_BATCH]):
                deleted += WebhookDelivery.objects.for_store(one).filter(pk__in=pks).delete()[0]
        if pending:
            logger.warning(
                "Store %s: %d pending webhook deliveries are older than %s and were kept; "
                "process them with manage.py crosssell_replay --status pending",
                one.pk,
                pending,
                cutoff.isoformat(),
            )
        if deleted or pending:
            logger.info(
                "Store %s: %s %d webhook deliveries received before %s",
                one.pk,
                "would delete" if dry_run else "deleted",
                deleted,
                cutoff.isoformat(),
            )
        out.append(Purged(one, deleted, pending))
    return out
