"""What was shown, clicked and bought: impressions, clicks and conversions of recommendations.

An :class:`Impression` is one recommended item rendered once (by the ``crosssell`` template
tags and the API, one row per item, with the variant shown if the caller names one). The rows
are written by the ``crosssell.log_impressions`` task in one ``bulk_create``, off the page's
path (see :mod:`crosssell_plugin.tracking`); each has a random ``key`` chosen when the block is
rendered, and an API client that defers them reports them by their tokens. Its link goes
through the signed redirect ``/crosssell/r/<token>/`` (the token names the key), which records
a :class:`Click`. A later order of the same customer that contains the item, within
``ATTRIBUTION_WINDOW_DAYS``, records a :class:`Conversion` (see
:func:`crosssell_plugin.receivers.attribute_purchase`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from .base import StoreScopedQuerySet, currency_field, money_field
from .catalog import Item
from .customer import Customer
from .followup import ScheduledMessage
from .order import Order
from .recommendation import ModelVersion
from .store import Store


class Impression(models.Model):
    """One recommended item, shown once at one placement (thank_you, order_detail, item_page...)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="impressions")
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="impressions",
        help_text="The order whose page showed the recommendation, if any.",
    )
    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="impressions",
        help_text="Who saw it, when known (not for an item page seen by a guest).",
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="impressions")
    placement = models.CharField(max_length=50)
    rank = models.PositiveIntegerField(help_text="Position in the block, from 1.")
    score = models.FloatField()
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="impressions",
        help_text="The model that produced it; empty for the popular fallback (cold start).",
    )
    reason = models.TextField(blank=True, help_text="The reasons shown, one per line.")
    variant = models.CharField(
        max_length=50,
        blank=True,
        default="",
        help_text="Which variant was shown (an A/B test arm named by the page or API caller); empty = none.",
    )
    message = models.ForeignKey(
        ScheduledMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="impressions",
        help_text="The follow-up message that showed it (email, SMS, in-app), if any.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    key = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Chosen when the block is rendered; in its links."
    )

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["store", "customer", "item", "created_at"], name="crosssell_impression_attr"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.item} at {self.placement} #{self.rank}"


class ImpressionScopedQuerySet(StoreScopedQuerySet[Any]):
    """Rows that hang off an Impression (clicks, conversions), scoped through it."""

    store_path = "impression__store"


class Click(models.Model):
    """A followed recommendation link (one row per request to the redirect)."""

    impression = models.ForeignKey(Impression, on_delete=models.CASCADE, related_name="clicks")
    created_at = models.DateTimeField(default=timezone.now)
    user_agent_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the browser's User-Agent, if it sent one."
    )

    objects = ImpressionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Click on {self.impression}"


class Conversion(models.Model):
    """An order that bought a recommended item within the attribution window of its impression."""

    impression = models.ForeignKey(Impression, on_delete=models.CASCADE, related_name="conversions")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="conversions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="conversions")
    amount = money_field(
        default=Decimal(0), help_text="What the order paid for the recommended item (its lines), before refunds."
    )
    currency = currency_field(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ImpressionScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["impression", "order"], name="crosssell_conversion_unique"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.order} after {self.impression}"
