"""Ingest: store normalized events (purchases, catalog items, consumption, refunds) idempotently
and transactionally (:mod:`.recording`), then run the purchase pipeline (:mod:`.pipeline`); the
CSV import of a store's history (:mod:`.csv_import`) and the Celery tasks (:mod:`.tasks`).

Adapters speak to the core through :mod:`crosssell_plugin.events` and the functions below.
"""

from .recording import (
    PurchaseResult,
    RefundResult,
    SyncResult,
    catalog_item_of,
    ensure_store,
    get_store,
    record_catalog_item,
    record_consumption,
    record_purchase,
    record_refund,
    sync_catalog,
    upsert_customer,
)

__all__ = [
    "PurchaseResult",
    "RefundResult",
    "SyncResult",
    "catalog_item_of",
    "ensure_store",
    "get_store",
    "record_catalog_item",
    "record_consumption",
    "record_purchase",
    "record_refund",
    "sync_catalog",
    "upsert_customer",
]
