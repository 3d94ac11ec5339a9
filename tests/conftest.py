"""Shared fixtures: a store and builders of valid events that a test then bends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.models import Store

STORE_REF = StoreRef("custom", "test-store")


@pytest.fixture
def store(db: Any) -> Store:
    return Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Test store", currency="EUR"
    )


def catalog_item(external_id: str = "film-1", **overrides: Any) -> CatalogItem:
    values: dict[str, Any] = {
        "external_id": external_id,
        "title": f"Film {external_id}",
        "kind": "film",
        "price": Decimal("9.99"),
        "currency": "EUR",
        "genres": ("Drama",),
        "people": {"director": ("Agnès Varda",)},
    }
    values.update(overrides)
    return CatalogItem(**values)


def purchase_event(order_id: str = "1001", *, lines: Any = None, **overrides: Any) -> PurchaseEvent:
    values: dict[str, Any] = {
        "store": STORE_REF,
        "order_id": order_id,
        "occurred_at": datetime(2026, 11, 1, 12, 30, tzinfo=UTC),
        "currency": "EUR",
        "customer": CustomerData(email="ann@example.com", first_name="Ann"),
        "lines": lines
        if lines is not None
        else (
            PurchaseLine(catalog_item("film-1"), 1, Decimal("9.99")),
            PurchaseLine(catalog_item("merch-1", kind="merch", price=Decimal("25.00")), 2, Decimal("25.00")),
        ),
        "raw": {"id": order_id},
    }
    values.update(overrides)
    return PurchaseEvent(**values)
