"""The admin of what the platforms send: items, orders (with lines and refunds), refunds, consumption.

Orders, lines, refunds and consumption come from the platforms, so they are read-only here;
the raw payloads are shown as formatted JSON for support and audits.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import (
    Consumption,
    Item,
    Order,
    OrderLine,
    Refund,
)
from ..money import format_amount
from .common import RawPayloadMixin, ReadOnlyMixin


@admin.register(Item)
class ItemAdmin(RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "store",
        "price_display",
        "margin_display",
        "available",
        "external_id",
    ]
    list_filter = ["store", "kind", "available", "level", "language"]
    search_fields = ["title", "external_id", "description"]
    readonly_fields = ["raw_payload", "created_at", "updated_at"]
    exclude = ["raw"]
    raw_id_fields = ["parent"]
    list_select_related = ["store"]

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj: Item) -> str:
        return format_amount(obj.price, obj.currency)

    @admin.display(description="Unit margin")
    def margin_display(self, obj: Item) -> str:
        margin = obj.unit_margin
        return "-" if margin is None else format_amount(margin, obj.currency)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["position", "item", "quantity", "unit_price"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["external_id", "amount", "currency", "occurred_at", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "store",
        "customer",
        "placed_at",
        "total_display",
        "status",
        "revision",
    ]
    list_filter = [
        "store",
        "status",
        "currency",
        ("placed_at", admin.DateFieldListFilter),
    ]
    search_fields = ["external_id", "customer__email", "lines__item__title"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline, RefundInline]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["store", "customer"]
    show_full_result_count = False

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj: Order) -> str:
        return format_amount(obj.total, obj.currency)


@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "order",
        "amount",
        "currency",
        "occurred_at",
        "store",
    ]
    list_filter = ["store", "currency"]
    search_fields = ["external_id", "order__external_id", "reason"]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["order", "store"]


@admin.register(Consumption)
class ConsumptionAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "customer",
        "item",
        "progress_display",
        "completed_at",
        "last_event_at",
        "events",
        "store",
    ]
    list_filter = ["store", ("completed_at", admin.EmptyFieldListFilter), "item__kind"]
    search_fields = ["customer__email", "item__title"]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["customer", "item", "store"]

    @admin.display(description="Progress", ordering="progress")
    def progress_display(self, obj: Consumption) -> str:
        return f"{obj.progress:.0%}"
