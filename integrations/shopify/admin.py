"""Installed shops, read-only: what was granted and until when, never the tokens; and the
customers' data requests, each downloaded by the merchant as a .json file."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from .models import ShopifyDataRequest, ShopifyShop


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


@admin.register(ShopifyDataRequest)
class ShopifyDataRequestAdmin(admin.ModelAdmin):
    """``customers/data_request`` exports: read-only; "Download" gives the export as a .json file
    to hand to the customer (needs the view permission; the first download is recorded)."""

    list_display = ["request_id", "shop", "email", "customer_id", "requested_at", "status", "download_link"]
    list_filter = ["status"]
    list_select_related = ["shop"]
    search_fields = ["request_id", "email", "customer_id", "shop__domain"]
    fields = ("shop", "request_id", "email", "customer_id", "requested_at", "status", "downloaded_at", "download_link")
    readonly_fields = fields

    def get_urls(self) -> list[URLPattern]:
        download = path(
            "<path:object_id>/download/",
            self.admin_site.admin_view(self.download),
            name="crosssell_shopify_shopifydatarequest_download",
        )
        return [download, *super().get_urls()]

    @admin.display(description="export")
    def download_link(self, obj: ShopifyDataRequest) -> str:
        url = reverse(f"{self.admin_site.name}:crosssell_shopify_shopifydatarequest_download", args=[obj.pk])
        return format_html('<a href="{}">Download (.json)</a>', url)

    def download(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self.get_object(request, object_id)
        if found is None:
            raise Http404(f"No data request {object_id!r}.")
        if not self.has_view_permission(request, found):
            raise PermissionDenied
        if found.status != ShopifyDataRequest.Status.DOWNLOADED:
            ShopifyDataRequest.objects.filter(pk=found.pk).update(
                status=ShopifyDataRequest.Status.DOWNLOADED, downloaded_at=timezone.now(), updated_at=timezone.now()
            )
        body = json.dumps(found.export, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        response = HttpResponse(body.encode("utf-8"), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{found.filename()}"'
        response["Cache-Control"] = "no-store"
        return response

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests come from Shopify

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
