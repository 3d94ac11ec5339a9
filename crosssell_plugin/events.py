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
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .exceptions import InvalidEvent
from .money import is_currency, parse_amount


class Platform(StrEnum):
    OSCAR = "oscar"
    SHOPIFY = "shopify"
    TEACHABLE = "teachable"
    VIMEO_OTT = "vimeo_ott"
    STRIPE = "stripe"
    IMPORT = "import"  # orders loaded from CSV files
    CUSTOM = "custom"  # any other Django store calling record_purchase() itself


class ItemKind(StrEnum):
    FILM = "film"
    SERIES = "series"
    EPISODE = "episode"
    COURSE = "course"
    MODULE = "module"
    MERCH = "merch"
    BUNDLE = "bundle"
    SUBSCRIPTION = "subscription"
    #: any other physical product (what a store sells when it is neither media, learning nor merchandise)
    PRODUCT = "product"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    IN_APP = "in_app"


#: the largest quantity one order line may carry
MAX_QUANTITY = 1_000_000

# --- validation helpers -------------------------------------------------------------

_ALLOWED_CONTROL = {"\n", "\r", "\t"}


def _text(path: str, value: Any, *, max_length: int, required: bool, multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidEvent(path, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise InvalidEvent(path, "is required and must not be blank")
    if len(value) > max_length:
        raise InvalidEvent(path, f"is {len(value)} characters long; the limit is {max_length}")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise InvalidEvent(path, "contains an unpaired surrogate (not valid Unicode text)")
        if category == "Cc" and not (multiline and char in _ALLOWED_CONTROL):
            raise InvalidEvent(path, f"contains the control character U+{ord(char):04X}")
    return value


def _aware(path: str, value: Any, *, required: bool = True) -> datetime | None:
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(path, f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise InvalidEvent(path, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEvent(path, "must be timezone-aware (for example 2026-01-31T12:00:00+00:00)")
    return value.astimezone(UTC)


def _currency(path: str, value: Any) -> str:
    if not is_currency(value):
        raise InvalidEvent(path, f"{value!r} is not an ISO 4217 currency code such as 'EUR'")
    return value


def _amount(path: str, value: Any, currency: str) -> Decimal:
    try:
        return parse_amount(value, currency)
    except ValueError as err:
        raise InvalidEvent(path, str(err)) from None


def _str_tuple(path: str, value: Any, *, max_length: int = 200) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidEvent(path, "must be a list of strings")
    items = tuple(_text(f"{path}[{i}]", v, max_length=max_length, required=True) for i, v in enumerate(value))
    return tuple(dict.fromkeys(items))  # de-duplicated, order kept


def _json_mapping(path: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEvent(path, f"must be a JSON object, got {type(value).__name__}")
    try:
        text = json.dumps(value, default=_reject)
    except (TypeError, ValueError) as err:
        raise InvalidEvent(path, f"must be JSON-serializable: {err}") from None
    if "\\u0000" in text and _has_nul(value):
        raise InvalidEvent(path, "contains the character U+0000, which databases cannot store in JSON")
    return dict(value)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _reject(obj: Any) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _set(instance: Any, name: str, value: Any) -> None:
    object.__setattr__(instance, name, value)


def _enum(path: str, enum: type[StrEnum], value: Any) -> str:
    try:
        return enum(value).value
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise InvalidEvent(path, f"{value!r} is not one of: {choices}") from None


# --- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreRef:
    """Which tenant an event belongs to: the platform and the store's id on it."""

    platform: str
    external_id: str

    def __post_init__(self) -> None:
        _set(self, "platform", _enum("store.platform", Platform, self.platform))
        _set(
            self,
            "external_id",
            _text("store.external_id", self.external_id, max_length=255, required=True),
        )


@dataclass(frozen=True)
class Consent:
    """A customer's marketing consent (or its withdrawal) for one channel."""

    channel: str
    granted: bool
    source: str
    recorded_at: datetime

    def validate(self, path: str) -> None:
        _set(self, "channel", _enum(f"{path}.channel", Channel, self.channel))
        if not isinstance(self.granted, bool):
            raise InvalidEvent(f"{path}.granted", "must be true or false")
        _set(
            self,
            "source",
            _text(f"{path}.source", self.source, max_length=100, required=True),
        )
        _set(self, "recorded_at", _aware(f"{path}.recorded_at", self.recorded_at))


@dataclass(frozen=True)
class CustomerData:
    """The buyer as the platform knows them. ``email`` identifies them within a store."""

    email: str
    external_id: str = ""
    first_name: str = ""
    last_name: str = ""
    locale: str = ""
    country: str = ""
    timezone: str = ""
    phone: str = ""
    consents: tuple[Consent, ...] = ()

    def validate(self, path: str) -> None:
        email = _text(f"{path}.email", self.email, max_length=254, required=True)
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidEvent(f"{path}.email", f"{email!r} is not a valid email address") from None
        # One person, one customer: stores treat addresses case-insensitively.
        _set(self, "email", email.lower())
        for name, limit in (
            ("external_id", 255),
            ("first_name", 150),
            ("last_name", 150),
            ("phone", 32),
        ):
            _set(
                self,
                name,
                _text(
                    f"{path}.{name}",
                    getattr(self, name),
                    max_length=limit,
                    required=False,
                ),
            )
        _set(
            self,
            "locale",
            _text(f"{path}.locale", self.locale, max_length=35, required=False),
        )
        country = _text(f"{path}.country", self.country, max_length=2, required=False).upper()
        if country and not (len(country) == 2 and country.isalpha() and country.isascii()):
            raise InvalidEvent(
                f"{path}.country",
                f"{country!r} is not an ISO 3166 alpha-2 code such as 'FR'",
            )
        _set(self, "country", country)
        tz = _text(f"{path}.timezone", self.timezone, max_length=64, required=False)
        if tz:
            _check_timezone(f"{path}.timezone", tz)
        _set(self, "timezone", tz)
        consents = tuple(self.consents or ())
        for i, consent in enumerate(consents):
            if not isinstance(consent, Consent):
                raise InvalidEvent(f"{path}.consents[{i}]", "must be a Consent")
            consent.validate(f"{path}.consents[{i}]")
        _set(self, "consents", consents)


def _check_timezone(path: str, name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEvent(path, f"{name!r} is not an IANA time zone such as 'Europe/Paris'") from None


@dataclass(frozen=True)
class CatalogItem:
    """A sellable item as the platform describes it (a film, a course module, a T-shirt...)."""

    external_id: str
    title: str
    kind: str
    price: Decimal
    currency: str
    description: str = ""
    url: str = ""
    image_url: str = ""
    unit_cost: Decimal | None = None
    margin_rate: Decimal | None = None
    genres: tuple[str, ...] = ()
    people: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    runtime_minutes: int | None = None
    level: str = ""
    language: str = ""
    parent_external_id: str = ""
    position: int | None = None
    available: bool = True
    attributes: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate("item")

    def validate(self, path: str) -> None:
        _set(
            self,
            "external_id",
            _text(f"{path}.external_id", self.external_id, max_length=255, required=True),
        )
        _set(
            self,
            "title",
            _text(f"{path}.title", self.title, max_length=500, required=True),
        )
        _set(self, "kind", _enum(f"{path}.kind", ItemKind, self.kind))
        currency = _currency(f"{path}.currency", self.currency)
        _set(self, "price", _amount(f"{path}.price", self.price, currency))
        if self.unit_cost is not None:
            _set(
                self,
                "unit_cost",
                _amount(f"{path}.unit_cost", self.unit_cost, currency),
            )
        if self.margin_rate is not None:
            rate = self.margin_rate
            if isinstance(rate, float | bool) or not isinstance(rate, Decimal | int | str):
                raise InvalidEvent(
                    f"{path}.margin_rate",
                    "must be a Decimal between 0 and 1 (0.35 = 35 %)",
                )
            try:
                rate = Decimal(str(rate))
            except ArithmeticError:
                raise InvalidEvent(f"{path}.margin_rate", f"{rate!r} is not a number") from None
            if not (rate.is_finite() and Decimal(0) <= rate <= Decimal(1)):
                raise InvalidEvent(
                    f"{path}.margin_rate",
                    "must be a Decimal between 0 and 1 (0.35 = 35 %)",
                )
            _set(self, "margin_rate", rate)
        _set(
            self,
            "description",
            _text(
                f"{path}.description",
                self.description,
                max_length=20_000,
                required=False,
                multiline=True,
            ),
        )
        for name in ("url", "image_url"):
            _set(
                self,
                name,
                _text(
                    f"{path}.{name}",
                    getattr(self, name),
                    max_length=2_000,
                    required=False,
                ),
            )
        _set(self, "genres", _str_tuple(f"{path}.genres", self.genres))
        _set(self, "tags", _str_tuple(f"{path}.tags", self.tags))
        if not isinstance(self.people, Mapping):
            raise InvalidEvent(
                f"{path}.people",
                "must map a role (director, cast, instructor) to a list of names",
            )
        _set(
            self,
            "people",
            {
                _text(f"{path}.people", role, max_length=50, required=True).lower(): _str_tuple(
                    f"{path}.people.{role}", names
                )
                for role, names in self.people.items()
            },
        )
        if self.runtime_minutes is not None and (
            isinstance(self.runtime_minutes, bool)
            or not isinstance(self.runtime_minutes, int)
            or self.runtime_minutes < 0
        ):
            raise InvalidEvent(
                f"{path}.runtime_minutes",
                "must be a whole number of minutes (0 or more)",
            )
        if self.position is not None and (
            isinstance(self.position, bool) or not isinstance(self.position, int) or self.position < 0
        ):
            raise InvalidEvent(f"{path}.position", "must be a whole number (0 or more)")
        _set(
            self,
            "level",
            _text(f"{path}.level", self.level, max_length=50, required=False),
        )
        _set(
            self,
            "language",
            _text(f"{path}.language", self.language, max_length=35, required=False),
        )
        _set(
            self,
            "parent_external_id",
            _text(
                f"{path}.parent_external_id",
                self.parent_external_id,
                max_length=255,
                required=False,
            ),
        )
        if not isinstance(self.available, bool):
            raise InvalidEvent(f"{path}.available", "must be true or false")
        _set(self, "attributes", _json_mapping(f"{path}.attributes", self.attributes))
        _set(self, "raw", _json_mapping(f"{path}.raw", self.raw))


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

    def __post_init__(self) -> None:
        if not isinstance(self.store, StoreRef):
            raise InvalidEvent("store", "must be a StoreRef")
        _set(
            self,
            "order_id",
            _text("order_id", self.order_id, max_length=255, required=True),
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
        return _to_jsonable(self)

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
        return _to_jsonable(self)

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
        return _to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RefundEvent:
        return _from_dict(cls, data, "")


# --- the other events a platform sends (webhooks): cancel, consent, catalog change, redact -----


def _check_store(instance: Any) -> None:
    if not isinstance(instance.store, StoreRef):
        raise InvalidEvent("store", "must be a StoreRef")
    _set(instance, "occurred_at", _aware("occurred_at", instance.occurred_at))
    _set(instance, "raw", _json_mapping("raw", instance.raw))


class _RoundTrip:
    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

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


# --- JSON round trip ------------------------------------------------------------------


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    return value


T = TypeVar("T")

#: nested dataclass fields and how to build them from plain dicts
_NESTED: dict[tuple[type, str], type] = {}


def _from_dict(cls: type[T], data: Any, path: str) -> T:
    if not isinstance(data, Mapping):
        raise InvalidEvent(path or cls.__name__, f"must be an object, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(names)
    if unknown:
        raise InvalidEvent(
            path or cls.__name__,
            f"unknown field(s): {', '.join(sorted(map(str, unknown)))}",
        )
    for name, spec in names.items():
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if required and name not in data:
            raise InvalidEvent(f"{path}.{name}" if path else name, "is required")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        where = f"{path}.{name}" if path else name
        nested = _NESTED.get((cls, name))
        if nested is not None and value is not None:
            if name in ("lines", "consents"):
                if not isinstance(value, list):
                    raise InvalidEvent(where, "must be a list")
                value = tuple(_from_dict(nested, v, f"{where}[{i}]") for i, v in enumerate(value))
            else:
                value = _from_dict(nested, value, where)
        elif name in ("genres", "tags") and isinstance(value, list):
            value = tuple(value)
        elif name == "people" and isinstance(value, Mapping):
            value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except InvalidEvent as err:
        # CatalogItem validates itself under the name "item"; report where it sits in the event.
        if cls is CatalogItem and path and err.field.startswith("item"):
            raise InvalidEvent(path + err.field[len("item") :], err.message) from None
        raise


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
