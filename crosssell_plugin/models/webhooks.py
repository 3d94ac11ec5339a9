from __future__ import annotations

from django.db import models

from .base import StoreScopedQuerySet
from .store import Store


class WebhookDelivery(models.Model):
    """One webhook request a platform sent, stored once (per platform and delivery id) as received.

    The webhook view writes it and answers; ``crosssell.process_delivery`` turns it into events.
    Status moves pending -> processed | ignored | failed under a row lock, so a task run twice (a
    redelivered Celery message, a replay) records the events once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        #: verified and parsed, but it asked for nothing (an unpaid checkout, say)
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="webhook_deliveries")
    platform = models.CharField(max_length=20)
    topic = models.CharField(max_length=100, help_text="The platform's event type, e.g. checkout.session.completed.")
    delivery_id = models.CharField(max_length=255, help_text="The platform's id of this delivery (its dedupe key).")
    body_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the body as received (hex).")
    body = models.TextField(help_text="The JSON body exactly as received.")
    headers = models.JSONField(default=dict, blank=True, help_text="The request headers processing needs.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Processing attempts so far.")
    events = models.PositiveIntegerField(default=0, help_text="Events recorded from it.")
    error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "delivery_id"], name="crosssell_delivery_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="crosssell_delivery_status"),
            models.Index(fields=["store", "received_at"], name="crosssell_delivery_store"),
        ]
        ordering = ["-received_at"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} {self.delivery_id}"
