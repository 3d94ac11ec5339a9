"""The in-app channel: a follow-up stored for the customer, shown by ``{% crosssell_inbox %}`` and
served by ``GET /crosssell/api/v1/customers/<id>/messages/``.

``build`` makes the title (the step's subject, which may use ``{{ store }}`` and
``{{ first_name }}``), the body (``crosssell/in_app/<template>.txt``, else
``crosssell/in_app/default.txt``) and the payload: each recommendation with its tracked link.
``send`` writes the :class:`~crosssell_plugin.models.InAppMessage`, once per scheduled message
(a retried send finds the row it wrote), so this channel delivers exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.loader import select_template

from ..models import InAppMessage
from ..surfaces import serve
from . import content
from .base import Outgoing, PermanentSendError, SendResult
from .content import base_context

if TYPE_CHECKING:
    from ..models import ScheduledMessage
    from ..recommend import Recommendation


def _context(message: ScheduledMessage, shown: Sequence[Recommendation]) -> dict[str, Any]:
    return {**base_context(message), "recommendations": shown}


def _title(message: ScheduledMessage, context: dict[str, Any]) -> str:
    source = message.step.subject or message.step.name
    try:
        template = Template(source, engine=Engine(autoescape=False))
    except TemplateSyntaxError as err:
        raise PermanentSendError(f"The subject of step {message.step_id} is not a valid template: {err}") from err
    return template.render(Context(context, autoescape=False)).strip()[:200]


class InAppChannel:
    """Stores the follow-up as an InAppMessage of the customer."""

    name = "in_app"

    def build(self, message: ScheduledMessage, recommendations: Sequence[Recommendation]) -> Outgoing:
        shown, impressions = content.plan(message, recommendations, placement=self.name)
        context = _context(message, shown)
        names = [f"crosssell/in_app/{message.step.template}.txt", "crosssell/in_app/default.txt"]
        body = select_template(names).render(context).strip()
        payload = {
            "recommendations": [
                {
                    "item": rec.item.pk,
                    "external_id": rec.item.external_id,
                    "title": rec.item.title,
                    "url": serve.link(impression),
                    "image_url": rec.item.image_url,
                    "price": f"{rec.item.price:f}",
                    "currency": rec.item.currency,
                    "reasons": list(rec.reason_texts),
                }
                for rec, impression in zip(shown, impressions, strict=True)
            ],
            "offer": context["offer"],
        }
        return Outgoing(
            channel=self.name,
            to=str(message.customer_id),
            idempotency_key=message.idempotency_key,
            subject=_title(message, context),
            body=body,
            meta={
                "impressions": impressions,
                "store": message.store_id,
                "customer": message.customer_id,
                "scheduled": message.pk,
                "payload": payload,
            },
        )

    def send(self, outgoing: Outgoing) -> SendResult:
        meta = outgoing.meta
        values = {"title": outgoing.subject, "body": outgoing.body, "payload": meta["payload"]}
        try:
            with transaction.atomic():
                row, _ = InAppMessage.objects.for_store(meta["store"]).get_or_create(
                    scheduled_id=meta["scheduled"],
                    defaults={"store_id": meta["store"], "customer_id": meta["customer"], **values},
                )
        except IntegrityError:  # another attempt wrote it at the same moment
            row = InAppMessage.objects.for_store(meta["store"]).get(scheduled_id=meta["scheduled"])
        return SendResult(provider_message_id=f"in_app-{row.pk}")
