"""The admin of webhook deliveries: what each platform sent, its status and error, a retry action."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ..deliveries import process_delivery
from ..models import WebhookDelivery
from .common import ReadOnlyMixin, _pretty_json

FIELDS = (
    "store",
    "platform",
    "topic",
    "delivery_id",
    "status",
    "attempts",
    "events",
    "error",
    "received_at",
    "processed_at",
    "body_sha256",
    "headers",
    "payload",
)
#: the most deliveries one retry action processes (it runs in the request)
RETRY_LIMIT = 100


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Deliveries as received; only the pipeline writes them. Retry re-processes failed or pending ones."""

    list_display = ["received_at", "platform", "topic", "delivery_id", "status", "attempts", "events", "store"]
    list_filter = ["status", "platform", "topic", "store", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=delivery_id", "topic", "error"]
    date_hierarchy = "received_at"
    list_select_related = ["store"]
    actions = ["retry"]
    fields = FIELDS
    readonly_fields = FIELDS

    @admin.display(description="Body")
    def payload(self, obj: WebhookDelivery) -> str:
        try:
            return _pretty_json(json.loads(obj.body))
        except ValueError:
            return obj.body

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crosssell.change_webhookdelivery")

    @admin.action(description="Retry the selected failed or pending deliveries", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        pks = list(
            queryset.exclude(status__in=[WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED])
            .order_by("received_at", "pk")
            .values_list("pk", flat=True)[: RETRY_LIMIT + 1]
        )
        if len(pks) > RETRY_LIMIT:
            self.message_user(
                request,
                f"Select at most {RETRY_LIMIT} deliveries, or use `manage.py crosssell_replay`.",
                messages.ERROR,
            )
            return
        outcomes: dict[str, int] = {}
        for pk in pks:
            status = process_delivery(pk)
            outcomes[status] = outcomes.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(outcomes.items())) or "nothing to retry"
        level = messages.WARNING if outcomes.get(WebhookDelivery.Status.FAILED) else messages.SUCCESS
        self.message_user(request, f"Retried {len(pks)} deliveries: {summary}.", level)
