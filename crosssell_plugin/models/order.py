from __future__ import annotations

from decimal import Decimal

from django.db import models

from .base import StoreScopedQuerySet, currency_field, money_field
from .catalog import Item
from .customer import Customer
from .store import Store


class Order(models.Model):
    """A completed purchase, recorded once per (store, platform order id)."""

    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="orders")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255, help_text="The platform's order id or number.")
    account_id = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The account of this site that placed the order (its user id); blank for a guest or a remote "
        "platform's customer. That signed-in account may see the order on the site's pages.",
    )
    placed_at = models.DateTimeField(db_index=True)
    currency = currency_field()
    total = money_field()
    refunded_total = money_field(default=Decimal(0))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACED)
    #: hash of the lines as last delivered; a delivery with other lines rewrites them.
    lines_fingerprint = models.CharField(max_length=64, editable=False)
    source_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the platform last changed the order (older deliveries are ignored).",
    )
    revision = models.PositiveIntegerField(default=1, help_text="Bumped each time a delivery changed the lines.")
    raw = models.JSONField(default=dict, blank=True, help_text="The platform's payload, as received.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="crosssell_order_unique")]
        indexes = [
            models.Index(
                fields=["store", "customer", "placed_at"],
                name="crosssell_order_customer",
            )
        ]
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"Order {self.external_id}"


class OrderLineQuerySet(StoreScopedQuerySet["OrderLine"]):
    store_path = "order__store"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    unit_price = money_field()

    objects = OrderLineQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "position"], name="crosssell_orderline_unique")]
        ordering = ["order", "position"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.item}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class Refund(models.Model):
    """Money returned on an order, recorded once per platform refund id."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="refunds")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    external_id = models.CharField(max_length=255)
    amount = money_field()
    currency = currency_field()
    occurred_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="crosssell_refund_unique")]
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"Refund {self.external_id} of {self.amount} {self.currency}"


class Consumption(models.Model):
    """How far a customer got through a film, episode, course or module (0 to 1)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="consumptions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consumptions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="consumptions")
    progress = models.DecimalField(max_digits=5, decimal_places=4, help_text="Furthest progress seen, 0 to 1.")
    seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Time watched or studied, if reported.")
    completed_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField()
    events = models.PositiveIntegerField(default=0, help_text="Progress reports received.")
    raw = models.JSONField(default=dict, blank=True, help_text="The latest payload, as received.")

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "item"], name="crosssell_consumption_unique")]
        ordering = ["-last_event_at"]

    def __str__(self) -> str:
        return f"{self.customer} - {self.item}: {self.progress:.0%}"
