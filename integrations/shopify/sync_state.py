"""When each shop's catalogue and orders were last read in full, so the next sync of its orders
asks Shopify only for what changed since (``updated_at:>=``).

Kept in a table of its own, one row per shop, written when a sync has read everything it asked
for; a run that fails part-way leaves the previous times, so the next run reads that span again
(recording is idempotent)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db import models

from .models import ShopifyShop

Part = Literal["catalog", "orders"]


class ShopifySyncState(models.Model):
    """The last successful sync of one shop, part by part (empty = never)."""

    shop = models.OneToOneField(ShopifyShop, on_delete=models.CASCADE, related_name="sync_state")
    catalog_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last full catalogue read started."
    )
    orders_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Orders updated before this time have been read."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "crosssell_shopify"
        verbose_name = "Shopify sync state"

    def __str__(self) -> str:
        return f"sync state of {self.shop_id}"


def last_synced(shop: ShopifyShop, part: Part) -> datetime | None:
    """When ``part`` of ``shop`` was last synced in full (None: never)."""
    value = ShopifySyncState.objects.filter(shop=shop).values_list(f"{part}_synced_at", flat=True).first()
    return value


def mark_synced(shop: ShopifyShop, part: Part, at: datetime) -> None:
    """Record that ``part`` of ``shop`` was read in full as of ``at`` (a read that started then).
    A later time already held is kept (an overlapping run finishing last does not move it back)."""
    field = f"{part}_synced_at"
    state, _ = ShopifySyncState.objects.get_or_create(shop=shop)
    held = getattr(state, field)
    if held is None or at > held:
        ShopifySyncState.objects.filter(pk=state.pk).update(**{field: at})
