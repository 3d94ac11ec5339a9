"""The admin a store owner uses to see what crosssell recorded.

Orders, lines, refunds and consumption come from the platforms, so they are read-only here;
the raw payloads are shown as formatted JSON for support and audits.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from .admin_forms import StoreForm
from .models import (
    ApiKey,
    Click,
    Consumption,
    Conversion,
    Customer,
    CustomerConsent,
    Impression,
    Item,
    ModelVersion,
    Order,
    OrderLine,
    PairCount,
    Path,
    Refund,
    ScheduledMessage,
    Step,
    Store,
)
from .money import format_amount


def _pretty_json(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>',
        text,
    )


class RawPayloadMixin:
    @admin.display(description="Raw payload")
    def raw_payload(self, obj: Any) -> str:
        return _pretty_json(obj.raw)


class ReadOnlyMixin:
    """Rows that only the platform writes: viewable, not editable or addable by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "platform",
        "external_id",
        "currency",
        "timezone",
        "is_active",
        "order_count",
    ]
    list_filter = ["platform", "is_active", "currency"]
    search_fields = ["name", "external_id"]
    readonly_fields = ["created_at", "updated_at"]
    form = StoreForm
    fieldsets = [
        (None, {"fields": ["platform", "external_id", "name", "currency", "timezone", "is_active"]}),
        (
            "Recommendation rules",
            {
                "fields": StoreForm.rule_fields(),
                "description": "How this store's recommendation lists are ordered. Rules reorder a list and "
                "never shorten it: only what the customer owns, what is unavailable and what is excluded "
                "here is left out, and a list is filled with other items when the store has them.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        return super().get_queryset(request).annotate(order_count=Count("orders"))

    @admin.display(description="Orders", ordering="order_count")
    def order_count(self, obj: Store) -> int:
        return obj.order_count  # type: ignore[attr-defined]


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


@admin.register(Item)
class ItemAdmin(RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "store",
        "price_display",
        "margin_display",
        "available",
        "external_id",
    ]
    list_filter = ["store", "kind", "available", "level", "language"]
    search_fields = ["title", "external_id", "description"]
    readonly_fields = ["raw_payload", "created_at", "updated_at"]
    exclude = ["raw"]
    raw_id_fields = ["parent"]
    list_select_related = ["store"]

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj: Item) -> str:
        return format_amount(obj.price, obj.currency)

    @admin.display(description="Unit margin")
    def margin_display(self, obj: Item) -> str:
        margin = obj.unit_margin
        return "-" if margin is None else format_amount(margin, obj.currency)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["position", "item", "quantity", "unit_price"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["external_id", "amount", "currency", "occurred_at", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "store",
        "customer",
        "placed_at",
        "total_display",
        "status",
        "revision",
    ]
    list_filter = [
        "store",
        "status",
        "currency",
        ("placed_at", admin.DateFieldListFilter),
    ]
    search_fields = ["external_id", "customer__email", "lines__item__title"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline, RefundInline]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["store", "customer"]
    show_full_result_count = False

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj: Order) -> str:
        return format_amount(obj.total, obj.currency)


@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "order",
        "amount",
        "currency",
        "occurred_at",
        "store",
    ]
    list_filter = ["store", "currency"]
    search_fields = ["external_id", "order__external_id", "reason"]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["order", "store"]


@admin.register(Consumption)
class ConsumptionAdmin(ReadOnlyMixin, RawPayloadMixin, admin.ModelAdmin):
    list_display = [
        "customer",
        "item",
        "progress_display",
        "completed_at",
        "last_event_at",
        "events",
        "store",
    ]
    list_filter = ["store", ("completed_at", admin.EmptyFieldListFilter), "item__kind"]
    search_fields = ["customer__email", "item__title"]
    exclude = ["raw"]
    readonly_fields = ["raw_payload"]
    list_select_related = ["customer", "item", "store"]

    @admin.display(description="Progress", ordering="progress")
    def progress_display(self, obj: Consumption) -> str:
        return f"{obj.progress:.0%}"


class FullyReadOnlyMixin(ReadOnlyMixin):
    """Rows only the recommender writes (training runs, pair counts): viewable, never edited or deleted."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "version",
        "store",
        "status",
        "created_at",
        "trained_until",
        "n_items",
        "n_interactions",
        "fit_seconds_display",
        "size_display",
    ]
    list_filter = ["store", "status"]
    search_fields = ["sha256", "artifact_path", "error"]
    date_hierarchy = "created_at"
    exclude = ["metrics"]
    readonly_fields = ["metrics_display"]
    list_select_related = ["store"]

    @admin.display(description="Fit", ordering="fit_seconds")
    def fit_seconds_display(self, obj: ModelVersion) -> str:
        return "-" if obj.fit_seconds is None else f"{obj.fit_seconds:.1f} s"

    @admin.display(description="Size", ordering="size")
    def size_display(self, obj: ModelVersion) -> str:
        return f"{obj.size / 1_048_576:.2f} MiB" if obj.size >= 1_048_576 else f"{obj.size / 1024:.1f} KiB"

    @admin.display(description="Metrics (tuning report)")
    def metrics_display(self, obj: ModelVersion) -> str:
        return _pretty_json(obj.metrics)


@admin.register(Impression)
class ImpressionAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    """What was shown where, to whom, with which reasons; with its clicks and conversions."""

    list_display = [
        "created_at",
        "item",
        "placement",
        "variant",
        "rank",
        "score_display",
        "order",
        "customer",
        "clicks_count",
        "conversions_count",
        "store",
    ]
    list_filter = ["store", "placement", "variant", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["item__title", "customer__email", "order__external_id", "=key"]
    date_hierarchy = "created_at"
    list_select_related = ["item", "order", "customer", "store"]
    raw_id_fields = ["order", "customer", "item", "model_version"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Impression]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_clicks=Count("clicks", distinct=True), n_conversions=Count("conversions", distinct=True))
        )

    @admin.display(description="Score", ordering="score")
    def score_display(self, obj: Impression) -> str:
        return f"{obj.score:.3f}"

    @admin.display(description="Clicks", ordering="n_clicks")
    def clicks_count(self, obj: Impression) -> int:
        return obj.n_clicks  # type: ignore[attr-defined]

    @admin.display(description="Conversions", ordering="n_conversions")
    def conversions_count(self, obj: Impression) -> int:
        return obj.n_conversions  # type: ignore[attr-defined]


class ImpressionFactsMixin:
    """Columns of the impression a click or a conversion hangs off."""

    @admin.display(description="Placement", ordering="impression__placement")
    def placement(self, obj: Click | Conversion) -> str:
        return obj.impression.placement

    @admin.display(description="Store", ordering="impression__store")
    def store(self, obj: Click | Conversion) -> Store:
        return obj.impression.store


@admin.register(Click)
class ClickAdmin(ImpressionFactsMixin, FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "impression", "placement", "store"]
    list_filter = ["impression__store", "impression__placement", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["impression__item__title", "impression__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["impression__item", "impression__store"]
    raw_id_fields = ["impression"]
    show_full_result_count = False


@admin.register(Conversion)
class ConversionAdmin(ImpressionFactsMixin, FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "item", "order", "placement", "shown_at", "store"]
    list_filter = ["impression__store", "impression__placement", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["item__title", "order__external_id", "order__customer__email"]
    date_hierarchy = "created_at"
    list_select_related = ["item", "order", "impression__store"]
    raw_id_fields = ["impression", "order", "item"]
    show_full_result_count = False

    @admin.display(description="Shown on", ordering="impression__created_at")
    def shown_at(self, obj: Conversion) -> Any:
        return obj.impression.created_at


@admin.register(PairCount)
class PairCountAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = ["item_a", "item_b", "kind", "count", "store", "updated_at"]
    list_filter = ["store", "kind"]
    search_fields = ["item_a__title", "item_b__title"]
    list_select_related = ["store", "item_a", "item_b"]
    raw_id_fields = ["item_a", "item_b"]
    ordering = ["-count", "item_a", "item_b"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys of the REST API. A new key is shown once, in a message, right after it is created."""

    list_display = ["name", "store", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    fields = ["store", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [*self.readonly_fields, "store"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key is not None:
            self.message_user(
                request,
                f"The new API key is {key} - copy it now: it is not stored and will not be shown again.",
                messages.WARNING,
            )

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} API key(s) revoked.", messages.SUCCESS)


# --- follow-up paths ----------------------------------------------------------------------------


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    readonly_fields = ["email_preview"]
    fields = [
        "position",
        "name",
        "delay",
        "channel",
        "template",
        "subject",
        "limit",
        "offer_code",
        "offer_percent",
        "skip_if_bought",
        "skip_if_refunded",
        "cancel_on_conversion",
        "email_preview",
    ]
    ordering = ["position"]

    @admin.display(description="Preview")
    def email_preview(self, obj: Step) -> str:
        if obj.pk is None:
            return "-"
        return format_html('<a href="{}">Email preview</a>', reverse("admin:crosssell_step_preview", args=[obj.pk]))


@admin.register(Path)
class PathAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "enabled", "platform", "buyers", "step_count", "updated_at"]
    list_filter = ["enabled", "store", "buyers", "platform"]
    search_fields = ["name"]
    inlines = [StepInline]
    actions = ["pause", "resume"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Path]:
        return super().get_queryset(request).select_related("store").annotate(step_count=Count("steps"))

    @admin.display(description="Steps", ordering="step_count")
    def step_count(self, obj: Path) -> int:
        return obj.step_count  # type: ignore[attr-defined]

    @admin.action(description="Pause the selected paths (nothing planned or sent until resumed)")
    def pause(self, request: HttpRequest, queryset: QuerySet[Path]) -> None:
        count = queryset.update(enabled=False, updated_at=timezone.now())
        self.message_user(request, f"Paused {count} path(s). Their pending follow-ups wait until the path is resumed.")

    @admin.action(description="Resume the selected paths")
    def resume(self, request: HttpRequest, queryset: QuerySet[Path]) -> None:
        count = queryset.update(enabled=True, updated_at=timezone.now())
        self.message_user(request, f"Resumed {count} path(s).", messages.SUCCESS)


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The outbox, read-only: filter by customer for a customer's timeline."""

    list_display = [
        "due_at",
        "customer",
        "step",
        "channel",
        "status",
        "sent_channel",
        "sent_at",
        "attempts",
        "outcome",
    ]
    list_filter = ["status", "channel", "sent_channel", "store", "path"]
    search_fields = ["customer__email", "order__external_id", "idempotency_key", "provider_message_id"]
    list_select_related = ["customer", "step", "step__path"]
    ordering = ["due_at", "pk"]
    date_hierarchy = "due_at"
    readonly_fields = [f.name for f in ScheduledMessage._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Reason or error")
    def outcome(self, obj: ScheduledMessage) -> str:
        return obj.skip_reason or obj.last_error[:200]


#: how many of the store's latest orders the preview offers to pick from
PREVIEW_ORDER_CHOICES = 50


def _preview_srcdoc(html: str) -> str:
    """The email's HTML for the preview iframe, with ``<base target="_blank">`` added to its head.

    The iframe is sandboxed without ``allow-popups``, so with that base a click on a link of the
    preview goes nowhere: the links are the real tracked links of an impression that was never
    saved, and following one would record a click (and an impression) for a message never sent.
    """
    base = '<base target="_blank">'
    html, found = re.subn(r"(<head\b[^>]*>)", lambda m: m.group(1) + base, html, count=1, flags=re.IGNORECASE)
    return html if found else base + html


def build_preview(step: Step, order: Order) -> dict[str, Any]:
    """What the email of ``step`` for ``order`` would be if it went out now, written nowhere.

    The message is an unsaved ScheduledMessage, its recommendations are re-ranked as the dispatcher
    does at send time, and the impressions the email channel plans are never saved. Returns the
    template context of the preview page: ``outgoing`` and ``recommendations``, or ``problem``.
    """
    from .channels import PermanentSendError, get_channel
    from .followups.dispatch import rerank
    from .followups.guards import blocking_reason
    from .followups.planning import idempotency_key

    store, customer = step.path.store, order.customer
    order.store = customer.store = store
    message = ScheduledMessage(
        store=store,
        customer=customer,
        order=order,
        path=step.path,
        step=step,
        idempotency_key=idempotency_key(customer.pk, order.pk, step.pk),
        channel=step.channel,
        due_at=order.placed_at + step.delay,
    )
    notes = []
    reason = blocking_reason(message)
    if reason:
        notes.append(f"Sent now, this follow-up would be skipped: {reason}.")
    elif not customer.has_marketing_consent("email"):
        notes.append("This customer has not consented to marketing email: no email would be sent to them.")
    if step.channel != "email":
        notes.append(f"This step is sent on the {step.get_channel_display()} channel; this is its email version.")
    recommendations = rerank(message, "email")
    if not recommendations:
        return {
            "notes": notes,
            "problem": "Nothing to recommend for this order: everything worth recommending is already bought or "
            "unavailable. At send time this step would be skipped (\u201cnothing left to recommend\u201d).",
        }
    try:
        outgoing = get_channel("email").build(message, recommendations)
    except PermanentSendError as err:
        return {"notes": notes, "problem": f"This email cannot be built, so it would fail at send time: {err}"}
    headers = [("From", settings.DEFAULT_FROM_EMAIL), ("To", outgoing.to), ("Subject", outgoing.subject)]
    headers += list(outgoing.headers.items())
    return {
        "notes": notes,
        "outgoing": outgoing,
        "headers": headers,
        "srcdoc": _preview_srcdoc(outgoing.html),
        "recommendations": recommendations[: step.limit] if step.limit else recommendations,
    }


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    """Steps are edited inline on their path; this admin has one page of its own, the email
    preview (``step/<id>/preview/?order=<order id>``), and is not listed on the admin index.

    Its permissions are those of the path: seeing a path lets one preview its steps.
    """

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:step_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="crosssell_step_preview",
            )
        ]

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {}

    def _path_admin(self) -> admin.ModelAdmin:
        return self.admin_site._registry[Path]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._path_admin().has_view_or_change_permission(request, getattr(obj, "path", None))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._path_admin().has_change_permission(request, getattr(obj, "path", None))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        path_admin, path = self._path_admin(), getattr(obj, "path", None)
        return path_admin.has_change_permission(request, path) or path_admin.has_delete_permission(request, path)

    def preview_view(self, request: HttpRequest, step_id: int) -> HttpResponse:
        """The step's email for one order of the path's store (``?order=<pk>``, else the latest)."""
        step = get_object_or_404(Step.objects.select_related("path", "path__store"), pk=step_id)
        if not self.has_view_permission(request, step):
            raise PermissionDenied
        store = step.path.store
        orders = Order.objects.for_store(store).select_related("customer").order_by("-placed_at", "-pk")
        wanted = request.GET.get("order", "")
        if wanted:
            if not wanted.isdigit():
                raise Http404("No such order.")
            order = get_object_or_404(orders, pk=int(wanted))
        else:
            order = orders.first()
        choices = list(orders[:PREVIEW_ORDER_CHOICES])
        if order is not None and order not in choices:
            choices.insert(0, order)
        context = {
            **self.admin_site.each_context(request),
            "opts": Path._meta,
            "title": f"Email preview: {step.name}",
            "step": step,
            "path": step.path,
            "store": store,
            "order": order,
            "orders": choices,
            "path_url": reverse("admin:crosssell_path_change", args=[step.path_id]),
        }
        if order is not None:
            context.update(build_preview(step, order))
        return TemplateResponse(request, "admin/crosssell/step/preview.html", context)
