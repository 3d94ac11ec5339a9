"""The admin of follow-up paths: paths with their steps, the outbox, the email preview of a step,
and test emails of steps sent to the staff member who asks (*send to me*)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ..absolute_urls import absolute_url
from ..followups.proofs import Proof, ProofError, send_proof
from ..models import (
    Order,
    Path,
    ScheduledMessage,
    Step,
    Store,
)
from .common import ReadOnlyMixin
from .forms import PathForm, StepForm

# --- follow-up paths ----------------------------------------------------------------------------


class StepInline(admin.TabularInline):
    model = Step
    form = StepForm
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
        url = reverse("admin:crosssell_step_preview", args=[obj.pk])
        return format_html('<a href="{}">Email preview / send to me</a>', url)


@admin.register(Path)
class PathAdmin(admin.ModelAdmin):
    """A path with its trigger (kinds ticked, categories picked from the store's genres and tags)
    and its steps (each delay written in words: "1 hour", "7 days")."""

    form = PathForm
    list_display = ["name", "store", "enabled", "platform", "buyers", "step_count", "updated_at"]
    list_filter = ["enabled", "store", "buyers", "platform"]
    search_fields = ["name"]
    inlines = [StepInline]
    actions = ["pause", "resume", "send_steps_to_me"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["store", "name", "enabled"]}),
        (
            "Trigger",
            {
                "fields": [
                    "platform",
                    "item_kinds",
                    "categories",
                    "new_categories",
                    ("min_order_value", "min_order_currency"),
                    "buyers",
                ],
                "description": "Which purchases start this path: every condition that is set must hold.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

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

    @admin.action(
        description="Send each step's email to me now (a test, for the store's latest order)", permissions=["view"]
    )
    def send_steps_to_me(self, request: HttpRequest, queryset: QuerySet[Path]) -> None:
        steps = Step.objects.filter(path__in=queryset.values("pk")).select_related("path", "path__store")
        send_proofs(request, [(step, None) for step in steps.order_by("path__name", "path_id", "position")])


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
    actions = ["send_to_me"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description="Send the selected follow-ups to me now (a test; nothing changes for the customer)",
        permissions=["view"],
    )
    def send_to_me(self, request: HttpRequest, queryset: QuerySet[ScheduledMessage]) -> None:
        rows = queryset.select_related("step", "step__path", "step__path__store", "order", "order__customer")
        send_proofs(request, [(row.step, row.order) for row in rows.order_by("due_at", "pk")])

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
    from ..followups.proofs import message_for

    message = message_for(step, order)
    notes = []
    reason = blocking_reason(message)
    if reason:
        notes.append(f"Sent now, this follow-up would be skipped: {reason}.")
    elif not message.customer.has_marketing_consent("email"):
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


# --- test emails: "send to me" ------------------------------------------------------------------

#: the most test emails one click sends
MAX_PROOFS = 10


def may_use_store(user: Any, store: Store) -> bool:
    """May a staff user see ``store``'s customers' emails? With ``crosssell.view_store``: the model
    permission (every store; superusers have it) or that store's object permission (a backend such
    as django-guardian grants it per store), as the API asks of a staff session."""
    return bool(user.has_perm("crosssell.view_store") or user.has_perm("crosssell.view_store", store))


def proof_unsubscribe_url(step: Step, order: Order | None) -> str:
    """The unsubscribe link of a test email: the step's preview, which says what the customer's
    link does (the customer's own link would unsubscribe them)."""
    query = {"test_unsubscribe": "1", **({"order": order.pk} if order is not None else {})}
    return absolute_url(reverse("admin:crosssell_step_preview", args=[step.pk]) + "?" + urlencode(query))


def _described(step: Step) -> str:
    return f"step {step.position} \u201c{step.name}\u201d of \u201c{step.path.name}\u201d ({step.path.store.name})"


def _sent_text(proof: Proof) -> str:
    order = proof.order
    whom = (
        f"as {order.customer.email or 'the customer'} would get it for order #{order.external_id}"
        if order is not None
        else "for a sample customer (the store has no orders yet)"
    )
    titles = ", ".join(rec.item.title for rec in proof.recommendations)
    return (
        f"Sent the email of {_described(proof.step)} to {proof.to}, {whom}: \u201c{proof.subject}\u201d, "
        f"recommending {titles}. Nothing was recorded for the customer: no message, no impression, links untracked."
    )


def send_proofs(request: HttpRequest, wanted: Iterable[tuple[Step, Order | None]]) -> None:
    """Send each (step, order) as a test email to the signed-in user's address (an order of None:
    the store's latest), saying in the admin's messages where each went or why it did not."""
    to = (getattr(request.user, "email", "") or "").strip()
    if not to:
        messages.error(
            request,
            "Your user account has no email address, so there is nowhere to send a test email: add one to your "
            "user (Authentication and Authorization > Users) and try again.",
        )
        return
    wanted = list(wanted)
    if not wanted:
        messages.warning(request, "Nothing to send: the selection has no steps.")
        return
    if len(wanted) > MAX_PROOFS:
        messages.error(request, f"That would send {len(wanted)} test emails; select at most {MAX_PROOFS} at a time.")
        return
    refused: dict[int, list[Step]] = {}
    for step, order in wanted:
        store = step.path.store
        if not may_use_store(request.user, store):
            refused.setdefault(store.pk, []).append(step)
            continue
        try:
            proof = send_proof(
                step, to, proof_unsubscribe_url(step, order), order, first_name=getattr(request.user, "first_name", "")
            )
        except ProofError as err:
            messages.error(request, f"Not sent ({_described(step)}): {err}")
            continue
        messages.success(request, _sent_text(proof))
        for note in proof.notes:
            messages.info(request, note)
    for steps in refused.values():
        messages.error(
            request,
            f"Not sent ({len(steps)} test email(s) of {steps[0].path.store.name}): they need the permission "
            "crosssell.view_store (for every store, or for this one through an object-permission backend).",
        )


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    """Steps are edited inline on their path; this admin has one page of its own, the email
    preview (``step/<id>/preview/?order=<order id>``) with its *send to me* button (a POST to
    ``step/<id>/send-to-me/``), and is not listed on the admin index.

    Its permissions are those of the path: seeing a path lets one preview its steps; sending one
    to oneself also needs ``crosssell.view_store`` for the path's store.
    """

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:step_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="crosssell_step_preview",
            ),
            path(
                "<int:step_id>/send-to-me/",
                self.admin_site.admin_view(require_POST(self.send_to_me_view)),
                name="crosssell_step_send_to_me",
            ),
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
        order = _picked_order(orders, request.GET.get("order", ""))
        if request.GET.get("test_unsubscribe"):
            messages.info(
                request,
                "You followed the unsubscribe link of a test email. In a customer's email this link opens the "
                "unsubscribe page, which asks to confirm and then stops every cross-sell message to them; in a test "
                "email it leads here and changes nothing.",
            )
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
            "send_url": reverse("admin:crosssell_step_send_to_me", args=[step.pk]),
        }
        if order is not None:
            context.update(build_preview(step, order))
        return TemplateResponse(request, "admin/crosssell/step/preview_send.html", context)

    def send_to_me_view(self, request: HttpRequest, step_id: int) -> HttpResponse:
        """POST ``order=<pk>`` (else the store's latest): the step's email for that order sent to the
        signed-in user now; back to the preview, which says where it went."""
        step = get_object_or_404(Step.objects.select_related("path", "path__store"), pk=step_id)
        if not self.has_view_permission(request, step):
            raise PermissionDenied
        orders = Order.objects.for_store(step.path.store).select_related("customer")
        order = _picked_order(orders, request.POST.get("order", ""), latest=False)
        send_proofs(request, [(step, order)])
        preview = reverse("admin:crosssell_step_preview", args=[step.pk])
        return HttpResponseRedirect(preview + (f"?order={order.pk}" if order is not None else ""))


def _picked_order(orders: QuerySet[Order], wanted: str, latest: bool = True) -> Order | None:
    """The order of ``orders`` whose pk is ``wanted`` (404 if none), else the latest (or None)."""
    if wanted:
        if not (wanted.isascii() and wanted.isdigit()):
            raise Http404("No such order.")
        return get_object_or_404(orders, pk=int(wanted))
    return orders.order_by("-placed_at", "-pk").first() if latest else None
