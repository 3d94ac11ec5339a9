from __future__ import annotations

from decimal import Decimal

from django.db import models

from ..events import ItemKind
from .base import StoreScopedQuerySet, currency_field, money_field
from .store import Store


class ItemQuerySet(StoreScopedQuerySet["Item"]):
    def available(self) -> ItemQuerySet:
        return self.filter(available=True)


class Item(models.Model):
    """Something the store sells: a film, an episode, a course, a module, a T-shirt..."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255, help_text="The item's id on its platform.")
    kind = models.CharField(max_length=20, choices=[(k.value, k.value.title()) for k in ItemKind])
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    url = models.CharField(max_length=2000, blank=True)
    image_url = models.CharField(max_length=2000, blank=True)
    price = money_field()
    currency = currency_field()
    unit_cost = money_field(null=True, blank=True, help_text="What one sale costs the store, if known.")
    margin_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Margin as a fraction of price, if no cost.",
    )
    genres = models.JSONField(default=list, blank=True)
    people = models.JSONField(
        default=dict,
        blank=True,
        help_text='Role -> names, e.g. {"director": ["Agnès Varda"]}.',
    )
    tags = models.JSONField(default=list, blank=True)
    runtime_minutes = models.PositiveIntegerField(null=True, blank=True)
    level = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=35, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The series of an episode, the course of a module.",
    )
    position = models.PositiveIntegerField(null=True, blank=True, help_text="Order within the parent (module 1, 2...).")
    available = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="Other platform attributes.")
    raw = models.JSONField(default=dict, blank=True, help_text="The platform's payload, as received.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="crosssell_item_unique")]
        indexes = [
            models.Index(fields=["store", "kind", "available"], name="crosssell_item_kind"),
            # the few unavailable items, read on every recommendation call
            models.Index(fields=["store"], condition=models.Q(available=False), name="crosssell_item_unavailable"),
        ]
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def unit_margin(self) -> Decimal | None:
        """Money the store keeps on one sale, from the unit cost or the margin rate."""
        if self.unit_cost is not None:
            return self.price - self.unit_cost
        if self.margin_rate is not None:
            return self.price * self.margin_rate
        return None
