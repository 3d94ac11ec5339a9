"""Cross-sell paths: what to send after a purchase, when and how, and the outbox of planned messages.

A :class:`Path` is designed once per store in the admin: a trigger (which purchases start it)
and ordered :class:`Step` rows (a delay after the purchase, a channel, a message template, an
optional offer, conditions). When a purchase is recorded, each enabled path that matches plans
its steps as :class:`ScheduledMessage` rows: the outbox. A dispatcher claims due rows, re-ranks
the recommendations at send time, checks the guards (consent, unsubscribe, frequency cap, quiet
hours, refunds and conversions) and sends through the channel's backend, recording the outcome.

The outbox state machine::

    planned --claim (lease)--> claimed --send ok--> sent
       ^                          |---transient error--> planned (next_attempt_at, backoff)
       |                          |---permanent error / attempts exhausted--> failed
       |                          |---a guard says no--> skipped (skip_reason)
       +--lease expired (worker died)--+
    planned/claimed --refund, conversion, unsubscribe--> cancelled (skip_reason)
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone

from .base import StoreScopedQuerySet, currency_field, money_field
from .customer import Customer
from .order import Order
from .store import Store


class ChannelChoice(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    IN_APP = "in_app", "In-app"
    AUTO = "auto", "Auto (best observed response among consented channels)"


class Path(models.Model):
    """A designed sequence of follow-ups after a matching purchase."""

    class Buyers(models.TextChoices):
        ANY = "any", "Any purchase"
        FIRST = "first", "First purchase only"
        REPEAT = "repeat", "Repeat purchases only"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="paths")
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(
        default=False, help_text="Plans new follow-ups when on; off pauses the path (pending ones wait)."
    )
    # -- the trigger: every condition that is set must hold
    platform = models.CharField(max_length=30, blank=True, help_text="Only purchases on this platform; empty = any.")
    item_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text='Only orders with an item of these kinds, e.g. ["film", "course"]; [] = any.',
    )
    categories = models.JSONField(
        default=list,
        blank=True,
        help_text="Only orders with an item in one of these genres or tags (case-insensitive); [] = any.",
    )
    min_order_value = money_field(null=True, blank=True, help_text="Only orders worth at least this much.")
    min_order_currency = currency_field(blank=True)
    buyers = models.CharField(max_length=10, choices=Buyers.choices, default=Buyers.ANY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "name"], name="crosssell_path_name_unique")]
        ordering = ["store", "name"]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    """One follow-up of a path: after ``delay``, on ``channel``, with ``template``."""

    path = models.ForeignKey(Path, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(help_text="Order within the path, from 1.")
    name = models.CharField(max_length=200)
    delay = models.DurationField(help_text="After the purchase, e.g. 1:00:00 (one hour) or 7 days.")
    channel = models.CharField(max_length=10, choices=ChannelChoice.choices, default=ChannelChoice.EMAIL)
    template = models.CharField(
        max_length=100,
        help_text="Message template name: crosssell/email/<name>.html and .txt, crosssell/sms/<name>.txt.",
    )
    subject = models.CharField(
        max_length=200, blank=True, help_text="Email subject; may use {{ store }}, {{ first_name }}."
    )
    limit = models.PositiveSmallIntegerField(default=3, help_text="How many recommendations the message shows.")
    # -- the optional offer
    offer_code = models.CharField(max_length=100, blank=True)
    offer_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Discount in percent, e.g. 10.00."
    )
    # -- conditions
    skip_if_bought = models.BooleanField(
        default=True, help_text="Leave out recommendations the customer bought since; skip if nothing is left."
    )
    skip_if_refunded = models.BooleanField(default=True, help_text="Skip when the triggering order was refunded.")
    cancel_on_conversion = models.BooleanField(
        default=False, help_text="Cancel this step once the customer bought something recommended to them."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["path", "position"], name="crosssell_step_position_unique")]
        ordering = ["path", "position"]

    def __str__(self) -> str:
        return f"{self.path}: {self.position}. {self.name}"


class ScheduledMessage(models.Model):
    """One planned follow-up (the outbox row). Unique per customer + order + step."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        CLAIMED = "claimed", "Being sent"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="scheduled_messages")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="scheduled_messages")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="scheduled_messages")
    path = models.ForeignKey(Path, on_delete=models.CASCADE, related_name="scheduled_messages")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="scheduled_messages")
    #: customer pk : order pk : step pk
    idempotency_key = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=10, choices=ChannelChoice.choices, help_text="As planned (may be auto).")
    sent_channel = models.CharField(max_length=10, blank=True, help_text="The channel it went out on.")
    due_at = models.DateTimeField(help_text="When it may be sent (UTC), after quiet hours.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    #: the recommendations as planned (item pks, scores, reasons); re-ranked at send time
    recommendation_snapshot = models.JSONField(default=list, blank=True)
    variant = models.CharField(
        max_length=50, blank=True, help_text="The experiment arm's copy variant; recorded on its impressions."
    )
    with_offer = models.BooleanField(
        default=True, help_text="Include the step's offer (off for an experiment arm without offers)."
    )
    #: what was sent: item pks, in order
    sent_items = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="After a transient failure.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A claim expires then (worker died).")
    claimed_by = models.CharField(max_length=200, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"], name="crosssell_outbox_due"),
            models.Index(fields=["store", "customer", "status"], name="crosssell_outbox_customer"),
        ]
        ordering = ["due_at", "pk"]

    def __str__(self) -> str:
        return f"{self.step} for {self.customer} ({self.status})"


class InAppMessage(models.Model):
    """A follow-up delivered in the app: served through the API and the ``crosssell_inbox`` tag."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="in_app_messages")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="in_app_messages")
    scheduled = models.OneToOneField(
        ScheduledMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="in_app_message"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    #: the recommendations shown: [{"item": pk, "title": ..., "url": tracked link, "reason": ...}]
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["store", "customer", "created_at"], name="crosssell_inapp_customer")]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title


#: the classic cadence the default path installs (disabled): name, delay, template, subject
DEFAULT_CADENCE = (
    ("Soft upsell", timedelta(hours=1), "soft_upsell", "Picked for you after your order"),
    ("Bundle", timedelta(hours=24), "bundle", "Complete your collection"),
    ("Loyalty nudge", timedelta(days=7), "loyalty", "Something new for you"),
)
