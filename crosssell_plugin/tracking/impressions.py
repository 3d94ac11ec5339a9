"""Impressions: planned (unsaved, each with its random key) when a block or a message is built,
written in one insert, and read back from a click token (written from it if its row is not there yet)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Customer, Impression, Item, ModelVersion, Order, ScheduledMessage, Store
from .tokens import _optional, _payload, _positive

if TYPE_CHECKING:
    from ..recommend import Recommendation

logger = logging.getLogger(__name__)


def impression_of(token: str, store_id: int | None = None) -> Impression | None:
    """The impression a token names (with its item), written now from the token if its row is
    not there yet; None if the token is tampered, malformed, older than
    ``CLICK_TOKEN_MAX_AGE_DAYS``, names an item that is gone, or (with ``store_id``) belongs to
    another store, which is checked before anything is written."""
    payload = _payload(token)
    if payload is None:
        return None
    if "k" not in payload and _positive(payload.get("i")):  # a link rendered before keys existed
        found = Impression.objects.select_related("item").filter(pk=payload["i"])
        return (found if store_id is None else found.filter(store_id=store_id)).first()
    if store_id is not None and payload.get("s") != store_id:
        return None
    try:
        key = uuid.UUID(hex=payload["k"])
        store, item, order, customer, version = (payload[f] for f in ("s", "it", "o", "c", "v"))
        placement, rank, score, when = payload["p"], payload["r"], float(payload["sc"]), int(payload["t"])
        variant = payload.get("va", "")
    except (KeyError, TypeError, ValueError):
        return None
    if not (_positive(store) and _positive(item) and _positive(rank) and isinstance(placement, str)):
        return None
    if not isinstance(variant, str):
        return None
    if not (_optional(order) and _optional(customer) and _optional(version)):
        return None
    found = Impression.objects.select_related("item").filter(key=key).first()
    if found is not None:
        return found if (found.store_id, found.item_id) == (store, item) else None
    if not Item.objects.for_store(store).filter(pk=item).exists():
        return None
    row = Impression(
        key=key,
        store_id=store,
        item_id=item,
        order_id=order if Order.objects.for_store(store).filter(pk=order).exists() else None,
        customer_id=customer if Customer.objects.for_store(store).filter(pk=customer).exists() else None,
        model_version_id=version if ModelVersion.objects.for_store(store).filter(pk=version).exists() else None,
        placement=placement[:50],
        variant=variant[:50],
        rank=rank,
        score=score,
        created_at=datetime.fromtimestamp(when, tz=UTC),
    )
    save_impressions([row])
    return Impression.objects.select_related("item").filter(key=key).first()


def impression_pk_of(token: str, store_id: int | None = None) -> int | None:
    """The pk of the impression a token names (see :func:`impression_of`), or None."""
    impression = impression_of(token, store_id)
    return impression.pk if impression is not None else None


def plan_impressions(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
    variant: str = "",
    message: ScheduledMessage | None = None,
) -> list[Impression]:
    """One unsaved Impression per recommendation, in rank order, each with its random key (so
    its link can be made now); write them with :func:`save_impressions` or :func:`log_impressions`."""
    now = timezone.now()
    return [
        Impression(
            key=uuid.uuid4(),
            store=store,
            order=order,
            customer=customer,
            item=rec.item,
            placement=placement,
            rank=rank,
            score=rec.score,
            model_version_id=rec.model_version_pk,
            reason="\n".join(rec.reason_texts),
            variant=variant[:50],
            message=message,
            created_at=now,
        )
        for rank, rec in enumerate(recommendations, start=1)
    ]


_FIELDS = (
    "store_id",
    "order_id",
    "customer_id",
    "item_id",
    "placement",
    "rank",
    "score",
    "model_version_id",
    "reason",
    "variant",
    "message_id",
)


def save_impressions(impressions: Sequence[Impression]) -> None:
    """Write planned impressions in one insert; a key already written (a click got there first,
    a task ran twice) is updated, never duplicated."""
    if not impressions:
        return
    try:
        Impression.objects.bulk_create(
            list(impressions), update_conflicts=True, unique_fields=["key"], update_fields=_UPDATED
        )
    except IntegrityError:  # an order, customer or model version deleted in the meantime
        for impression in impressions:
            try:
                with transaction.atomic():
                    Impression.objects.bulk_create(
                        [impression], update_conflicts=True, unique_fields=["key"], update_fields=_UPDATED
                    )
            except IntegrityError:
                logger.warning("Impression %s of store %s could not be written", impression.key, impression.store_id)


def impression_row(impression: Impression) -> dict[str, Any]:
    """An unsaved impression as a plain dict (the payload of the ``crosssell.log_impressions`` task)."""
    row = {field: getattr(impression, field) for field in _FIELDS}
    row["key"] = impression.key.hex
    row["created_at"] = impression.created_at.isoformat()
    return row


#: what a second write of the same key refreshes
_UPDATED = ["reason", "score", "message"]

#: fields that rows queued by an earlier release may lack
_ROW_DEFAULTS: dict[str, Any] = {"variant": "", "message_id": None}


def impression_from_row(row: dict[str, Any]) -> Impression:
    fields = {
        field: row.get(field, _ROW_DEFAULTS[field]) if field in _ROW_DEFAULTS else row[field] for field in _FIELDS
    }
    return Impression(key=uuid.UUID(hex=row["key"]), created_at=datetime.fromisoformat(row["created_at"]), **fields)
