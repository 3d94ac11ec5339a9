"""Recommendations for an order, a customer or an item, each with its signed link and token (through
:mod:`crosssell_plugin.surfaces.serve`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from ...models import Customer, Item, Order
from ...shoppers import may_see_customer, may_see_order
from ...surfaces import serve
from ..serializers import (
    RecommendationListSerializer,
    RecommendationQuerySerializer,
)
from .base import NOT_FOUND, RETRY_AFTER, StoreAPIView, documented, first_match


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
            self.store,
            recommendations,
            query["placement"],
            order=order,
            customer=customer,
            variant=query["variant"] or None,
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
