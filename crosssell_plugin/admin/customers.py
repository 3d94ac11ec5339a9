"""The admin of customers: consent filter, consents inline, and the customer's timeline.

The timeline, on a customer's page, lists in time order what crosssell recorded for them: their
orders (totals, refunds), the recommendations shown to them and clicked, their follow-up messages
(planned, sent, skipped), the purchases attributed to a recommendation, and their experiment
assignments. It shows the ``TIMELINE_LIMIT`` most recent events, in a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from ..models import (
    Assignment,
    Click,
    Conversion,
    Customer,
    CustomerConsent,
    Impression,
    Order,
    Refund,
    ScheduledMessage,
)
from ..money import format_price

#: how many of a customer's most recent events the timeline shows
TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to a customer: when, what (a short label), the details, a link."""

    at: datetime
    kind: str
    label: str
    details: str
    url: str = ""
    #: orders events of the same instant: an order before what it caused (an assignment, a refund...)
    rank: int = 0
    pk: int = 0


@dataclass(frozen=True)
class Timeline:
    """A customer's most recent events (oldest first), whether older ones were left out, and
    their arms in the store's experiments."""

    events: list[TimelineEvent]
    truncated: bool
    limit: int
    assignments: list[Assignment]


def _admin_url(obj: Any) -> str:
    return reverse(f"admin:crosssell_{obj._meta.model_name}_change", args=[obj.pk])


def _order_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    orders = Order.objects.for_store(customer.store_id).filter(customer=customer).order_by("-placed_at", "-pk")
    events = []
    for order in orders[: limit + 1]:
        details = f"Total {format_price(order.total, order.currency)}"
        if order.refunded_total:
            details += f", refunded {format_price(order.refunded_total, order.currency)}"
        details += f" ({order.get_status_display().lower()})"
        label = f"Order #{order.external_id}"
        events.append(TimelineEvent(order.placed_at, "order", label, details, _admin_url(order), 0, order.pk))
    return events


def _refund_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    refunds = (
        Refund.objects.for_store(customer.store_id)
        .filter(order__customer=customer)
        .select_related("order")
        .order_by("-occurred_at", "-pk")
    )
    return [
        TimelineEvent(
            refund.occurred_at,
            "refund",
            f"Refund on order #{refund.order.external_id}",
            format_price(refund.amount, refund.currency) + (f": {refund.reason}" if refund.reason else ""),
            _admin_url(refund),
            2,
            refund.pk,
        )
        for refund in refunds[: limit + 1]
    ]


def _impression_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    shown = (
        Impression.objects.for_store(customer.store_id)
        .filter(customer=customer)
        .select_related("item", "message__step")
        .order_by("-created_at", "-pk")
    )
    events = []
    for impression in shown[: limit + 1]:
        details = f"{impression.item.title} at {impression.placement} (#{impression.rank})"
        if impression.variant:
            details += f", variant {impression.variant}"
        if impression.message is not None:
            details += f", in the follow-up “{impression.message.step.name}”"
        events.append(
            TimelineEvent(
                impression.created_at, "impression", "Shown", details, _admin_url(impression), 4, impression.pk
            )
        )
    return events


def _click_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    clicks = (
        Click.objects.for_store(customer.store_id)
        .filter(impression__customer=customer)
        .select_related("impression__item")
        .order_by("-created_at", "-pk")
    )
    return [
        TimelineEvent(
            click.created_at,
            "click",
            "Clicked",
            f"{click.impression.item.title} at {click.impression.placement}",
            _admin_url(click),
            5,
            click.pk,
        )
        for click in clicks[: limit + 1]
    ]


def _message_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    rows = (
        ScheduledMessage.objects.for_store(customer.store_id)
        .filter(customer=customer)
        .select_related("step", "path")
        .order_by("-due_at", "-pk")
    )
    events = []
    for message in rows[: limit + 1]:
        channel = message.sent_channel or message.channel
        details = f"Step {message.step.position} “{message.step.name}” of “{message.path.name}”"
        details += f", {channel}, {message.get_status_display().lower()}, due {message.due_at:%Y-%m-%d %H:%M} UTC"
        if message.sent_at:
            details += f", sent {message.sent_at:%Y-%m-%d %H:%M} UTC"
        if message.skip_reason:
            details += f": {message.skip_reason}"
        elif message.last_error:
            details += f": {message.last_error[:200]}"
        at = message.sent_at or message.due_at
        events.append(TimelineEvent(at, "message", "Follow-up", details, _admin_url(message), 3, message.pk))
    return events


