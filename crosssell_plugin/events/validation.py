"""Validation helpers every event uses at construction time: each raises
:class:`~crosssell_plugin.exceptions.InvalidEvent` naming the field."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ..exceptions import InvalidEvent
from ..money import is_currency, parse_amount

# --- validation helpers -------------------------------------------------------------

_ALLOWED_CONTROL = {"\n", "\r", "\t"}


def _text(path: str, given: Any, *, max_length: int, required: bool, multiline: bool = False) -> str:
    if given is None:
        given = ""
    if not isinstance(given, str):
        raise InvalidEvent(path, f"must be text, got {type(given).__name__}")
    value: str = given.strip()
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
    return str(value)


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
