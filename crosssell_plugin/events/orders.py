"""Purchases, consumption progress and refunds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..exceptions import InvalidEvent
from .catalog import (
    CatalogItem,
)
from .jsonable import (
    _from_dict,
    _to_jsonable,
)
from .kinds import (
    MAX_QUANTITY,
)
from .parties import (
    CustomerData,
    StoreRef,
)
from .validation import (
    _amount,
    _aware,
    _currency,
    _json_mapping,
    _set,
    _text,
)


@dataclass(frozen=True)
class PurchaseLine:
    """One line of an order: the item (as a catalog snapshot), quantity and unit price."""

    item: CatalogItem
    quantity: int
    unit_price: Decimal

    def validate(self, path: str, currency: str) -> None:
        if not isinstance(self.item, CatalogItem):
            raise InvalidEvent(f"{path}.item", "must be a CatalogItem")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidEvent(f"{path}.quantity", f"must be a whole number, got {self.quantity!r}")
        if self.quantity < 1:
            raise InvalidEvent(f"{path}.quantity", f"must be at least 1, got {self.quantity}")
        if self.quantity > MAX_QUANTITY:
            raise InvalidEvent(f"{path}.quantity", f"must be at most {MAX_QUANTITY:,}, got {self.quantity:,}")
        _set(self, "unit_price", _amount(f"{path}.unit_price", self.unit_price, currency))


@dataclass(frozen=True)
class PurchaseEvent:
    """A completed order. ``order_id`` is the idempotency key within the store."""

    store: StoreRef
    order_id: str
    occurred_at: datetime
    currency: str
    customer: CustomerData
    lines: tuple[PurchaseLine, ...]
    total: Decimal | None = None
    #: when the platform last changed the order; an older delivery never overwrites a newer one.
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    #: the account of this Django site that placed the order (its user's pk, as text); blank for a
    #: guest, and for a platform whose customers are not the site's users (a remote shop). A
    #: signed-in visitor of the site's pages may see the orders their account placed
    #: (:mod:`crosssell_plugin.shoppers`), so only an integration that knows the site's user sets it.
    account_id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.store, StoreRef):
            raise InvalidEvent("store", "must be a StoreRef")
        _set(
            self,
            "order_id",
            _text("order_id", self.order_id, max_length=255, required=True),
        )
        _set(
            self,
            "account_id",
            _text("account_id", self.account_id, max_length=255, required=False),
        )
        _set(self, "occurred_at", _aware("occurred_at", self.occurred_at))
        _set(self, "updated_at", _aware("updated_at", self.updated_at, required=False))
        currency = _currency("currency", self.currency)
        if not isinstance(self.customer, CustomerData):
            raise InvalidEvent("customer", "is required (a CustomerData with at least an email)")
        self.customer.validate("customer")
        lines = tuple(self.lines or ())
        if not lines:
            raise InvalidEvent("lines", "an order needs at least one line")
        for i, line in enumerate(lines):
            if not isinstance(line, PurchaseLine):
                raise InvalidEvent(f"lines[{i}]", "must be a PurchaseLine")
            line.validate(f"lines[{i}]", currency)
            if line.item.currency != currency:
                raise InvalidEvent(
                    f"lines[{i}].item.currency",
                    f"is {line.item.currency} but the order is in {currency}; convert the item price first",
                )
        _set(self, "lines", lines)
        computed = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        total = _amount("total", computed if self.total is None else self.total, currency)
        _set(self, "total", total)
        _set(self, "raw", _json_mapping("raw", self.raw))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _to_jsonable(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PurchaseEvent:
        return _from_dict(cls, data, "")


@dataclass(frozen=True)
class ConsumptionEvent:
    """Progress of a customer through a film, episode, course or module (0 to 1)."""

    store: StoreRef
    customer: CustomerData
    item_external_id: str
    progress: Decimal
    occurred_at: datetime
    seconds: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.store, StoreRef):
            raise InvalidEvent("store", "must be a StoreRef")
        if not isinstance(self.customer, CustomerData):
            raise InvalidEvent("customer", "is required (a CustomerData with at least an email)")
        self.customer.validate("customer")
        _set(
            self,
            "item_external_id",
            _text("item_external_id", self.item_external_id, max_length=255, required=True),
        )
        if isinstance(self.progress, float | bool) or not isinstance(self.progress, Decimal | int | str):
            raise InvalidEvent("progress", "must be a Decimal between 0 and 1")
        progress = Decimal(str(self.progress))
        if not (progress.is_finite() and 0 <= progress <= 1):
            raise InvalidEvent("progress", f"must be between 0 and 1, got {self.progress}")
        _set(self, "progress", progress.quantize(Decimal("0.0001")))
        _set(self, "occurred_at", _aware("occurred_at", self.occurred_at))
        if self.seconds is not None and (
            isinstance(self.seconds, bool) or not isinstance(self.seconds, int) or self.seconds < 0
        ):
            raise InvalidEvent("seconds", "must be a whole number of seconds (0 or more)")
        _set(self, "raw", _json_mapping("raw", self.raw))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _to_jsonable(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsumptionEvent:
        return _from_dict(cls, data, "")


@dataclass(frozen=True)
class RefundEvent:
    """Money returned on an order. ``refund_id`` is the idempotency key within the store."""

    store: StoreRef
    order_id: str
    refund_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    reason: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.store, StoreRef):
            raise InvalidEvent("store", "must be a StoreRef")
        _set(
            self,
            "order_id",
            _text("order_id", self.order_id, max_length=255, required=True),
        )
        _set(
            self,
            "refund_id",
            _text("refund_id", self.refund_id, max_length=255, required=True),
        )
        currency = _currency("currency", self.currency)
        _set(self, "amount", _amount("amount", self.amount, currency))
        _set(self, "occurred_at", _aware("occurred_at", self.occurred_at))
        _set(
            self,
            "reason",
            _text("reason", self.reason, max_length=500, required=False, multiline=True),
        )
        _set(self, "raw", _json_mapping("raw", self.raw))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _to_jsonable(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RefundEvent:
        return _from_dict(cls, data, "")
