from __future__ import annotations

from django.db import models

from ..events import Channel
from .base import StoreScopedQuerySet
from .store import Store, validate_timezone


class Customer(models.Model):
    """A buyer within one store, identified by email (lower-cased)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="customers")
    email = models.EmailField(max_length=254)
    external_id = models.CharField(max_length=255, blank=True, help_text="The platform's customer id, if any.")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    locale = models.CharField(max_length=35, blank=True, help_text="BCP 47 tag such as fr-FR.")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2.")
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    phone = models.CharField(max_length=32, blank=True)
    unsubscribed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the customer opted out of all cross-sell messages.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "email"], name="crosssell_customer_email_unique"),
        ]
        indexes = [models.Index(fields=["store", "external_id"], name="crosssell_customer_extid")]
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def has_marketing_consent(self, channel: str) -> bool:
        """True when the customer has granted (and not withdrawn) marketing on ``channel``."""
        if self.unsubscribed_at is not None:
            return False
        return self.consents.filter(channel=channel, granted=True).exists()


class CustomerConsent(models.Model):
    """The current marketing consent of a customer on one channel, with when and how it was given."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(
        max_length=10,
        choices=[(c.value, c.name.replace("_", "-").lower()) for c in Channel],
    )
    granted = models.BooleanField()
    source = models.CharField(
        max_length=100,
        help_text="Where it was collected: checkout checkbox, import, ...",
    )
    recorded_at = models.DateTimeField(help_text="When the customer gave or withdrew consent (UTC).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="crosssell_consent_unique"),
        ]
        verbose_name = "marketing consent"

    def __str__(self) -> str:
        return f"{self.channel}: {'granted' if self.granted else 'withdrawn'}"
