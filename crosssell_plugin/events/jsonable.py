"""The JSON round trip of events (``to_dict()`` / ``from_dict()``), so they can travel through Celery."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from ..exceptions import InvalidEvent

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
        from .catalog import CatalogItem

        if cls is CatalogItem and path and err.field.startswith("item"):
            raise InvalidEvent(path + err.field[len("item") :], err.message) from None
        raise
