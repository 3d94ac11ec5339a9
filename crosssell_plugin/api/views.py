"""The API's views. Every query is scoped to ``request.store`` (set by :class:`.authentication.HasStore`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..absolute_urls import is_safe_target
from ..models import Customer, Item, Order, Store
from ..shoppers import may_see_customer, may_see_order
from ..surfaces import serve
from .authentication import ApiKeyAuthentication, ApiRateThrottle, HasStore
from .serializers import (
    CatalogQuerySerializer,
    ClickEventSerializer,
    ClickRecordedSerializer,
    ErrorSerializer,
    ImpressionEventSerializer,
    ImpressionsRecordedSerializer,
    ItemSerializer,
    RecommendationListSerializer,
    RecommendationQuerySerializer,
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
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the next request is allowed.",
)


def documented(answers: dict[int, Any]) -> dict[int, Any]:
    """``answers`` and the errors every operation may give (:data:`ERRORS`), by status code."""
    return dict(sorted({**ERRORS, **answers}.items()))


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


class StoreAPIView(APIView):
    """Authenticated by API key, staff session or a shopper's session; scoped to one store, rate-limited."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [HasStore]
    throttle_classes = [ApiRateThrottle]
    throttle_scope = "crosssell"
    # explicit, so the host project need not set DEFAULT_SCHEMA_CLASS for our schema
    schema = StoreAutoSchema()

    @property
    def store(self) -> Store:
        return self.request.store  # type: ignore[attr-defined]


