"""The admin of customers: consent filter, consents inline, the follow-up timeline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ..models import (
    Customer,
    CustomerConsent,
    ScheduledMessage,
)


class CustomerConsentInline(admin.TabularInline):
    model = CustomerConsent
    extra = 0
    fields = ["channel", "granted", "source", "recorded_at"]


class ConsentListFilter(admin.SimpleListFilter):
    title = "marketing consent"
    parameter_name = "consent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(c, f"Granted: {c}") for c, _ in CustomerConsent._meta.get_field("channel").choices] + [
            ("none", "No marketing consent")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        if self.value() == "none":
            return queryset.exclude(consents__granted=True)
        if self.value():
            return queryset.filter(consents__channel=self.value(), consents__granted=True)
        return queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "store",
        "first_name",
        "last_name",
        "country",
        "locale",
        "order_count",
        "unsubscribed_at",
    ]
    list_filter = [
        "store",
        ConsentListFilter,
        "country",
        ("unsubscribed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["email", "first_name", "last_name", "external_id", "phone"]
    readonly_fields = ["created_at", "updated_at", "followup_timeline"]
    inlines = [CustomerConsentInline]
    list_select_related = ["store"]

    @admin.display(description="Follow-ups")
    def followup_timeline(self, obj: Customer) -> str:
        """A link to the customer's timeline: every follow-up planned, sent, skipped or failed."""
        if obj.pk is None:
            return "-"
        url = reverse("admin:crosssell_scheduledmessage_changelist") + f"?customer__id__exact={obj.pk}"
        count = ScheduledMessage.objects.for_store(obj.store_id).filter(customer=obj).count()
        return format_html('<a href="{}">Timeline ({} follow-up{})</a>', url, count, "" if count == 1 else "s")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).annotate(order_count=Count("orders"))

    @admin.display(description="Orders", ordering="order_count")
    def order_count(self, obj: Customer) -> int:
        return obj.order_count  # type: ignore[attr-defined]
