"""The other events a platform sends (webhooks): cancel, consent, catalog change, customer redact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..exceptions import InvalidEvent
from .catalog import (
    CatalogItem,
)
from .jsonable import (
    T,
    _from_dict,
    _to_jsonable,
)
from .parties import (
    CustomerData,
    StoreRef,
)
from .validation import (
    _aware,
    _json_mapping,
    _set,
    _text,
)

# --- the other events a platform sends (webhooks): cancel, consent, catalog change, redact -----


def _check_store(instance: Any) -> None:
    if not isinstance(instance.store, StoreRef):
        raise InvalidEvent("store", "must be a StoreRef")
    _set(instance, "occurred_at", _aware("occurred_at", instance.occurred_at))
    _set(instance, "raw", _json_mapping("raw", instance.raw))


class _RoundTrip:
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _to_jsonable(self)
        return data

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        return _from_dict(cls, data, "")


@dataclass(frozen=True)
class CancelEvent(_RoundTrip):
    """An order cancelled on the platform. It is recorded as a refund of what is left of the order's
    total (refund id ``cancel:<order_id>``), so its follow-ups stop like a refund's."""

    store: StoreRef
    order_id: str
    occurred_at: datetime
    reason: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_store(self)
        _set(self, "order_id", _text("order_id", self.order_id, max_length=255, required=True))
        _set(self, "reason", _text("reason", self.reason, max_length=500, required=False, multiline=True))


@dataclass(frozen=True)
class ConsentEvent(_RoundTrip):
    """Marketing consent given or withdrawn outside an order (``customer.consents`` says which)."""

    store: StoreRef
    customer: CustomerData
    occurred_at: datetime
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_store(self)
        if not isinstance(self.customer, CustomerData):
            raise InvalidEvent("customer", "is required (a CustomerData with at least an email)")
        self.customer.validate("customer")
        if not self.customer.consents:
            raise InvalidEvent("customer.consents", "a consent event needs at least one Consent")


@dataclass(frozen=True)
class CatalogChangeEvent(_RoundTrip):
    """An item created or changed (``item``), or taken off sale (``removed_external_id``)."""

    store: StoreRef
    occurred_at: datetime
    item: CatalogItem | None = None
    removed_external_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_store(self)
        removed = _text("removed_external_id", self.removed_external_id, max_length=255, required=False)
        _set(self, "removed_external_id", removed)
        if (self.item is None) == (not removed):
            raise InvalidEvent("item", "give either the changed item or removed_external_id, not both or neither")
        if self.item is not None and not isinstance(self.item, CatalogItem):
            raise InvalidEvent("item", "must be a CatalogItem")


@dataclass(frozen=True)
class CustomerRedactEvent(_RoundTrip):
    """The platform asks to erase a customer's personal data (a privacy request)."""

    store: StoreRef
    email: str
    occurred_at: datetime
    external_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_store(self)
        _set(self, "email", _text("email", self.email, max_length=254, required=True).lower())
        _set(self, "external_id", _text("external_id", self.external_id, max_length=255, required=False))
