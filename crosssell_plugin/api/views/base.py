"""What every API view shares: the store of the request, the OpenAPI schema of its answers and errors,
and looking a row up by its external id."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import jsonbody
from ...models import Store
from ..authentication import ApiKeyAuthentication, ApiRateThrottle, HasStore
from ..parsers import JSONBodyParser, api_error
from ..serializers import (
    ErrorSerializer,
)

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Unknown in this store.")


def invalid(description: str, example: dict[str, Any], *, per_index: bool = False) -> OpenApiResponse:
    """A 400 in DRF's shape: messages per field, or a ``detail`` when the body cannot be read;
    with ``per_index``, a list field's messages may also be given per index (``{"0": [...]}``)."""
    texts = {"type": "array", "items": {"type": "string"}}
    shapes: list[dict[str, Any]] = [texts, {"type": "string"}]
    if per_index:
        shapes.append({"type": "object", "additionalProperties": texts})
    messages = {"anyOf": shapes}
    return OpenApiResponse(
        {"type": "object", "additionalProperties": messages, "example": example}, description=description
    )


ERRORS = {
    400: invalid("Invalid parameters.", {"limit": ["Ensure this value is less than or equal to 50."]}),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or revoked API key."),
    403: OpenApiResponse(
        ErrorSerializer, description="A signed-in session on a site without a store of its own, or without CSRF token."
    ),
    429: OpenApiResponse(ErrorSerializer, description="Over the rate limit (`API_RATE`); see `Retry-After`."),
}
#: the further errors of an operation that reads a JSON body (:class:`.JSONBodyParser`)
BODY_ERRORS = {
    413: OpenApiResponse(ErrorSerializer, description="The body is larger than `DATA_UPLOAD_MAX_MEMORY_SIZE`."),
    415: OpenApiResponse(ErrorSerializer, description="The body is not `application/json`."),
}
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the next request is allowed.",
)


def documented(answers: dict[int, Any], *, body: bool = False) -> dict[int, Any]:
    """``answers`` and the errors every operation may give (:data:`ERRORS`), by status code; with
    ``body``, those of an operation that reads a JSON body too (:data:`BODY_ERRORS`)."""
    return dict(sorted({**ERRORS, **(BODY_ERRORS if body else {}), **answers}.items()))


def first_match(queryset: QuerySet[Any], **lookup: str) -> Any:
    """The first row of ``queryset`` matching ``lookup``; None for text no row can hold.

    A NUL character cannot be stored in PostgreSQL text (asking for it is an error there), so
    an identifier containing one matches nothing, on every database.
    """
    if any("\x00" in value for value in lookup.values()):
        return None
    return queryset.filter(**lookup).first()


class StoreAutoSchema(AutoSchema):
    """drf-spectacular's schema of an operation, which may also be called without credentials by a
    visitor of the site's own pages (a shopper of the site's store, see :class:`.HasStore`)."""

    def get_auth(self) -> list[dict[str, list[str]]]:
        auths = super().get_auth()
        return [*auths, {}] if {} not in auths else auths

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        """drf-spectacular 0.30 wraps a blank-allowed string with a pattern as ``oneOf: [the
        string, {"maxLength": 0}]``; where the pattern itself admits the empty string (ours only
        forbid NUL), "" matches both and so violates ``oneOf``: keep the one schema instead."""
        super()._insert_field_validators(field, schema)
        one_of = schema.get("oneOf")
        if not (isinstance(one_of, list) and len(one_of) == 2 and one_of[1] == {"type": "string", "maxLength": 0}):
            return
        inner = one_of[0]
        pattern = inner.get("pattern")
        if "format" in inner or inner.get("minLength") or pattern is None or re.search(pattern, "") is None:
            return
        del schema["oneOf"]
        schema.update(inner)


class StoreAPIView(APIView):
    """Authenticated by API key, staff session or a shopper's session; scoped to one store, rate-limited."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    # bodies are JSON only, with nesting and size limits and clear errors (not DRF's JSONParser)
    parser_classes = [JSONBodyParser]
    permission_classes = [HasStore]
    throttle_classes = [ApiRateThrottle]
    throttle_scope = "crosssell"
    # explicit, so the host project need not set DEFAULT_SCHEMA_CLASS for our schema
    schema = StoreAutoSchema()

    @property
    def store(self) -> Store:
        return self.request.store  # type: ignore[attr-defined]

    def handle_exception(self, exc: Exception) -> Response:
        """Django's refusals to read the request (a query string of more than
        ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` parameters, say) are answered in the API's format too,
        not with the site's 400 page."""
        if isinstance(exc, jsonbody.REQUEST_ERRORS):
            invalid = jsonbody.from_request_error(exc, self.request._request)
            if invalid is not None:
                exc = api_error(invalid)
        return super().handle_exception(exc)
