"""The admin of stores (with their business rules) and of API keys."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html

from ..models import (
    ApiKey,
    Store,
)
from .forms import StoreForm


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "platform",
        "external_id",
        "currency",
        "timezone",
        "is_active",
        "order_count",
        "dashboard_link",
    ]
    list_filter = ["platform", "is_active", "currency"]
    search_fields = ["name", "external_id"]
    readonly_fields = ["created_at", "updated_at"]
    form = StoreForm
    fieldsets = [
        (None, {"fields": ["platform", "external_id", "name", "currency", "timezone", "is_active"]}),
        (
            "Recommendation rules",
            {
                "fields": StoreForm.rule_fields(),
                "description": "How this store's recommendation lists are ordered. Rules reorder a list and "
                "never shorten it: only what the customer owns, what is unavailable and what is excluded "
                "here is left out, and a list is filled with other items when the store has them.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        return super().get_queryset(request).annotate(order_count=Count("orders"))

    @admin.display(description="Orders", ordering="order_count")
    def order_count(self, obj: Store) -> int:
        return obj.order_count  # type: ignore[attr-defined]

    def get_urls(self) -> list[URLPattern]:
        from .dashboard import admin_urls

        return admin_urls(self) + super().get_urls()

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj: Store) -> str:
        """A link to what cross-sell earned this store (crosssell_plugin.admin.dashboard)."""
        return format_html('<a href="{}">Dashboard</a>', reverse("admin:crosssell_store_dashboard", args=[obj.pk]))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys of the REST API. A new key is shown once, in a message, right after it is created."""

    list_display = ["name", "store", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["store", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [*self.readonly_fields, "store"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key is not None:
            self.message_user(
                request,
                f"The new API key is {key} - copy it now: it is not stored and will not be shown again.",
                messages.WARNING,
            )

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} API key(s) revoked.", messages.SUCCESS)
