"""Normalized events: the one contract between platform adapters and the core.

An adapter turns whatever its platform sends (an Oscar order, a Shopify webhook, a CSV row)
into these frozen dataclasses; :mod:`crosssell_plugin.ingest` stores them. Events are plain
data: building one never touches the database, and a bad value raises
:class:`~crosssell_plugin.exceptions.InvalidEvent` naming the field, at construction time.

Rules every event follows:

* money is a ``Decimal`` with an ISO 4217 currency (floats are refused);
* times are aware datetimes, normalized to UTC;
* ``raw`` keeps the platform's untouched payload (JSON-serializable) for the admin and audits;
* ``to_dict()`` / ``from_dict()`` round-trip through JSON, so events can travel through Celery.

The package: :mod:`.kinds` (platforms, item kinds, channels), :mod:`.parties` (store, customer,
consent), :mod:`.catalog` (items), :mod:`.orders` (purchases, consumption, refunds),
:mod:`.changes` (cancel, consent, catalog change, redact), on :mod:`.validation` and
:mod:`.jsonable`. Everything is importable from ``crosssell_plugin.events`` as before.
"""

from __future__ import annotations

from .catalog import (
    CatalogItem,
)
from .changes import (
    CancelEvent,
    CatalogChangeEvent,
    ConsentEvent,
    CustomerRedactEvent,
)
from .jsonable import _NESTED
from .kinds import (
    MAX_QUANTITY,
    Channel,
    ItemKind,
    Platform,
)
from .orders import (
    ConsumptionEvent,
    PurchaseEvent,
    PurchaseLine,
    RefundEvent,
)
from .parties import (
    Consent,
    CustomerData,
    StoreRef,
)

__all__ = [
    "MAX_QUANTITY",
    "CancelEvent",
    "CatalogChangeEvent",
    "CatalogItem",
    "Channel",
    "Consent",
    "ConsentEvent",
    "ConsumptionEvent",
    "CustomerData",
    "CustomerRedactEvent",
    "ItemKind",
    "Platform",
    "PurchaseEvent",
    "PurchaseLine",
    "RefundEvent",
    "StoreRef",
]

#: nested dataclass fields and how to build them from plain dicts (see :mod:`.jsonable`)
_NESTED.update(
    {
        (PurchaseEvent, "store"): StoreRef,
        (PurchaseEvent, "customer"): CustomerData,
        (PurchaseEvent, "lines"): PurchaseLine,
        (PurchaseLine, "item"): CatalogItem,
        (CustomerData, "consents"): Consent,
        (ConsumptionEvent, "store"): StoreRef,
        (ConsumptionEvent, "customer"): CustomerData,
        (RefundEvent, "store"): StoreRef,
        (CancelEvent, "store"): StoreRef,
        (ConsentEvent, "store"): StoreRef,
        (ConsentEvent, "customer"): CustomerData,
        (CatalogChangeEvent, "store"): StoreRef,
        (CatalogChangeEvent, "item"): CatalogItem,
        (CustomerRedactEvent, "store"): StoreRef,
    }
)
