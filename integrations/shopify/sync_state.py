"""When each shop's catalogue and orders were last read in full, so the next sync of its orders
asks Shopify only for what changed since (``updated_at:>=``).

Kept in a table of its own, one row per shop, written when a sync has read everything it asked
for; a run that fails part-way leaves the previous times, so the next run reads that span again
(recording is idempotent).

``running_since`` is the claim of the sync running now (``crosssell.shopify.sync_shop``): a run
takes it with one conditional UPDATE (:func:`claim`) and gives it back when it ends
(:func:`release`), so two runs of one shop never overlap, whichever worker starts them. A claim
older than :data:`CLAIM_SECONDS` is taken to belong to a worker that died and may be taken over."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .models import ShopifyShop

Part = Literal["catalog", "orders"]

#: how long a sync's claim holds before another run may take it over (a worker that died)
CLAIM_SECONDS = 6 * 3600


class ShopifySyncState(models.Model):
    """The last successful sync of one shop, part by part (empty = never)."""

    shop = models.OneToOneField(ShopifyShop, on_delete=models.CASCADE, related_name="sync_state")
    catalog_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last full catalogue read started."
    )
    orders_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Orders updated before this time have been read."
    )
    running_since = models.DateTimeField(
        null=True, blank=True, help_text="When the sync running now started (empty = none is running)."
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


def _claim_is_free(now: datetime) -> Q:
    return Q(running_since__isnull=True) | Q(running_since__lt=now - timedelta(seconds=CLAIM_SECONDS))


def is_running(shop: ShopifyShop, now: datetime | None = None) -> bool:
    """Whether a sync of ``shop`` holds its claim (and has not held it so long it is stale)."""
    now = now or timezone.now()
    return ShopifySyncState.objects.filter(shop=shop).exclude(_claim_is_free(now)).exists()


def claim(shop: ShopifyShop, now: datetime | None = None) -> bool:
    """Take the claim of a sync of ``shop``: True for the one caller that got it, False while
    another run holds it. One conditional UPDATE, so two workers racing get one True."""
    now = now or timezone.now()
    ShopifySyncState.objects.get_or_create(shop=shop)
    taken = ShopifySyncState.objects.filter(_claim_is_free(now), shop=shop).update(running_since=now)
    return taken == 1


def release(shop: ShopifyShop, claimed_at: datetime) -> None:
    """Give back the claim taken at ``claimed_at`` (a claim taken over since is left alone)."""
    ShopifySyncState.objects.filter(shop=shop, running_since=claimed_at).update(running_since=None)
