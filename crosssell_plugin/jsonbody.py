"""Parse a request's body defensively: size limit, nesting limit, clear errors.

Python's parser recurses once per nesting level, so a body of a few kilobytes nested a thousand
levels deep raises ``RecursionError`` (a 500) inside the parser or in any code that walks the
result. :func:`loads` refuses such bodies with :class:`BodyTooDeep` instead, and refuses
``NaN``/``Infinity`` (not JSON) and text that is not UTF-8::

    try:
        payload = jsonbody.loads(request.body, max_depth=jsonbody.MAX_DEPTH)
    except jsonbody.InvalidBody as err:
        return HttpResponse(str(err), status=err.status, content_type="text/plain")

Every error carries the HTTP status a view should answer (400, or 413 for too large).
:func:`body_limit` is the size limit of a request body (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``),
and :func:`form` reads a form body (``request.POST``) with Django's own limits, raising the same
errors instead of Django's bare 400 page. The API's parser (``crosssell_plugin.api.parsers``)
is built on :func:`loads`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http.multipartparser import MultiPartParserError

from .exceptions import CrossSellError

if TYPE_CHECKING:
    from django.http import HttpRequest, QueryDict

#: nesting levels accepted by default: platform payloads stay far below (a Stripe event is ~8 deep)
MAX_DEPTH = 64
#: the longest integer accepted (Python's own limit for converting text to int)
MAX_INTEGER_DIGITS = 4300
#: the body size limit when ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is None (Django's own default, 2.5 MiB)
DEFAULT_MAX_BYTES = 2_621_440


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


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:  # int() would refuse it with advice for the server's code
        raise ValueError(f"a number has {digits:,} digits (at most {MAX_INTEGER_DIGITS:,})")
    return int(text)


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
        value = json.loads(text, parse_constant=_no_constant, parse_int=_integer)
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


#: Django's own refusals to read a request's data, which :func:`from_request_error` translates
REQUEST_ERRORS = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, MultiPartParserError, BadRequest)


def body_limit() -> int:
    """The largest request body accepted: ``DATA_UPLOAD_MAX_MEMORY_SIZE``, or
    :data:`DEFAULT_MAX_BYTES` where the project turned Django's limit off (None)."""
    limit = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", DEFAULT_MAX_BYTES)
    return DEFAULT_MAX_BYTES if limit is None else int(limit)


def too_large(size: int | None) -> BodyTooLarge:
    """The error for a request body of ``size`` bytes (None: not known) over :func:`body_limit`."""
    limit = body_limit()
    if getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) is not None:
        setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"
    else:
        setting = "crosssell's default, as DATA_UPLOAD_MAX_MEMORY_SIZE is None"
    said = "The body is larger than allowed" if size is None else f"The body is {size:,} bytes"
    return BodyTooLarge(f"{said}; the limit is {limit:,} ({setting}).")


def declared_size(request: HttpRequest) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def from_request_error(err: Exception, request: HttpRequest) -> InvalidBody | None:
    """The :class:`InvalidBody` for one of Django's refusals to read a request's data
    (:data:`REQUEST_ERRORS`, from ``request.POST``, ``request.GET`` or ``request.body``), or None
    for any other error."""
    if isinstance(err, RequestDataTooBig):
        size = declared_size(request)
        return too_large(size) if size > body_limit() else too_large(None)
    if isinstance(err, TooManyFieldsSent):
        fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return MalformedBody(f"The request has more than {fields:,} parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS).")
    if isinstance(err, TooManyFilesSent):
        files = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return MalformedBody(f"The request has more than {files:,} files (DATA_UPLOAD_MAX_NUMBER_FILES).")
    if isinstance(err, MultiPartParserError | BadRequest):
        return MalformedBody(f"The form body cannot be read: {err}")
    return None


def form(request: HttpRequest) -> QueryDict:
    """``request.POST``; :class:`InvalidBody` (with ``status``) when Django refuses to read it:
    a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413), too many fields or files, a form that is
    not UTF-8 or a broken multipart body (400)."""
    try:
        return request.POST
    except REQUEST_ERRORS as err:
        raise from_request_error(err, request) or MalformedBody(str(err)) from None