def _conversion_events(customer: Customer, limit: int) -> list[TimelineEvent]:
    conversions = (
        Conversion.objects.for_store(customer.store_id)
        .filter(order__customer=customer)
        .select_related("item", "order", "impression")
        .order_by("-created_at", "-pk")
    )
    events = []
    for conversion in conversions[: limit + 1]:
        amount = format_price(conversion.amount, conversion.currency or conversion.order.currency)
        details = (
            f"{conversion.item.title} for {amount} in order #{conversion.order.external_id} "
            f"(shown at {conversion.impression.placement})"
        )
        url = _admin_url(conversion)
        label = "Bought a recommendation"
        events.append(TimelineEvent(conversion.created_at, "conversion", label, details, url, 6, conversion.pk))
    return events


def customer_timeline(customer: Customer, limit: int = TIMELINE_LIMIT) -> Timeline:
    """The ``limit`` most recent events of ``customer`` (oldest first), from their store only, in
    one query per kind of event and one for their experiment assignments."""
    assignments = list(
        Assignment.objects.for_store(customer.store_id)
        .filter(customer=customer)
        .select_related("experiment", "arm", "trigger_order")
        .order_by("-assigned_at", "-pk")
    )
    events = [
        TimelineEvent(
            a.assigned_at,
            "assignment",
            "Assigned",
            f"Arm “{a.arm.name}” of the experiment “{a.experiment.name}”"
            + (" (no cross-sell)" if a.arm.holdout else ""),
            _admin_url(a),
            1,  # assigned at the purchase: after it
            a.pk,
        )
        for a in assignments[: limit + 1]
    ]
    for source in (
        _order_events,
        _refund_events,
        _impression_events,
        _click_events,
        _message_events,
        _conversion_events,
    ):
        events += source(customer, limit)
    events.sort(key=lambda e: (e.at, e.rank, e.pk), reverse=True)
    return Timeline(
        events=events[:limit][::-1],
        truncated=len(events) > limit,
        limit=limit,
        assignments=assignments,
    )


class CustomerConsentInline(admin.TabularInline):
    model = CustomerConsent
    extra = 0
    fields = ["channel", "granted", "source", "recorded_at"]


class ConsentListFilter(admin.SimpleListFilter):
    title = "marketing consent"
    parameter_name = "consent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(c, f"Granted: {c}") for c, _ in CustomerConsent._meta.get_field("channel").choices] + [
            ("none", "No marketing consent")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        if self.value() == "none":
            return queryset.exclude(consents__granted=True)
        if self.value():
            return queryset.filter(consents__channel=self.value(), consents__granted=True)
        return queryset


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "store",
        "first_name",
        "last_name",
        "country",
        "locale",
        "order_count",
        "unsubscribed_at",
    ]
    list_filter = [
        "store",
        ConsentListFilter,
        "country",
        ("unsubscribed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["email", "first_name", "last_name", "external_id", "phone"]
    readonly_fields = ["created_at", "updated_at", "followup_timeline"]
    inlines = [CustomerConsentInline]
    list_select_related = ["store"]
    change_form_template = "admin/crosssell/customer/change_form.html"

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The customer's page, with their timeline below the form."""
        customer = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if customer is not None:
            context["timeline"] = customer_timeline(customer)
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="Follow-ups")
    def followup_timeline(self, obj: Customer) -> str:
        """A link to the customer's timeline: every follow-up planned, sent, skipped or failed."""
        if obj.pk is None:
            return "-"
        url = reverse("admin:crosssell_scheduledmessage_changelist") + f"?customer__id__exact={obj.pk}"
        count = ScheduledMessage.objects.for_store(obj.store_id).filter(customer=obj).count()
        return format_html('<a href="{}">Timeline ({} follow-up{})</a>', url, count, "" if count == 1 else "s")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).annotate(order_count=Count("orders"))

    @admin.display(description="Orders", ordering="order_count")
    def order_count(self, obj: Customer) -> int:
        return obj.order_count  # type: ignore[attr-defined]
