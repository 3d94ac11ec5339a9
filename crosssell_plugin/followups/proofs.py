"""Proofs: a step's email sent now to a member of staff (a test send), as a customer would get it.

:func:`send_proof` builds the email of a step for a real order of the step's store (the one given,
else the store's latest; a sample customer with an order of nothing when the store has none),
with the recommendations re-ranked now exactly as the dispatcher does at send time, and sends it
at once through the email channel (``EMAIL_BACKEND``) to the given address.

Nothing of the customer's is touched: no ScheduledMessage is written (so no frequency cap counts
it), no consent is read for permission or changed, no impression is written and the links are
untracked (they go straight to the items), the unsubscribe link is the one given (the admin's own
page, never the customer's signed link), and the Message-ID is new on every proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from ..channels.base import PermanentSendError, SendError
from ..channels.email import EmailChannel
from ..models import Customer, Order, ScheduledMessage, Step
from ..surfaces.serve import CustomerHistory
from .dispatch import rerank
from .guards import blocking_reason
from .planning import idempotency_key

if TYPE_CHECKING:
    from ..surfaces.serve import Recommendation

#: the order number of the sample customer's order
SAMPLE_ORDER = "sample"


class ProofError(Exception):
    """Why a proof was not sent, in words for the admin."""


@dataclass(frozen=True)
class Proof:
    """A proof that went out."""

    to: str
    subject: str
    step: Step
    #: the order it was built for; None for the sample customer
    order: Order | None
    recommendations: list[Recommendation]
    #: what the customer's own message would meet (a guard that stops it, no consent...)
    notes: list[str] = field(default_factory=list)


def latest_order(step: Step) -> Order | None:
    """The latest order of the step's store."""
    orders = Order.objects.for_store(step.path.store_id).select_related("customer")
    return orders.order_by("-placed_at", "-pk").first()


def message_for(step: Step, order: Order) -> ScheduledMessage:
    """The unsaved ScheduledMessage of ``step`` for ``order`` (as planning would make it)."""
    store, customer = step.path.store, order.customer
    order.store = customer.store = store
    return ScheduledMessage(
        store=store,
        customer=customer,
        order=order,
        path=step.path,
        step=step,
        idempotency_key=idempotency_key(customer.pk, order.pk, step.pk),
        channel=step.channel,
        due_at=order.placed_at + step.delay,
    )


def sample_message(step: Step, first_name: str = "") -> ScheduledMessage:
    """An unsaved message of ``step`` for a sample customer who bought nothing yet, just now."""
    store = step.path.store
    customer = Customer(store=store, email="sample@example.com", first_name=first_name)
    order = Order(
        store=store,
        customer=customer,
        external_id=SAMPLE_ORDER,
        placed_at=timezone.now(),
        currency=store.currency,
        total=Decimal("0"),
    )
    return ScheduledMessage(
        store=store,
        customer=customer,
        order=order,
        path=step.path,
        step=step,
        idempotency_key=f"sample:{step.pk}",
        channel=step.channel,
        due_at=order.placed_at + step.delay,
    )


def notes_for(message: ScheduledMessage, sample: bool) -> list[str]:
    """What stands between the customer and this message, to say beside the proof."""
    step, notes = message.step, []
    if sample:
        notes.append(
            f"{message.store.name} has no orders yet: this is the email of a sample customer who bought "
            "nothing, with the store's popular items."
        )
    else:
        reason = blocking_reason(message)
        if reason:
            notes.append(f"Sent now, this customer's follow-up would be skipped: {reason}.")
        elif not message.customer.has_marketing_consent("email"):
            notes.append("This customer has not consented to marketing email: no email would be sent to them.")
    if step.channel != "email":
        notes.append(f"This step is sent on the {step.get_channel_display()} channel; this is its email version.")
    return notes


def send_proof(
    step: Step,
    to: str,
    unsubscribe: str,
    order: Order | None = None,
    *,
    first_name: str = "",
) -> Proof:
    """Send the email of ``step`` for ``order`` (else the store's latest, else a sample customer
    named ``first_name``) to ``to`` now; ``unsubscribe`` is the email's unsubscribe link.

    Raises :class:`ProofError` (nothing sent) for an invalid address, an order of another store,
    nothing to recommend, an email that cannot be built or a mail server that refuses it.
    """
    try:
        validate_email(to)
    except ValidationError:
        raise ProofError(f"{to!r} is not an email address a test email can be sent to.") from None
    if order is not None and order.store_id != step.path.store_id:
        raise ProofError(f"Order #{order.external_id} is not an order of {step.path.store.name}.")
    if order is None:
        order = latest_order(step)
    message = message_for(step, order) if order is not None else sample_message(step, first_name)
    recommendations = _recommendations(message, sample=order is None)
    if not recommendations:
        whose = f"order #{order.external_id}" if order is not None else "a customer who bought nothing"
        raise ProofError(
            f"Nothing to recommend for {whose}: everything worth recommending is already bought or unavailable, "
            "so this step would be skipped (\u201cnothing left to recommend\u201d). No test email was sent."
        )
    channel = EmailChannel()
    try:
        outgoing = channel.build_test(message, recommendations, to=to, unsubscribe=unsubscribe)
    except PermanentSendError as err:
        raise ProofError(f"This email cannot be built, so it would fail at send time: {err}") from err
    try:
        channel.send(outgoing)
    except SendError as err:
        raise ProofError(f"The test email could not be sent: {err}") from err
    shown = recommendations[: step.limit] if step.limit else recommendations
    return Proof(
        to=to,
        subject=outgoing.subject,
        step=step,
        order=order,
        recommendations=shown,
        notes=notes_for(message, sample=order is None),
    )


def _recommendations(message: ScheduledMessage, sample: bool) -> list[Any]:
    """Re-ranked now, as the dispatcher does; a sample customer has an empty history."""
    history = CustomerHistory(bought=[], consumed=[], finished=frozenset()) if sample else None
    return rerank(message, "email", history)
