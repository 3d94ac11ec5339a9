"""What the email and SMS channels put in a message: the recommendations with their tracked
links, the offer, the store; and the rendering of a step's template."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.template import Context, Template, TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string

from ..absolute_urls import absolute_url
from ..money import format_price
from ..surfaces import serve
from .base import PermanentSendError

if TYPE_CHECKING:
    from ..models import Impression, ScheduledMessage, Step
    from ..recommend import Recommendation

_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Entry:
    """One recommendation as a message shows it."""

    title: str
    kind: str
    price: str
    reasons: list[str]
    #: the tracked click link, absolute ("" when the project does not route crosssell's URLs)
    link: str
    #: absolute, or ""
    image: str


def plan(
    message: ScheduledMessage, recommendations: Sequence[Recommendation], placement: str
) -> tuple[list[Recommendation], list[Impression]]:
    """The step's first ``limit`` recommendations and their (unsaved) impressions."""
    limit = message.step.limit
    shown = list(recommendations[:limit] if limit else recommendations)
    impressions = serve.plan(
        message.store,
        shown,
        placement,
        order=message.order,
        customer=message.customer,
        variant=message.variant,
        message=message,
    )
    return shown, impressions


def entries(
    recommendations: Sequence[Recommendation],
    impressions: Sequence[Impression],
    link: Callable[[Impression], str] = serve.link,
) -> list[Entry]:
    """Each recommendation with its price in its currency and ``link(impression)`` made absolute."""
    return [
        Entry(
            title=rec.item.title,
            kind=rec.item.get_kind_display(),
            price=format_price(rec.item.price, rec.item.currency),
            reasons=list(rec.reason_texts),
            link=absolute_url(link(impression)),
            image=absolute_url(rec.item.image_url),
        )
        for rec, impression in zip(recommendations, impressions, strict=True)
    ]


def item_link(impression: Impression) -> str:
    """The item's own URL, untracked: the links of a test send (see :func:`entries`)."""
    return impression.item.url


def offer_of(step: Step) -> dict[str, str] | None:
    """``{"code": ..., "percent": "10"}`` when the step carries an offer code, else None."""
    if not step.offer_code:
        return None
    return {"code": step.offer_code, "percent": _percent(step.offer_percent)}


def message_offer(message: ScheduledMessage) -> dict[str, str] | None:
    """The offer of ``message``: its step's (:func:`offer_of`), unless the message was planned
    without one (an experiment arm without offers)."""
    return offer_of(message.step) if message.with_offer else None


def _percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def base_context(message: ScheduledMessage) -> dict[str, Any]:
    return {
        "store": message.store.name,
        "first_name": message.customer.first_name,
        "offer": message_offer(message),
        "variant": message.variant,
    }


def template_name(channel: str, step: Step, extension: str) -> str:
    """``crosssell/<channel>/<step.template>.<extension>``; PermanentSendError for a name that
    is not a plain file name (no ``/`` or ``..``)."""
    if not _TEMPLATE_NAME.fullmatch(step.template or ""):
        raise PermanentSendError(
            f"Step {step.pk} has the template name {step.template!r}; use letters, digits, _ and - only "
            "(e.g. soft_upsell)."
        )
    return f"crosssell/{channel}/{step.template}.{extension}"


def render(name: str, context: dict[str, Any]) -> str:
    """``name`` rendered with ``context``; PermanentSendError when the template is missing or broken."""
    try:
        return render_to_string(name, context)
    except TemplateDoesNotExist as err:
        raise PermanentSendError(f"The message template {name} does not exist.") from err
    except TemplateSyntaxError as err:
        raise PermanentSendError(f"The message template {name} is broken: {err}") from err


def render_string(source: str, context: dict[str, Any], what: str) -> str:
    """A template string of the admin (an email subject) rendered without HTML escaping."""
    try:
        return Template(source).render(Context(context, autoescape=False))
    except TemplateSyntaxError as err:
        raise PermanentSendError(f"The {what} {source!r} is not a valid template: {err}") from err


def tidy_text(text: str) -> str:
    """Plain text with trailing spaces removed and runs of blank lines cut to one."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"
