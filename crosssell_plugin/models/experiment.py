"""Experiments: the store's holdout, A/B splits and bandits, and who was assigned to which arm.

Every store has one *holdout* experiment (created with the store's first assignment, on the
layer ``holdout``): its ``holdout`` arm (10 % by default, ``CROSSSELL["HOLDOUT_SHARE"]``) gets no
cross-sell at all, on every surface and follow-up; its ``treatment`` arm gets everything. The
comparison of the two is the plugin's measured uplift.

Other experiments (kind ``split`` or ``bandit``) run on their own *layer*: one running
experiment per layer, each with its own salt, so that assignments on two layers are
independent. Their arms vary what the treated customers get: the recommendation strategy, the
channel of the follow-ups, their cadence (a factor on every step's delay), whether offers are
made, and a copy variant (recorded on impressions and given to message templates).

Assignment is deterministic and sticky: a salted SHA-256 of the customer picks the arm by the
arms' weights (a bandit's current shares), and the first assignment is recorded as an
:class:`Assignment` row that never changes, whatever the weights become later.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .base import StoreScopedQuerySet
from .customer import Customer
from .followup import ChannelChoice
from .order import Order
from .store import Store

#: the layer of a store's holdout experiment
HOLDOUT_LAYER = "holdout"


def new_salt() -> str:
    return secrets.token_hex(16)


class Experiment(models.Model):
    """A split of a store's customers into arms, on one layer."""

    class Kind(models.TextChoices):
        HOLDOUT = "holdout", "Holdout (no cross-sell for a fixed share)"
        SPLIT = "split", "Fixed split (A/B)"
        BANDIT = "bandit", "Bandit (Thompson sampling)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Metric(models.TextChoices):
        CONVERSION = "conversion", "Conversion (bought something recommended)"
        REVENUE = "revenue", "Revenue per customer"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SPLIT)
    layer = models.CharField(
        max_length=50,
        default="default",
        help_text="Experiments on different layers assign customers independently; one running experiment "
        "per layer. The store's holdout has the layer 'holdout'.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    salt = models.CharField(max_length=64, default=new_salt, editable=False)
    metric = models.CharField(
        max_length=12,
        choices=Metric.choices,
        default=Metric.CONVERSION,
        help_text="What a bandit maximises.",
    )
    exploration_floor = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.5"))],
        help_text="A bandit never gives an arm less than this share of new customers.",
    )
    window_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Orders within this many days after a customer's assignment count for the arm.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="crosssell_experiment_name_unique"),
            models.UniqueConstraint(
                fields=["store", "layer"],
                condition=Q(status="running"),
                name="crosssell_experiment_running_layer",
            ),
        ]
        ordering = ["store", "layer", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.HOLDOUT and self.layer != HOLDOUT_LAYER:
            raise ValidationError({"layer": f"A holdout runs on the layer '{HOLDOUT_LAYER}'."})
        if self.kind != self.Kind.HOLDOUT and self.layer == HOLDOUT_LAYER:
            raise ValidationError({"layer": f"The layer '{HOLDOUT_LAYER}' is the store's holdout's."})
        if self.status == self.Status.RUNNING and self.store_id is not None:
            clash = (
                Experiment.objects.for_store(self.store_id)
                .filter(layer=self.layer, status=self.Status.RUNNING)
                .exclude(pk=self.pk)
                .first()
            )
            if clash is not None:
                raise ValidationError(
                    {"status": f"'{clash.name}' is already running on the layer '{self.layer}': stop it first."}
                )

    def save(self, *args: object, **kwargs: object) -> None:
        if self.status == self.Status.RUNNING and self.started_at is None:
            self.started_at = timezone.now()
        if self.status == self.Status.STOPPED and self.stopped_at is None:
            self.stopped_at = timezone.now()
        super().save(*args, **kwargs)


class Arm(models.Model):
    """One variant of an experiment: what its customers get."""

    class Strategy(models.TextChoices):
        MODEL = "model", "The store's model (recommended, explained)"
        POPULAR = "popular", "Most popular items only"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=50)
    weight = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Relative share of new customers (a split; a bandit's starting share).",
    )
    holdout = models.BooleanField(
        default=False,
        help_text="Customers of this arm get no cross-sell at all: no block, no message, no offer. "
        "A bandit never changes its share.",
    )
    strategy = models.CharField(max_length=10, choices=Strategy.choices, default=Strategy.MODEL)
    channel = models.CharField(
        max_length=10,
        choices=ChannelChoice.choices,
        blank=True,
        help_text="Send every follow-up on this channel; empty = each step's own.",
    )
    delay_scale = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
        help_text="Multiplies every step's delay: 0.5 follows up twice as early, 2 twice as late.",
    )
    offers = models.BooleanField(default=True, help_text="Include the steps' offers; off = the same messages without.")
    copy_variant = models.CharField(
        max_length=50,
        blank=True,
        help_text="Given to message templates (as 'variant') and recorded on impressions; empty = the arm's name.",
    )
    share = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        editable=False,
        help_text="A bandit's current share of new customers, from its posteriors; empty = by weight.",
    )
    share_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="crosssell_arm_name_unique")]
        ordering = ["experiment", "pk"]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.name}"

    @property
    def variant(self) -> str:
        """What impressions and templates call this arm."""
        return self.copy_variant or self.name


class Assignment(models.Model):
    """A customer's arm in an experiment, recorded at the first assignment and never changed."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="assignments")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="assignments")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="assignments")
    trigger_order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assignments",
        help_text="The purchase at which the customer was assigned; its window starts there.",
    )
    assigned_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "customer"], name="crosssell_assignment_unique"),
        ]
        indexes = [models.Index(fields=["store", "arm", "assigned_at"], name="crosssell_assignment_arm")]
        ordering = ["-assigned_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.customer} in {self.arm}"
