"""Daily rollups: what the dashboard, the API and the bandits read, kept by ``crosssell_rollup``.

The raw rows (orders, refunds, assignments, impressions, clicks, conversions, outbox rows) are
summed once a day per store into small tables, so that a dashboard over a million orders reads a
few hundred rows. Every rollup row belongs to a store and a UTC day; a rollup run recomputes the
days that can still change (a cohort's window still open, a refund still possible) and leaves
closed days as they are.

- :class:`ArmDay` - one arm's *cohort* of one day: the customers assigned to the arm that day
  (whose trigger order was in ``currency``) and what they did within the experiment's window.
  Revenue per customer, cross-sell rate and AOV of treatment vs holdout come from these, with
  the sums of squares a Welch interval needs.
- :class:`StepDay` - one follow-up step's messages planned for orders of one day: the funnel
  planned -> sent -> clicked -> converted.
- :class:`PlacementDay` - one placement's impressions of one day (thank_you, email, ...) and
  the clicks, conversions and attributed revenue they led to.
- :class:`PairStat` - the top recommended pairs (an item bought -> an item recommended) over
  the trailing ``ROLLUP_PAIR_DAYS``, rebuilt on every run.

Amounts never mix currencies: ``ArmDay`` rows are per currency; the revenue of the other tables
is a mapping ``{"EUR": "12.5000", ...}``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from .base import StoreScopedQuerySet, currency_field, money_field
from .catalog import Item
from .experiment import Arm, Experiment
from .followup import Path, Step
from .store import Store


class ArmDay(models.Model):
    """The customers assigned to one arm on one day (by their trigger order's currency) and
    their outcomes within the experiment's window, net of refunds."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="arm_days")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="days")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="days")
    day = models.DateField(help_text="The UTC day the customers were assigned (their cohort).")
    currency = currency_field()
    customers = models.PositiveIntegerField(default=0, help_text="Customers assigned that day.")
    converted = models.PositiveIntegerField(
        default=0, help_text="Of them, those who ordered again within the window (the cross-sell rate's numerator)."
    )
    exposed = models.PositiveIntegerField(default=0, help_text="Of them, those shown at least one recommendation.")
    attributed = models.PositiveIntegerField(
        default=0, help_text="Of them, those who bought an item recommended to them (a Conversion)."
    )
    orders = models.PositiveIntegerField(default=0, help_text="Their further orders within the window.")
    revenue = money_field(default=Decimal(0), help_text="Those orders' totals, net of refunds, in the currency.")
    revenue_squares = models.FloatField(
        default=0.0, help_text="Sum over the customers of (their net revenue) squared: for the interval."
    )
    order_value_squares = models.FloatField(
        default=0.0, help_text="Sum over the orders of (net order value) squared: for the AOV interval."
    )
    attributed_revenue = money_field(default=Decimal(0), help_text="What their conversions paid, in the currency.")
    refunded = money_field(default=Decimal(0), help_text="Refunded on those orders (already taken off revenue).")
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    complete = models.BooleanField(
        default=False, help_text="The window of every customer of the day has closed: final figures."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["arm", "day", "currency"], name="crosssell_armday_unique"),
        ]
        indexes = [models.Index(fields=["store", "experiment", "day"], name="crosssell_armday_store")]
        ordering = ["store", "experiment", "arm", "day", "currency"]

    def __str__(self) -> str:
        return f"{self.arm} on {self.day} ({self.currency})"


class StepDay(models.Model):
    """One step's messages planned for the orders of one day: the follow-up funnel."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="step_days")
    path = models.ForeignKey(Path, on_delete=models.CASCADE, related_name="days")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="days")
    day = models.DateField(help_text="The UTC day of the triggering orders.")
    planned = models.PositiveIntegerField(default=0, help_text="Messages planned (every status).")
    sent = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="A guard said no (consent, cap, refund...).")
    cancelled = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0, help_text="Still planned or being sent.")
    clicked = models.PositiveIntegerField(default=0, help_text="Sent messages with at least one click.")
    converted = models.PositiveIntegerField(default=0, help_text="Sent messages with at least one conversion.")
    revenue = models.JSONField(default=dict, blank=True, help_text='Attributed revenue per currency, {"EUR": "9.90"}.')
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "day"], name="crosssell_stepday_unique")]
        indexes = [models.Index(fields=["store", "day"], name="crosssell_stepday_store")]
        ordering = ["store", "path", "step", "day"]

    def __str__(self) -> str:
        return f"{self.step} on {self.day}"


class PlacementDay(models.Model):
    """One placement's recommendations shown on one day and what they led to."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="placement_days")
    day = models.DateField(help_text="The UTC day of the impressions.")
    placement = models.CharField(max_length=50)
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)
    revenue = models.JSONField(default=dict, blank=True, help_text='Attributed revenue per currency, {"EUR": "9.90"}.')
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "day", "placement"], name="crosssell_placementday_unique")
        ]
        ordering = ["store", "day", "placement"]

    def __str__(self) -> str:
        return f"{self.placement} on {self.day}"


class PairStat(models.Model):
    """An item bought -> an item recommended after it, over the trailing ``ROLLUP_PAIR_DAYS``."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="pair_stats")
    source = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="+", help_text="The triggering order's main item."
    )
    target = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+", help_text="The recommended item.")
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)
    revenue = models.JSONField(default=dict, blank=True, help_text='Attributed revenue per currency, {"EUR": "9.90"}.')
    since = models.DateField(help_text="The first day counted.")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "source", "target"], name="crosssell_pairstat_unique")]
        indexes = [models.Index(fields=["store", "-conversions", "-clicks"], name="crosssell_pairstat_top")]
        ordering = ["store", "-conversions", "-clicks", "-impressions"]

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class RollupRun(models.Model):
    """One run of the rollup for one store: what it covered and when (the dashboard's "as of")."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="rollup_runs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    first_day = models.DateField(null=True, blank=True)
    last_day = models.DateField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0, help_text="Rollup rows written.")
    error = models.TextField(blank=True)

    objects = StoreScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["store", "-started_at"], name="crosssell_rolluprun_store")]
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Rollup of {self.store} at {self.started_at:%Y-%m-%d %H:%M}"
