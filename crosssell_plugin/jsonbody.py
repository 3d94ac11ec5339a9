"""Parse a request's JSON body defensively: size limit, nesting limit, clear errors.

Python's parser recurses once per nesting level, so a body of a few kilobytes nested a thousand
levels deep raises ``RecursionError`` (a 500) inside the parser or in any code that walks the
result. :func:`loads` refuses such bodies with :class:`BodyTooDeep` instead, and refuses
``NaN``/``Infinity`` (not JSON) and text that is not UTF-8::

    try:
        payload = jsonbody.loads(request.body, max_depth=jsonbody.MAX_DEPTH)
    except jsonbody.InvalidBody as err:
        return HttpResponse(str(err), status=err.status, content_type="text/plain")

Every error carries the HTTP status a view should answer (400, or 413 for too large).
"""

from __future__ import annotations

import json
from typing import Any

from .exceptions import CrossSellError

#: nesting levels accepted by default: platform payloads stay far below (a Stripe event is ~8 deep)
MAX_DEPTH = 64


class InvalidBody(CrossSellError, ValueError):
    """A request body that is not acceptable JSON; ``status`` is the HTTP status to answer."""

    status = 400


class MalformedBody(InvalidBody):
    """The body is not valid UTF-8 JSON."""


class BodyTooDeep(InvalidBody):
    """The body nests arrays/objects deeper than allowed."""


class BodyTooLarge(InvalidBody):
    """The body is longer than allowed."""

    status = 413


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_size(size: int, max_bytes: int) -> None:
    """Raise :class:`BodyTooLarge` if ``size`` bytes exceed ``max_bytes``."""
    if size > max_bytes:
        raise BodyTooLarge(f"The body is {size:,} bytes; the limit is {max_bytes:,}.")


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def loads(body: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    """The JSON value of ``body``; :class:`InvalidBody` (with ``status``) when it cannot be accepted."""
    if max_bytes is not None:
        check_size(len(body), max_bytes)
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as err:
        raise MalformedBody(f"The body is not UTF-8 text (byte {err.start}).") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BodyTooDeep(f"The JSON body nests deeper than {max_depth} levels.") from None
    except ValueError as err:
        raise MalformedBody(f"The body is not valid JSON: {err}.") from None
    if depth(value) > max_depth:
        raise BodyTooDeep(f"The JSON body nests deeper than {max_depth} levels.")
    return value


def loads_object(body: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> dict[str, Any]:
    """Like :func:`loads`, for bodies that must be a JSON object."""
    value = loads(body, max_depth=max_depth, max_bytes=max_bytes)
    if not isinstance(value, dict):
        raise MalformedBody(f"The body must be a JSON object, got a JSON {type(value).__name__}.")
    return value