class _RecommendationView(StoreAPIView):
    def query(self) -> dict[str, Any]:
        serializer = RecommendationQuerySerializer(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def respond(
        self,
        recommendations: Sequence[serve.Recommendation],
        query: dict[str, Any],
        *,
        order: Order | None = None,
        customer: Customer | None = None,
    ) -> Response:
        """The results, each with its signed link and token; their impressions recorded now, or
        (``record_impressions=false``) only planned, for the client to report with their tokens."""
        make = serve.show if query["record_impressions"] else serve.plan
        impressions = make(
            self.store, recommendations, query["placement"], order=order, customer=customer, variant=query["variant"]
        )
        results = []
        for rec, impression in zip(recommendations, impressions, strict=True):
            token, link = serve.token_and_link(impression)
            results.append(
                {
                    "item": rec.item,
                    "score": rec.score,
                    "reasons": rec.reason_texts,
                    "link": self._absolute(link),
                    "token": token,
                    "rank": impression.rank,
                }
            )
        version = next((r.model_version for r in recommendations if r.model_version is not None), None)
        return Response(RecommendationListSerializer({"results": results, "model_version": version}).data)

    def _absolute(self, url: str) -> str:
        return self.request.build_absolute_uri(url) if url.startswith("/") else url


_REC_RESPONSES = documented({200: RecommendationListSerializer, 404: NOT_FOUND})


class OrderRecommendations(_RecommendationView):
    @extend_schema(
        operation_id="recommendations_for_order",
        summary="What to show after an order (the thank-you page)",
        parameters=[RecommendationQuerySerializer, RETRY_AFTER],
        responses=_REC_RESPONSES,
        tags=["recommendations"],
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = self.query()
        orders = Order.objects.for_store(self.store).select_related("store", "customer")
        found = first_match(orders, external_id=external_id)
        if found is None or not may_see_order(request, found):
            raise exceptions.NotFound(f"No order {external_id!r} in this store.")
        recs = serve.for_order(found, limit=query["limit"], placement=query["placement"])
        return self.respond(recs, query, order=found, customer=found.customer)


class CustomerRecommendations(_RecommendationView):
    @extend_schema(
        operation_id="recommendations_for_customer",
        summary="What a customer may buy next (e.g. for a follow-up email)",
        parameters=[RecommendationQuerySerializer, RETRY_AFTER],
        responses=_REC_RESPONSES,
        tags=["recommendations"],
    )
    def get(self, request: Request, email: str) -> Response:
        query = self.query()
        customers = Customer.objects.for_store(self.store).select_related("store")
        found = first_match(customers, email=email.strip().lower())
        if found is None or not may_see_customer(request, found):
            raise exceptions.NotFound("No customer with this email in this store.")
        recs = serve.for_customer(found, limit=query["limit"], placement=query["placement"])
        return self.respond(recs, query, customer=found)


class ItemRecommendations(_RecommendationView):
    @extend_schema(
        operation_id="recommendations_for_item",
        summary="What goes with an item (an item page, a guest)",
        parameters=[RecommendationQuerySerializer, RETRY_AFTER],
        responses=_REC_RESPONSES,
        tags=["recommendations"],
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = self.query()
        found = first_match(Item.objects.for_store(self.store).select_related("store"), external_id=external_id)
        if found is None:
            raise exceptions.NotFound(f"No item {external_id!r} in this store.")
        recs = serve.for_item(found, limit=query["limit"], placement=query["placement"])
        return self.respond(recs, query)


class CatalogPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CatalogItems(StoreAPIView, generics.ListAPIView):
    """The store's items by title, 50 a page (``page_size`` up to 200)."""

    serializer_class = ItemSerializer
    pagination_class = CatalogPagination

    def get_queryset(self) -> QuerySet[Item]:
        serializer = CatalogQuerySerializer(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        filters = serializer.validated_data
        items = Item.objects.for_store(self.store).order_by("title", "pk")
        if "kind" in filters:
            items = items.filter(kind=filters["kind"])
        if "available" in filters:
            items = items.filter(available=filters["available"])
        if filters.get("q"):
            items = items.filter(title__icontains=filters["q"])
        return items

    @extend_schema(
        operation_id="catalog_items",
        summary="The store's catalogue, filtered",
        parameters=[CatalogQuerySerializer, RETRY_AFTER],
        responses=documented(
            {200: ItemSerializer(many=True), 404: OpenApiResponse(ErrorSerializer, description="No such page.")}
        ),
        tags=["catalog"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


BAD_LINK = "This link token is invalid, tampered with, expired or not from this store."


class ClickEvent(StoreAPIView):
    @extend_schema(
        operation_id="record_click",
        summary="Record a click on a recommendation link (like following /crosssell/r/<token>/)",
        request=ClickEventSerializer,
        parameters=[RETRY_AFTER],
        responses=documented(
            {201: ClickRecordedSerializer, 400: invalid("A bad token, or an unreadable body.", {"token": [BAD_LINK]})}
        ),
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        serializer = ClickEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        impression = serve.impression_of(serializer.validated_data["token"], self.store.pk)  # with its item
        if impression is None:
            raise exceptions.ValidationError({"token": [BAD_LINK]})
        agent = serializer.validated_data.get("user_agent", request.headers.get("User-Agent", ""))
        click = impression.clicks.create(
            user_agent_hash=hashlib.sha256(agent.encode("utf-8", "replace")).hexdigest() if agent else ""
        )
        url = impression.item.url if is_safe_target(impression.item.url) else ""
        return Response({"click": click.pk, "impression": impression.pk, "url": url}, status=status.HTTP_201_CREATED)


class ImpressionEvent(StoreAPIView):
    @extend_schema(
        operation_id="record_impressions",
        summary="Record that recommendations were shown (after fetching them with record_impressions=false)",
        request=ImpressionEventSerializer,
        parameters=[RETRY_AFTER],
        responses=documented(
            {
                201: ImpressionsRecordedSerializer,
                400: invalid(
                    "A bad token (by its index), none or too many, or an unreadable body.",
                    {"tokens": {"1": [BAD_LINK]}},
                    per_index=True,
                ),
            }
        ),
        tags=["events"],
    )
    def post(self, request: Request) -> Response:
        serializer = ImpressionEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():  # all or nothing
            found = [serve.impression_of(token, self.store.pk) for token in serializer.validated_data["tokens"]]
            bad = {str(n): [BAD_LINK] for n, impression in enumerate(found) if impression is None}
            if bad:
                raise exceptions.ValidationError({"tokens": bad})
        return Response({"impressions": [i.pk for i in found if i is not None]}, status=status.HTTP_201_CREATED)
