"""The API's request bodies: JSON only, read through :mod:`crosssell_plugin.jsonbody`.

DRF's own ``JSONParser`` hands any nesting to Python's parser and to the serializers, so a small
body nested a thousand levels deep ends in ``RecursionError`` (a 500). :class:`JSONBodyParser`
refuses it, and ``NaN``/``Infinity``, text that is not UTF-8 and a body larger than
``DATA_UPLOAD_MAX_MEMORY_SIZE``, in the API's error format::

    400 {"detail": "The JSON body nests deeper than 64 levels."}
    413 {"detail": "The body is 3,000,000 bytes; the limit is 2,621,440 (DATA_UPLOAD_MAX_MEMORY_SIZE)."}

A body of any other media type (a form, say) is DRF's 415.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

from .. import jsonbody


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is too large."
    default_code = "payload_too_large"


def api_error(err: jsonbody.InvalidBody) -> exceptions.APIException:
    """The API's answer to a body :mod:`~crosssell_plugin.jsonbody` refused: 413 or 400, ``{"detail"}``."""
    if err.status == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return PayloadTooLarge(str(err))
    return exceptions.ParseError(str(err))


class JSONBodyParser(BaseParser):
    """``application/json`` with :func:`crosssell_plugin.jsonbody.loads`: at most ``max_depth``
    levels and :func:`crosssell_plugin.jsonbody.body_limit` bytes, UTF-8, no NaN."""

    media_type = "application/json"
    max_depth = jsonbody.MAX_DEPTH

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = jsonbody.body_limit()
        request = (parser_context or {}).get("request")
        declared = jsonbody.declared_size(request._request) if request is not None else 0
        if declared > limit:  # refused before anything is read
            raise api_error(jsonbody.too_large(declared))
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise api_error(jsonbody.too_large(None))
        try:
            return jsonbody.loads(body, max_depth=self.max_depth)
        except jsonbody.InvalidBody as err:
            raise api_error(err) from None
