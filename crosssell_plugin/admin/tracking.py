"""The admin of tracking: impressions (with their clicks and conversions), clicks, conversions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from ..models import (
    Click,
    Conversion,
    Impression,
    Store,
)
from ..money import format_price
from .common import FullyReadOnlyMixin


@admin.register(Impression)
class ImpressionAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    """What was shown where, to whom, with which reasons; with its clicks and conversions."""

    list_display = [
        "created_at",
        "item",
        "placement",
        "variant",
        "rank",
        "score_display",
        "order",
        "customer",
        "clicks_count",
        "conversions_count",
        "store",
    ]
    list_filter = ["store", "placement", "variant", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["item__title", "customer__email", "order__external_id", "=key"]
    date_hierarchy = "created_at"
    list_select_related = ["item", "order", "customer", "store"]
    raw_id_fields = ["order", "customer", "item", "model_version"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Impression]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_clicks=Count("clicks", distinct=True), n_conversions=Count("conversions", distinct=True))
        )

    @admin.display(description="Score", ordering="score")
    def score_display(self, obj: Impression) -> str:
        return f"{obj.score:.3f}"

    @admin.display(description="Clicks", ordering="n_clicks")
    def clicks_count(self, obj: Impression) -> int:
        return obj.n_clicks  # type: ignore[attr-defined]

    @admin.display(description="Conversions", ordering="n_conversions")
    def conversions_count(self, obj: Impression) -> int:
        return obj.n_conversions  # type: ignore[attr-defined]


class ImpressionFactsMixin:
    """Columns of the impression a click or a conversion hangs off."""

    @admin.display(description="Placement", ordering="impression__placement")
    def placement(self, obj: Click | Conversion) -> str:
        return obj.impression.placement

    @admin.display(description="Store", ordering="impression__store")
    def store(self, obj: Click | Conversion) -> Store:
        return obj.impression.store


@admin.register(Click)
class ClickAdmin(ImpressionFactsMixin, FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "impression", "placement", "store"]
    list_filter = ["impression__store", "impression__placement", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["impression__item__title", "impression__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["impression__item", "impression__store"]
    raw_id_fields = ["impression"]
    show_full_result_count = False


@admin.register(Conversion)
class ConversionAdmin(ImpressionFactsMixin, FullyReadOnlyMixin, admin.ModelAdmin):
    """An order that bought a recommended item: what it paid for it, and where it was shown."""

    list_display = ["created_at", "item", "amount_display", "order", "placement", "shown_at", "store"]
    list_filter = ["impression__store", "impression__placement", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["item__title", "order__external_id", "order__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["item", "order", "impression__store"]
    readonly_fields = ["amount_display"]
    raw_id_fields = ["impression", "order", "item"]
    show_full_result_count = False

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Conversion) -> str:
        """What the order paid for the item, in its currency (the order's, for a row without one)."""
        return format_price(obj.amount, obj.currency or obj.order.currency)

    @admin.display(description="Shown on", ordering="impression__created_at")
    def shown_at(self, obj: Conversion) -> Any:
        return obj.impression.created_at
