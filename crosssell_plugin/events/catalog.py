"""An item of a store's catalogue as a platform describes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..exceptions import InvalidEvent
from .kinds import (
    ItemKind,
)
from .validation import (
    _amount,
    _currency,
    _enum,
    _json_mapping,
    _set,
    _str_tuple,
    _text,
)


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
