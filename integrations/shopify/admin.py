"""Installed shops, read-only: what was granted and until when, never the tokens."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import ShopifyShop


@admin.register(ShopifyShop)
class ShopifyShopAdmin(admin.ModelAdmin):
    list_display = [
        "domain",
        "store",
        "installed",
        "scopes",
        "access_token_expires_at",
        "installed_at",
        "uninstalled_at",
    ]
    list_filter = [("uninstalled_at", admin.EmptyFieldListFilter)]
    list_select_related = ["store"]
    search_fields = ["domain"]
    fields = (
        "domain",
        "store",
        "installed",
        "scopes",
        "api_version",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "token_refreshed_at",
        "installed_at",
        "uninstalled_at",
    )
    readonly_fields = fields

    @admin.display(boolean=True, description="installed")
    def installed(self, shop: ShopifyShop) -> bool:
        return shop.is_installed

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # shops come from installs

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # an uninstall revokes; the shop's data goes with its Store
