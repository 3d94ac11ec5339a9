"""The trained recommendation models of a store and the pair counts recorded since.

A :class:`ModelVersion` row describes one training run; its fitted model lives in Django's
``default_storage`` as one self-checking blob (``crosssell/models/<store pk>/<version>.model``).
The Item pks in the model's index order are kept *inside* the artifact (its metadata), so the
index can never drift from the matrices it describes, and the row's ``sha256`` covers both.

:class:`PairCount` holds co-purchase counts from orders placed after the active model's
``trained_until``; :class:`PairCountedOrder` marks the orders already counted (idempotency).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .base import StoreScopedQuerySet
from .catalog import Item
from .order import Order
from .store import Store


class ModelVersion(models.Model):
    """One training run of a store's recommender. At most one version per store is active."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField(help_text="1, 2, 3... within the store.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    trained_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Time of the newest order or progress report the model learned from.",
    )
    artifact_path = models.CharField(
        max_length=500, blank=True, help_text="Name of the fitted model in Django's default storage."
    )
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the artifact's bytes.")
    size = models.PositiveBigIntegerField(default=0, help_text="Artifact size in bytes.")
    n_items = models.PositiveIntegerField(default=0, help_text="Items in the model's index.")
    n_customers = models.PositiveIntegerField(default=0)
    n_interactions = models.PositiveIntegerField(default=0, help_text="Order lines and progress reports used.")
    metrics = models.JSONField(default=dict, blank=True, help_text="The tuning report (hold-out recall per task).")
    fit_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the version was rejected or retired early.")

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "version"], name="crosssell_modelversion_unique"),
            models.UniqueConstraint(
                fields=["store"],
                condition=Q(status="active"),
                name="crosssell_modelversion_one_active",
            ),
        ]
        indexes = [models.Index(fields=["store", "status"], name="crosssell_modelversion_status")]
        ordering = ["store", "-version"]
        verbose_name = "model version"

    def __str__(self) -> str:
        return f"Model v{self.version} ({self.status})"


class PairCount(models.Model):
    """How many orders placed after the active model's ``trained_until`` paired two items.

    ``together``: both items in one order (both directions are stored). ``next``: ``item_a`` was
    in one of the customer's 5 previous orders and ``item_b`` in this one.
    """

    class Kind(models.TextChoices):
        TOGETHER = "together", "Bought together"
        NEXT = "next", "Bought next"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="pair_counts")
    item_a = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    item_b = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "item_a", "item_b", "kind"], name="crosssell_paircount_unique"),
        ]
        verbose_name = "pair count"

    def __str__(self) -> str:
        return f"{self.item_a_id} -> {self.item_b_id} ({self.kind}): {self.count}"


class PairCountedOrder(models.Model):
    """An order whose pairs are in :class:`PairCount` (so counting it again does nothing)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="+")
    counted_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "pair-counted order"

    def __str__(self) -> str:
        return f"Order {self.order_id} counted"
