"""The store's catalogue, filtered and paginated."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from ...models import Item
from ..serializers import (
    CatalogQuerySerializer,
    ErrorSerializer,
    ItemSerializer,
)
from .base import RETRY_AFTER, StoreAPIView, documented


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
