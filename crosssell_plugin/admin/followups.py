"""The admin of follow-up paths: paths with their steps, the outbox, the email preview of a step."""

from __future__ import annotations

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

from ..models import (
    Order,
    Path,
    ScheduledMessage,
    Step,
)
from .common import ReadOnlyMixin

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
    from ..channels import PermanentSendError, get_channel
    from ..followups.dispatch import rerank
    from ..followups.guards import blocking_reason
    from ..followups.planning import idempotency_key

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
